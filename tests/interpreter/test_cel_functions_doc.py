"""docs/cel-functions.md cannot drift: every ```cel line is evaluated, the definition is run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from interpreter.expr import Scope, compile_cel
from interpreter.lint import lint
from tests.support.runs import load, run

DOC = Path(__file__).parents[2] / "docs" / "cel-functions.md"
_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(DOC.read_text()) if lang == language]


def cel_lines() -> list[tuple[str, str]]:
    found = []
    for body in blocks("cel"):
        for line in body.splitlines():
            if line.strip():
                expression, marker, expected = line.partition("  # => ")
                assert marker, f"a ```cel line without `  # => `: {line!r}"
                found.append((expression, expected))
    return found


def same(left: Any, right: Any) -> bool:
    """Equal JSON values of the same types (1 is not 1.0, true is not 1)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


LINES = cel_lines()


def test_the_page_has_examples_of_every_function() -> None:
    from interpreter.celfuncs import NAMES

    text = "\n".join(expression for expression, _ in LINES)
    missing = [name for name in sorted(NAMES) if not re.search(rf"\b{re.escape(name)}\(", text)]
    assert missing == []
    assert len(LINES) > 80


@pytest.mark.parametrize(("expression", "expected"), LINES, ids=[e for e, _ in LINES])
def test_each_example_gives_its_result(expression: str, expected: str) -> None:
    value = compile_cel(expression).evaluate(Scope({}))
    wanted = json.loads(expected)
    assert same(value, wanted), f"{expression} gives {json.dumps(value)}, the page says {expected}"


async def test_the_complete_definition_lints_and_runs(client, task_queue, worker) -> None:
    (definition,) = blocks("yaml")
    assert [f for f in lint(load(definition))] == []
    stated = re.search(r"^Its result: `(.*)`\.$", DOC.read_text(), re.M)
    assert stated is not None
    assert await run(client, task_queue, definition) == json.loads(stated[1])
