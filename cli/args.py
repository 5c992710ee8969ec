"""JSON arguments of the CLI (``--input``, ``--data``): JSON text, or ``@path`` of a JSON file."""

from __future__ import annotations

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
