"""``kworkflow schema``: print the definition format's JSON Schema (interpreter.editor_schema)."""

from __future__ import annotations

import argparse
import sys

from cli.errors import EXIT_OK


def schema_command(args: argparse.Namespace) -> int:
    """Print the JSON Schema on stdout (the text of ``docs/kworkflow.schema.json``)."""
    from interpreter.editor_schema import definition_schema_text

    sys.stdout.write(definition_schema_text())
    return EXIT_OK
