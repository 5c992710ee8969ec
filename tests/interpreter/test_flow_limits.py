"""The operator's flow limits: fan-out width, concurrency and durations, at lint and in the run.

Lint findings are located; in the run (real dev server, stand-in worker) a definition over the
limits fails at its start, a ``for_each`` over too many items fails its step, and a ``parallel``
without ``max_concurrency`` runs at most ``limits.flow.max_concurrency`` items at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client, WorkflowFailureError

from interpreter.limits import FlowLimits, Limits
from interpreter.lint import lint_text
from interpreter.request import RunRequest
from registry.source import check
from tests.support.runs import load, new_run_id
from tests.support.standins import records

WIDE = """\
kworkflow: 1
name: wide
timeout: 400d
steps:
  - id: fan
    kind: parallel
    for_each: [1, 2, 3, 4, 5, 6]
    max_concurrency: 500
    step: {kind: tool, tool: echo, args: {x: "${ item }"}, retry: {max_interval: 2d}}
"""


def test_lint_locates_every_place_over_the_flow_limits() -> None:
    limits = Limits(flow=FlowLimits(max_items=5, max_duration="1d"))
    _, problems = lint_text(WIDE, limits=limits)
    found = [(p.code, p.path, p.line, p.message) for p in problems]
    assert found == [
        (
            "limit",
            "timeout",
            3,
            "timeout 400d is over this worker's maximum of 1d (limits.flow.max_duration)",
        ),
        (
            "limit",
            "steps[0].for_each",
            7,
            "for_each of 6 items is over this worker's maximum of 5 (limits.flow.max_items)",
        ),
        (
            "limit",
            "steps[0].max_concurrency",
            8,
            "max_concurrency 500 is over this worker's maximum of 100 "
            "(limits.flow.max_concurrency)",
        ),
        (
            "limit",
            "steps[0].step.retry.max_interval",
            9,
            "max_interval 2d is over this worker's maximum of 1d (limits.flow.max_duration)",
        ),
    ]


def test_publish_refuses_what_the_defaults_refuse() -> None:
    _, problems = check(WIDE, "yaml", limits=Limits())
    assert [(p.path, p.code) for p in problems] == [
        ("timeout", "limit"),
        ("steps[0].max_concurrency", "limit"),
    ]


async def start(client: Client, task_queue: str, text: str, limits: FlowLimits, input: Any):
    request = RunRequest(definition=load(text), input=input, flow_limits=limits)
    return await client.start_workflow("kworkflow", request, id=new_run_id(), task_queue=task_queue)


async def failure_of(handle) -> Any:
    try:
        await asyncio.wait_for(handle.result(), 30)
    except WorkflowFailureError as exc:
        return exc.cause
    raise AssertionError("the run succeeded")


DYNAMIC = """
kworkflow: 1
name: dynamic
steps:
  - id: fan
    kind: parallel
    for_each: "${ input.items }"
    step: {kind: tool, tool: echo, args: {x: "${ item }"}}
"""


async def test_a_for_each_over_too_many_items_fails_its_step(client, task_queue, worker) -> None:
    handle = await start(client, task_queue, DYNAMIC, FlowLimits(max_items=5), {"items": [1] * 6})
    cause = await failure_of(handle)
    assert cause.type == "StepFailed"
    assert cause.details[0]["error"] == {
        "type": "LimitExceeded",
        "message": "for_each of 6 items is over this worker's maximum of 5 (limits.flow.max_items)",
    }


async def test_a_definition_over_the_limits_fails_at_its_start(client, task_queue, worker) -> None:
    limits = FlowLimits(max_duration="1d")
    handle = await start(client, task_queue, WIDE.replace("max_concurrency: 500", ""), limits, {})
    cause = await failure_of(handle)
    assert (cause.type, cause.message) == (
        "LimitExceeded",
        "timeout: timeout 400d is over this worker's maximum of 1d (limits.flow.max_duration)",
    )
    state = await handle.query("status")
    assert {s["status"] for s in state["steps"].values()} == {"pending"}


NAPS = """
kworkflow: 1
name: naps
steps:
  - id: fan
    kind: parallel
    for_each: "${ input.items }"
    step:
      kind: tool
      tool: sleep
      args: {seconds: 0.2, label: "${ string(item) }", key: "${ input.key }"}
"""


async def test_a_parallel_without_max_concurrency_runs_under_the_default_bound(
    client, task_queue, worker
) -> None:
    key = new_run_id()
    handle = await start(
        client,
        task_queue,
        NAPS,
        FlowLimits(max_concurrency=3),
        {"items": list(range(8)), "key": key},
    )
    result = await asyncio.wait_for(handle.result(), 30)
    assert result == {"fan": [{"slept": str(i)} for i in range(8)]}
    running, most = 0, 0
    for entry in records(key):
        running += 1 if entry.startswith("start:") else -1
        most = max(most, running)
    assert most == 3
