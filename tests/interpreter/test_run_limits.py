"""Work inside a run is bounded, and nothing a step does can leave the run stuck unseen.

CEL cost budgets, long loops and large fan-outs that yield before the deadlock detector fires,
out-of-range values refused where they enter, and unexpected errors that fail their step.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer

from interpreter.kinds import HANDLERS
from interpreter.registration import DATA_CONVERTER, workflow_runner, workflows
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


async def _replays(handle: Any) -> None:
    """The run's history replays on today's interpreter (the pauses are deterministic)."""
    history = await handle.fetch_history()
    replayer = Replayer(
        workflows=workflows(), workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert replayed.replay_failure is None


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
    handle = client.get_workflow_handle(run_id)
    assert await _task_failures(handle) == []
    assert (await status(handle))["steps"]["count"]["iterations"] == 10000
    await _replays(handle)


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
    handle = client.get_workflow_handle(run_id)
    assert await _task_failures(handle) == []
    await _replays(handle)


# ------------------------------------------------------------------------- unexpected errors


async def test_an_unexpected_error_in_a_step_handler_fails_that_step_visibly(
    client, task_queue, worker, monkeypatch
):
    """Once the exception ended the step's task unseen and the run said RUNNING forever."""
    aggregate = HANDLERS["aggregate"]

    async def faulty(runtime: Any, inv: Any, fields: dict[str, Any]) -> Any:
        if inv.step_id == "broken":
            raise OverflowError("date value out of range")
        return await aggregate(runtime, inv, fields)

    monkeypatch.setitem(HANDLERS, "aggregate", faulty)
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: internal
        steps:
          - {id: fine, kind: aggregate, expr: "1"}
          - {id: broken, kind: aggregate, expr: "2"}
          - {id: after, kind: aggregate, expr: "3"}
        """,
    )
    message = "step 'broken': OverflowError: date value out of range"
    assert err.type == "StepFailed"
    assert err.details[0] == {
        "step": "broken",
        "kind": "aggregate",
        "attempts": 1,
        "error": {"type": "InternalError", "message": message},
    }
    state = await status(handle)
    assert state["status"] == "failed"
    assert state["steps"]["fine"]["status"] == "succeeded"
    assert state["steps"]["broken"]["status"] == "failed"
    assert state["steps"]["broken"]["error"] == {"type": "InternalError", "message": message}
    assert state["steps"]["after"]["status"] == "pending"
    await _replays(handle)


async def test_an_unexpected_error_with_on_error_continue_lets_the_run_go_on(
    client, task_queue, worker, monkeypatch
):
    aggregate = HANDLERS["aggregate"]

    async def faulty(runtime: Any, inv: Any, fields: dict[str, Any]) -> Any:
        if inv.step_id == "broken":
            raise KeyError("gone")
        return await aggregate(runtime, inv, fields)

    monkeypatch.setitem(HANDLERS, "aggregate", faulty)
    out = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: internal-continue
        steps:
          - {id: broken, kind: aggregate, expr: "1", on_error: continue}
          - {id: report, kind: aggregate, expr: "steps.broken.error"}
        edges:
          - {from: broken, to: report, "on": failed}
        """,
    )
    assert out == {
        "report": {"type": "InternalError", "message": "step 'broken': KeyError: 'gone'"}
    }
