"""The `steps` scope kept incrementally evaluates every expression as the whole map did.

The interpreter once rebuilt `steps` after every step and converted all of it for any CEL
expression that read it; now unchanged views are reused, each converted once, and an expression
that only selects steps by name gets just those. The oracle here is the whole map.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from interpreter.errors import ExpressionError
from interpreter.expr import Entries, Scope, compile_cel
from interpreter.state import RunState, StepError, StepState

EXPRESSIONS = [
    "steps.a.output.x + 1",
    "steps.a.status",
    'steps["b"].status == "failed" && steps.b.error.type == "Boom"',
    "steps.a.output.x + steps.c.attempts",
    "size(steps)",
    "steps.all(k, steps[k].status != 'running')",
    "steps.map(k, k)",
    "steps.filter(k, steps[k].status == 'pending')",
    "has(steps.zzz)",
    "has(steps.a.output.x)",
    "steps.zzz.output",
    "steps.a.output.missing",
    "steps",
    "steps.a",
    "[1, 2].map(steps, steps + 1)",
    "steps[input.key].status",
    "'a' in steps",
    "steps.a.output.x + input.n",
    "steps.big.output.n > 0",
    ".steps.a.status",
    "steps.a.status + 1",
    "steps + 1",
    "steps.c.output",
    "steps.c.output.size()",
]


def run_state() -> RunState:
    steps = {sid: StepState(id=sid, kind="tool") for sid in ("a", "b", "c", "big")}
    return RunState("r", "w", 1, "t", datetime(2026, 1, 1, tzinfo=UTC), steps)


def outcome(source: str, scope: Scope) -> tuple[str, Any]:
    try:
        return "value", compile_cel(source).evaluate(scope)
    except ExpressionError as exc:
        return "error", str(exc)


def both(state: RunState, entries: Entries) -> tuple[Scope, Scope]:
    base = Scope({"input": {"key": "a", "n": 2}})
    view = state.steps_view()
    whole = base.child(steps={k: dict(v) for k, v in view.items()})
    kept = base.with_entries("steps", view, entries, select=state.views_convert())
    return kept, whole


@pytest.mark.parametrize("big", [7, 2**70], ids=["all-convert", "one-does-not"])
def test_every_expression_as_with_the_whole_map(big: int) -> None:
    state, entries = run_state(), Entries()
    steps = state.steps
    stages = [
        lambda: None,
        lambda: setattr(steps["a"], "status", "running"),
        lambda: (
            setattr(steps["a"], "output", {"x": 40}),
            setattr(steps["a"], "status", "succeeded"),
        ),
        lambda: (
            setattr(steps["b"], "error", StepError("Boom", "it broke")),
            setattr(steps["b"], "status", "failed"),
        ),
        lambda: (setattr(steps["c"], "attempts", 3), setattr(steps["c"], "output", [1, 2])),
        lambda: setattr(steps["big"], "output", {"n": big}),
        lambda: setattr(steps["big"], "output", {"n": 1}),
    ]
    for stage, change in enumerate(stages):
        change()
        kept, whole = both(state, entries)
        for source in EXPRESSIONS:
            assert outcome(source, kept) == outcome(source, whole), (stage, source)
            assert outcome(source, kept) == outcome(source, whole), (stage, source)  # cached


def test_an_earlier_view_does_not_change() -> None:
    """A step's scope keeps the views as they were when it started."""
    state, entries = run_state(), Entries()
    before, _ = both(state, entries)
    state.steps["a"].status = "succeeded"
    after, _ = both(state, entries)
    assert compile_cel("steps.a.status + '!'").evaluate(before) == "pending!"
    assert compile_cel("steps.a.status + '!'").evaluate(after) == "succeeded!"
    assert compile_cel("steps.map(k, steps[k].status)[0]").evaluate(before) == "pending"


def test_unchanged_views_are_reused() -> None:
    state = run_state()
    first = state.steps_view()
    assert state.steps_view() is first
    state.steps["b"].attempts = 2
    second = state.steps_view()
    assert second is not first
    assert second["b"] == {"status": "pending", "output": None, "error": None, "attempts": 2}
    assert first["b"]["attempts"] == 0
    assert [second[s] is first[s] for s in ("a", "b", "c", "big")] == [True, False, True, True]
    assert list(second) == ["a", "b", "c", "big"]
