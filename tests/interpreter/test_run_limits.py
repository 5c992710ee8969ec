"""Work inside a run is bounded, and nothing a step does can leave the run stuck unseen.

CEL cost budgets, long loops and large fan-outs that yield before the deadlock detector fires,
out-of-range values refused where they enter, and unexpected errors that fail their step.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Replayer, Worker

from activities.code import code
from activities.config import current_config
from activities.tool import tool as tool_activity
from interpreter.kinds import HANDLERS
from interpreter.registration import DATA_CONVERTER, new_worker, workflow_runner, workflows
from tests.support.runs import result, run, run_failure, start, status

SCALE_TIMEOUT = 120.0
"""The scale cases take 3-15 s on a loaded 2-core machine; a deadlock never ends."""

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
    assert loop.time() - began < 60  # the cost meter stops it; unmetered it runs for minutes
    state = await status(handle)
    assert state["steps"]["boom"]["status"] == "failed"
    assert state["steps"]["boom"]["error"]["type"] == "ExpressionError"
    assert "cost" in state["steps"]["boom"]["error"]["message"]
    assert err.type == "StepFailed"
    assert await _task_failures(handle) == []


async def test_an_exponential_edge_condition_fails_the_run_naming_the_edge(
    client, task_queue, worker
):
    err, handle = await run_failure(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: costly-edge
        steps:
          - {{id: a, kind: aggregate, expr: "1"}}
          - {{id: b, kind: aggregate, expr: "2"}}
        edges:
          - {{from: a, to: b, when: "size({EXPONENTIAL}) > 0"}}
        """,
    )
    assert err.type == "EdgeConditionError"
    assert str(err.message).startswith("edges[0] a -> b: when the expression is too costly")
    assert err.details[0]["edge"] == 0
    assert await _task_failures(handle) == []


async def test_a_repeat_of_ten_thousand_iterations_completes(client, task_queue, worker):
    handle = await start(
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
    )
    assert await result(handle, SCALE_TIMEOUT) == {"count": 9999}
    assert await _task_failures(handle) == []
    assert (await status(handle))["steps"]["count"]["iterations"] == 10000
    await _replays(handle)


async def test_a_for_each_of_five_thousand_aggregate_items_completes(client, task_queue, worker):
    handle = await start(
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
    )
    assert await result(handle, SCALE_TIMEOUT) == {"fan": [[i * 2, i * 2 + 2] for i in range(5000)]}
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


# ------------------------------------------------------------------------- out-of-range values


async def test_an_input_integer_beyond_64_bits_is_invalid_input_naming_the_path(
    client, task_queue, worker
):
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: big-input
        steps:
          - {id: a, kind: aggregate, expr: "size(input.items)"}
        """,
        {"items": [1, 2**64]},
    )
    message = "input.items[1]: 18446744073709551616 is outside the 64-bit integer range"
    assert (err.type, err.message, err.details[0]) == (
        "InvalidInput",
        message,
        {"path": "items[1]"},
    )
    assert (await status(handle))["steps"]["a"]["status"] == "pending"


async def test_a_step_output_integer_beyond_64_bits_fails_that_step(client, task_queue, worker):
    """Once the value poisoned `steps` and the error blamed the next step's expression."""
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: big-output
        steps:
          - {id: huge, kind: code, source: "output = {'n': [2 ** 64]}"}
          - {id: next, kind: aggregate, expr: "steps.huge.output.n"}
        """,
    )
    error = {
        "type": "InvalidOutput",
        "message": "output.n[0]: 18446744073709551616 is outside the 64-bit integer range",
    }
    assert err.type == "StepFailed"
    assert err.details[0] == {"step": "huge", "kind": "code", "attempts": 1, "error": error}
    state = await status(handle)
    assert state["steps"]["huge"]["status"] == "failed"
    assert state["steps"]["huge"]["error"] == error
    assert state["steps"]["huge"]["output"] is None
    assert state["steps"]["next"]["status"] == "pending"


@pytest.fixture
async def code_worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    """A worker on this test's queue with the real ``code`` activity (its sandbox)."""
    async with new_worker(client, task_queue, [code]) as w:
        yield w


@pytest.mark.parametrize(
    ("source", "where", "reason"),
    [
        (
            "x = 0\nfor _ in range(150):\n    x = [x]\noutput = x",
            "output" + "[0]" * 100,
            "is nested more than 100 levels deep",
        ),
    ],
)
async def test_an_output_no_run_can_carry_fails_at_once_never_retried(
    client, task_queue, code_worker, source, where, reason
):
    """Deep nesting once failed to serialise and was retried, attempt after attempt."""
    definition = {
        "kworkflow": 1,
        "name": "uncarriable",
        "defaults": {"retry": {"max_attempts": 3, "initial_interval": "100ms"}},
        "steps": [{"id": "calc", "kind": "code", "source": source}],
    }
    err, handle = await run_failure(client, task_queue, yaml.safe_dump(definition))
    error = {"type": "UnserializableOutput", "message": f"step 'calc': {where}: {reason}"}
    assert err.type == "StepFailed"
    assert err.details[0] == {"step": "calc", "kind": "code", "attempts": 1, "error": error}
    assert (await status(handle))["steps"]["calc"]["error"] == error


@pytest.fixture
async def tool_worker(
    client: Client, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Worker]:
    """A worker with the real ``tool`` activity and the tools of tests.support.odd_tools."""
    monkeypatch.setenv("KWORKFLOW_TOOL_MODULES", "tests.support.odd_tools")
    current_config.cache_clear()
    async with new_worker(client, task_queue, [tool_activity]) as w:
        yield w
    current_config.cache_clear()


@pytest.mark.parametrize(
    ("tool", "args", "where", "reason"),
    [
        (
            "ratio",
            {"a": 0, "b": 0},
            "output.ratio",
            "nan is not a number JSON can carry (NaN and Infinity are not)",
        ),
        (
            "ratio",
            {"a": 1, "b": 0},
            "output.ratio",
            "inf is not a number JSON can carry (NaN and Infinity are not)",
        ),
        ("forged", {}, "output", "Unable to serialize unknown type: <class 'object'>"),
    ],
)
async def test_a_tool_result_no_run_can_carry_fails_at_once(
    client, task_queue, tool_worker, tool, args, where, reason
):
    """NaN and Infinity once became null without a word."""
    definition = {
        "kworkflow": 1,
        "name": "odd-tools",
        "defaults": {"retry": {"max_attempts": 3, "initial_interval": "100ms"}},
        "steps": [{"id": "calc", "kind": "tool", "tool": tool, "args": args}],
    }
    err, handle = await run_failure(client, task_queue, yaml.safe_dump(definition))
    error = {"type": "UnserializableOutput", "message": f"step 'calc': {where}: {reason}"}
    assert err.details[0] == {"step": "calc", "kind": "tool", "attempts": 1, "error": error}
    assert (await status(handle))["steps"]["calc"]["error"] == error
