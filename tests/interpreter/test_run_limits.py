"""Work inside a run is bounded, and nothing a step does can leave the run stuck unseen.

CEL cost budgets, long loops and large fan-outs that yield before the deadlock detector fires,
out-of-range values refused where they enter, and unexpected errors that fail their step.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.api.enums.v1 import EventType

from tests.support.runs import new_run_id, run, run_failure, status

EXPONENTIAL = (
    "[0,0,0,0,0,0,0,0,0,0].map(a, [0,0,0,0,0,0,0,0,0,0].map(b, [0,0,0,0,0,0,0,0,0,0]"
    ".map(c, [0,0,0,0,0,0,0,0,0,0].map(d, [0,0,0,0,0,0,0,0,0,0].map(e, a)))))"
)


async def _task_failures(handle: Any) -> list[str]:
    """The messages of the run's failed workflow tasks (a deadlock is one)."""
    return [
        e.workflow_task_failed_event_attributes.failure.message
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


async def test_an_exponential_expression_fails_its_step_with_expression_error(
    client, task_queue, worker
):
    loop = asyncio.get_running_loop()
    began = loop.time()
    err, handle = await run_failure(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: costly
        steps:
          - {{id: boom, kind: aggregate, expr: "{EXPONENTIAL}"}}
        """,
    )
    assert loop.time() - began < 10
    state = await status(handle)
    assert state["steps"]["boom"]["status"] == "failed"
    assert state["steps"]["boom"]["error"]["type"] == "ExpressionError"
    assert "cost" in state["steps"]["boom"]["error"]["message"]
    assert err.type == "StepFailed"
    assert await _task_failures(handle) == []


async def test_a_repeat_of_ten_thousand_iterations_completes(client, task_queue, worker):
    run_id = new_run_id()
    out = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: long-loop
        steps:
          - id: count
            kind: aggregate
            expr: "iteration"
            repeat: {until: "output == 9999", max_iterations: 10000}
        """,
        run_id=run_id,
    )
    assert out == {"count": 9999}
    assert await _task_failures(client.get_workflow_handle(run_id)) == []


async def test_a_for_each_of_five_thousand_aggregate_items_completes(client, task_queue, worker):
    run_id = new_run_id()
    out = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: wide
        steps:
          - id: fan
            kind: parallel
            for_each: ${ input.items }
            step: {kind: aggregate, expr: "[item, item + 1].map(x, x * 2)"}
        """,
        {"items": list(range(5000))},
        run_id=run_id,
    )
    assert out == {"fan": [[i * 2, i * 2 + 2] for i in range(5000)]}
    assert await _task_failures(client.get_workflow_handle(run_id)) == []
