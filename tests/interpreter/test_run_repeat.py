"""`repeat` on a step: `until`, `iteration` and `previous`, exhaustion (dsl.md: `repeat`)."""

from __future__ import annotations

from tests.support.runs import new_run_id, result, run, run_failure, start, status
from tests.support.standins import records


async def test_repeat_until_true_on_iteration_k(client, task_queue, worker):
    """Iteration 0 runs with `iteration = 0`, `previous = null`; the next with `previous` =
    that output; `until` true: the step succeeds with `output`."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: repeat
        steps:
          - id: loop
            kind: tool
            tool: echo
            args: {i: "${ iteration }", prev: "${ previous }"}
            repeat: {until: "output.i == 2 && iteration == 2", max_iterations: 5}
        """,
    )
    assert await result(handle) == {
        "loop": {"i": 2, "prev": {"i": 1, "prev": {"i": 0, "prev": None}}}
    }
    step = (await status(handle))["steps"]["loop"]
    assert (step["status"], step["iterations"]) == ("succeeded", 3)


async def test_repeat_until_sees_previous(client, task_queue, worker):
    """`until` is evaluated with `previous` (the output before, or null)."""
    run_id = new_run_id()
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: repeat-previous
        steps:
          - id: loop
            kind: tool
            tool: record
            args: {label: "${ iteration }"}
            repeat: {until: "previous != null && size(previous) == 2", max_iterations: 9}
        """,
        run_id=run_id,
    )
    assert got == {"loop": [0, 1, 2]}
    assert records(run_id) == [0, 1, 2]


async def test_repeat_on_a_workflow_side_step(client, task_queue, worker):
    """`repeat` is a field every step has: here an aggregate computing from `iteration`."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: repeat-aggregate
        steps:
          - {id: count, kind: aggregate, expr: "iteration * 10",
             repeat: {until: "output >= 30", max_iterations: 10}}
        """,
    )
    assert await result(handle) == {"count": 30}
    assert (await status(handle))["steps"]["count"]["iterations"] == 4


REPEAT_EXHAUSTED = """
kworkflow: 1
name: exhausted
steps:
  - id: loop
    kind: tool
    tool: record
    args: {label: "${ iteration }"}
    repeat: {until: "false", max_iterations: 3, on_exhausted: ON_EXHAUSTED}
"""


async def test_repeat_exhausted_fails_with_repeat_exhausted(client, task_queue, worker):
    """'...unless `max_iterations` iterations have run: then the step fails with
    `RepeatExhausted`.'"""
    run_id = new_run_id()
    err, handle = await run_failure(
        client, task_queue, REPEAT_EXHAUSTED.replace("ON_EXHAUSTED", "fail"), run_id=run_id
    )
    assert err.type == "StepFailed"
    assert (err.details[0]["step"], err.details[0]["error"]["type"]) == ("loop", "RepeatExhausted")
    assert records(run_id) == [0, 1, 2]
    step = (await status(handle))["steps"]["loop"]
    assert (step["status"], step["iterations"]) == ("failed", 3)
    assert step["error"]["type"] == "RepeatExhausted"


async def test_repeat_exhausted_continue_succeeds_with_last_output(client, task_queue, worker):
    """'(or, with `on_exhausted: continue`, succeeds with the last output)'."""
    run_id = new_run_id()
    got = await run(
        client, task_queue, REPEAT_EXHAUSTED.replace("ON_EXHAUSTED", "continue"), run_id=run_id
    )
    assert got == {"loop": [0, 1, 2]}
