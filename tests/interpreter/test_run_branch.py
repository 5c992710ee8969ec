"""Runs of `branch` steps: the first true case, `default`, no edge, a CEL error in a case
(dsl.md: "The nine kinds")."""

from __future__ import annotations

import pytest

from tests.support.runs import result, run_failure, start, status, step_statuses

BRANCH = """
kworkflow: 1
name: branch
steps:
  - id: pick
    kind: branch
    cases:
      - {when: "input.n > 10", to: big}
      - {when: "input.n > 3", to: mid}
      - {when: "input.n > 0", to: small}
    default: other
  - {id: big, kind: tool, tool: echo, args: {v: big}}
  - {id: mid, kind: tool, tool: echo, args: {v: mid}}
  - {id: small, kind: tool, tool: echo, args: {v: small}}
  - {id: other, kind: tool, tool: echo, args: {v: other}}
  - {id: done, kind: aggregate, reduce: first}
edges:
  - {from: pick, to: [big, mid, small, other]}
  - {from: [big, mid, small, other], to: done}
"""


@pytest.mark.parametrize(("n", "taken"), [(20, "big"), (5, "mid"), (1, "small"), (-1, "other")])
async def test_branch_takes_the_first_true_case_else_default(client, task_queue, worker, n, taken):
    """'Exactly the edge to the first true case's target is taken; else the edge to `default`.'"""
    handle = await start(client, task_queue, BRANCH, {"n": n})
    assert await result(handle) == {"done": {"v": taken}}
    state = await status(handle)
    assert state["steps"]["pick"]["output"] == {"taken": taken}
    expected = {s: "skipped" for s in ("big", "mid", "small", "other")}
    expected |= {"pick": "succeeded", taken: "succeeded", "done": "succeeded"}
    assert step_statuses(state) == expected


async def test_branch_without_default_takes_no_edge(client, task_queue, worker):
    """'...else none. Its other outgoing edges are not taken.'"""
    handle = await start(client, task_queue, BRANCH.replace("default: other", ""), {"n": -1})
    assert await result(handle) == {}
    state = await status(handle)
    assert state["steps"]["pick"]["status"] == "succeeded"
    assert state["steps"]["pick"]["output"] == {"taken": None}
    for step in ("big", "mid", "small", "other", "done"):
        assert state["steps"][step]["status"] == "skipped", step


async def test_branch_case_cel_error_fails_the_run(client, task_queue, worker):
    """'A CEL error in ... a branch case fails the run and names the edge.'"""
    err, _ = await run_failure(
        client, task_queue, BRANCH.replace("input.n > 3", "input.nothing > 3"), {"n": 5}
    )
    assert err.type == "EdgeConditionError"
    assert "pick" in str(err.message)
    assert "mid" in str(err.message)
