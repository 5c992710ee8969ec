"""Compensation's pure parts: the order steps are compensated in, and what lint and the loader
say about `compensate` and `compensate_on` (the runs themselves: tests/api/test_compensation)."""

from __future__ import annotations

import textwrap

import pytest

from interpreter.compensation import compensation_order
from interpreter.errors import DefinitionError
from interpreter.lint import lint_text
from interpreter.loader import load_text

UNDO = "compensate: {kind: code, source: x}"
DIAMOND = f"""\
kworkflow: 1
name: diamond
steps:
  - {{id: a, kind: code, source: x, {UNDO}}}
  - {{id: b, kind: code, source: x, {UNDO}}}
  - {{id: c, kind: code, source: x, {UNDO}}}
  - {{id: d, kind: code, source: x}}
  - {{id: e, kind: code, source: x, {UNDO}}}
edges:
  - {{from: a, to: [b, c]}}
  - {{from: [b, c], to: d}}
  - {{from: d, to: e}}
"""


def test_the_latest_step_is_compensated_first_and_ties_go_in_reverse_list_order() -> None:
    """Reverse topological order; `b` and `c` have no path between them: `c` (later) first;
    `d` has no compensation and a step that did not succeed is left out."""
    definition = load_text(DIAMOND)
    assert compensation_order(definition, {"a", "b", "c", "d", "e"}) == ["e", "c", "b", "a"]
    assert compensation_order(definition, {"a", "b", "d"}) == ["b", "a"]
    assert compensation_order(definition, set()) == []


def test_a_chain_without_edges_is_undone_backwards() -> None:
    text = "kworkflow: 1\nname: c\nsteps:\n" + "".join(
        f"  - {{id: s{i}, kind: code, source: x, {UNDO}}}\n" for i in range(4)
    )
    assert compensation_order(load_text(text), {"s0", "s1", "s2", "s3"}) == [
        "s3",
        "s2",
        "s1",
        "s0",
    ]


HEAD = "kworkflow: 1\nname: x\n"


def findings(text: str) -> list[tuple[str, str, str]]:
    _, problems = lint_text(textwrap.dedent(text))
    return [(p.code or "", p.path, p.message) for p in problems]


def test_lint_refuses_a_human_compensation_and_an_idle_compensate_on() -> None:
    assert findings(
        """\
        kworkflow: 1
        name: x
        compensate_on: [cancelled]
        steps:
          - {id: a, kind: code, source: x}
        """
    ) == [
        (
            "compensate_on",
            "compensate_on",
            "no step has `compensate`: there is nothing to compensate",
        )
    ]
    assert findings(
        """\
        kworkflow: 1
        name: x
        compensate_on: [failed, cancelled]
        steps:
          - {id: a, kind: code, source: x, compensate: {kind: human, prompt: "undo a?"}}
        """
    ) == [
        (
            "inner_kind",
            "steps[0].compensate.kind",
            "a human step cannot compensate a step: compensations run unattended",
        )
    ]


@pytest.mark.parametrize(
    ("value", "where", "message"),
    [
        ("[failed, failed]", "compensate_on", "`compensate_on` lists a status twice"),
        (
            "[succeeded]",
            "compensate_on[0]",
            "`compensate_on[0]` must be one of failed, cancelled, not 'succeeded'",
        ),
    ],
)
def test_the_loader_checks_compensate_on(value: str, where: str, message: str) -> None:
    text = f"{HEAD}compensate_on: {value}\nsteps:\n  - {{id: a, kind: code, source: x}}\n"
    with pytest.raises(DefinitionError) as caught:
        load_text(text)
    assert [(p.path, p.message) for p in caught.value.problems] == [(where, message)]
