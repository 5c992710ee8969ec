"""JSON arguments of the CLI (``--input``, ``--data``): JSON text, or ``@path`` of a JSON file."""

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
