"""Lint and load: `breakpoint` on steps (top-level only) and its values."""

from __future__ import annotations

import pytest

from interpreter.errors import DefinitionError
from interpreter.loader import load_text
from tests.interpreter.test_lint import findings, messages


def test_breakpoints_inside_parallel_compensate_or_subflow_are_findings() -> None:
    body = """\
    steps:
      - {id: top, kind: code, source: "x", breakpoint: both}
      - id: fan
        kind: parallel
        for_each: [1, 2]
        step: {kind: code, source: "x", breakpoint: before}
      - id: undo
        kind: code
        source: "x"
        compensate: {kind: code, source: "y", breakpoint: after}
      - id: sub
        kind: subflow
        steps:
          - {id: inner, kind: code, source: "x", breakpoint: after}
    edges: []
    """
    assert [f[:3] for f in findings(body)] == [
        ("inner_breakpoint", "steps[1].step.breakpoint", "fan"),
        ("inner_breakpoint", "steps[2].compensate.breakpoint", "undo"),
        ("inner_breakpoint", "steps[3].steps[0].breakpoint", "sub"),
    ]
    assert messages(body)[0] == (
        "`breakpoint` applies to top-level steps only (not inside `parallel`, `compensate` or a "
        "subflow)"
    )


def test_a_breakpoint_is_before_after_or_both() -> None:
    text = "kworkflow: 1\nname: d\nsteps:\n  - {id: a, kind: code, source: x, breakpoint: later}\n"
    with pytest.raises(DefinitionError) as caught:
        load_text(text)
    assert "steps[0].breakpoint" in str(caught.value)
