"""Arguments more than one command takes: JSON ones (``--input``, ``--data``: JSON text, or
``@path`` of a JSON file), ``--priority``, and those of starting a published workflow."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cli.errors import CLIError


def parse_input(text: str, flag: str = "--input") -> Any:
    """A JSON argument (``--input``, ``--data``): JSON text, or ``@path`` of a JSON file.

    Raises:
        CLIError: The file cannot be read or the text is not JSON.
    """
    source = flag
    if text.startswith("@"):
        source = text[1:]
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CLIError(f"{flag}: cannot read {source}: {exc.__class__.__name__}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def add_input_option(parser: argparse.ArgumentParser) -> None:
    """``--input JSON|@FILE``, shared by ``run``, ``trigger`` and ``runs start``."""
    parser.add_argument(
        "--input",
        default="{}",
        metavar="JSON|@FILE",
        help="the run input: JSON text, or @path of a JSON file (default: {})",
    )


def add_trigger_arguments(parser: argparse.ArgumentParser) -> None:
    """``NAME [--input] [--version] [--run-id] [--priority] [--follow]``: ``trigger``'s, and
    ``runs start``'s (``trigger`` with breakpoints)."""
    parser.add_argument("name", metavar="NAME")
    add_input_option(parser)
    parser.add_argument("--version", type=int, metavar="N", help="the version to run")
    parser.add_argument("--run-id", metavar="ID", help="the run id (the API makes one if not)")
    add_priority_option(parser)
    parser.add_argument(
        "--follow", action="store_true", help="show progress until the run ends, then its result"
    )


def add_priority_option(parser: argparse.ArgumentParser) -> None:
    """``--priority N``: 1 (the run's steps are dispatched first) to 5 (last); default 3."""
    parser.add_argument(
        "--priority",
        type=_priority,
        metavar="N",
        help="1 (its steps are dispatched first when workers are busy) to 5 (last); default 3",
    )


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 1 to 5, got {text!r}") from None
    if not 1 <= value <= 5:
        raise argparse.ArgumentTypeError(f"expected 1 to 5, got {value}")
    return value
