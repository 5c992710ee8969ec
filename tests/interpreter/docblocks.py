"""The ```yaml blocks of docs/*.md that are definitions, with the marks that say how to test them.

A block is a definition when its YAML is a mapping with a ``kworkflow`` key; other blocks
(fragments of a definition) are left alone. An HTML comment on the line just before the block
says what the test expects:

- ``<!-- lint: error CODE -->``: lint gives a finding with that code (no mark: lint is clean);
- ``<!-- run: {JSON} -->``: the block is run; the JSON holds ``input`` (the run input),
  ``respond`` (a list of ``{step, data, actor?}`` answers to human steps, in order) and either
  ``expect`` (the run's exact result) or ``fails`` (the error type the run fails with, and
  optionally ``step_error``: ``[step id, error type]`` of a ``StepFailed`` run).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"
_FENCE = re.compile(r"^```yaml[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARK = re.compile(r"<!--\s*(lint|run):\s*(.*?)\s*-->\s*$", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One definition block: where it is, its text and its marks."""

    file: str
    line: int
    text: str
    lint_error: str | None
    run: dict[str, Any] | None

    @property
    def where(self) -> str:
        """``dsl.md:120`` (the line of the opening fence)."""
        return f"{self.file}:{self.line}"


def _is_definition(text: str) -> bool:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and "kworkflow" in data


def blocks(docs: Path = DOCS) -> list[Block]:
    """Every definition block of ``docs/*.md``, in file and line order."""
    found = []
    for path in sorted(docs.glob("*.md")):
        page = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(page):
            text = match.group(1)
            if not _is_definition(text):
                continue
            before = page[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            mark = _MARK.search(before) if before.lstrip().startswith("<!--") else None
            lint_error = run = None
            if mark and mark.group(1) == "lint":
                lint_error = mark.group(2).removeprefix("error").strip()
            elif mark:
                run = json.loads(mark.group(2))
            line = page.count("\n", 0, match.start()) + 1
            found.append(Block(path.name, line, text, lint_error, run))
    return found
