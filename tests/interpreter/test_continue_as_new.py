"""Long runs continue as new: chains, long repeats, wide fan-outs and waiting people carry on.

Runs on the real dev server with a low ``event_limit`` so that a short run continues as new
several times; every run of the chain is then replayed. The scale cases (a 1,000-step chain, a
20,000-iteration repeat, a 10,000-item fan-out) are marked ``slow``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from interpreter.registration import DATA_CONVERTER, workflow_runner, workflows
from interpreter.request import RESPOND, RespondRequest, RunRequest
from tests.support.runs import load, new_run_id, status, wait_for

RESULT_TIMEOUT = 120.0


async def start(
    client: Client, task_queue: str, text: str, limit: int, input: Any = None
) -> WorkflowHandle[Any, Any]:
    request = RunRequest(definition=load(text), input=input or {}, event_limit=limit)
    return await client.start_workflow("kworkflow", request, id=new_run_id(), task_queue=task_queue)


async def runs_of(client: Client, handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The Temporal run ids of every run of the workflow id, first to last."""
    run_ids = [handle.first_execution_run_id or handle.result_run_id or ""]
    while True:
        history = await client.get_workflow_handle(handle.id, run_id=run_ids[-1]).fetch_history()
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return run_ids
        attrs = last.workflow_execution_continued_as_new_event_attributes
        run_ids.append(attrs.new_execution_run_id)


async def replay_all(client: Client, handle: WorkflowHandle[Any, Any]) -> int:
    """Replay every run of the chain; return how many runs there were."""
    replayer = Replayer(
        workflows=workflows(), workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    run_ids = await runs_of(client, handle)
    for run_id in run_ids:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{run_id}: {result.replay_failure}"
    return len(run_ids)


def chain(length: int) -> str:
    steps = ["  - {id: s0, kind: tool, tool: echo, args: {n: 0}}"]
    for i in range(1, length):
        n = f"${{ steps.s{i - 1}.output.n + 1 }}"
        steps.append(f"  - {{id: s{i}, kind: tool, tool: echo, args: {{n: '{n}'}}}}")
    edges = [f"  - {{from: s{i - 1}, to: s{i}}}" for i in range(1, length)]
    return (
        "kworkflow: 1\nname: long-chain\nsteps:\n"
        + "\n".join(steps)
        + "\nedges:\n"
        + "\n".join(edges)
        + f"\noutput: ${{ steps.s{length - 1}.output.n }}\n"
    )


def repeat(iterations: int) -> str:
    return f"""
kworkflow: 1
name: long-repeat
steps:
  - id: count
    kind: tool
    tool: echo
    args: {{i: "${{ iteration }}", before: "${{ previous == null ? -1 : previous.i }}"}}
    repeat: {{until: "output.i >= {iterations - 1}", max_iterations: {iterations}}}
output: ${{ steps.count.output }}
"""


def fan_out(items: int, concurrency: int) -> str:
    return f"""
kworkflow: 1
name: wide
steps:
  - id: each
    kind: parallel
    for_each: "${{ input.items }}"
    max_concurrency: {concurrency}
    step: {{kind: tool, tool: echo, args: {{x: "${{ item }}"}}}}
  - {{id: total, kind: aggregate, expr: "size(steps.each.output)"}}
edges: [{{from: each, to: total}}]
output: ${{ steps.total.output }}
"""


async def test_a_chain_continues_as_new_and_keeps_its_state(client, task_queue, worker):
    handle = await start(client, task_queue, chain(60), limit=100)
    assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT) == 59
    state = await status(handle)
    assert {s["status"] for s in state["steps"].values()} == {"succeeded"}
    assert state["steps"]["s42"]["output"] == {"n": 42}
    transitions = (await handle.query("transitions", 0))["transitions"]
    assert [t["seq"] for t in transitions] == list(range(1, 122))
    assert transitions[-1]["type"] == "run_succeeded"
    assert await replay_all(client, handle) >= 3


async def test_a_long_repeat_resumes_at_its_iteration(client, task_queue, worker):
    handle = await start(client, task_queue, repeat(150), limit=100)
    result = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    assert result == {"i": 149, "before": 148}
    state = await status(handle)
    assert state["steps"]["count"]["iterations"] == 150
    assert await replay_all(client, handle) >= 3


async def test_a_fan_out_runs_every_item_once_across_runs(client, task_queue, worker):
    items = list(range(300))
    handle = await start(client, task_queue, fan_out(300, 10), limit=200, input={"items": items})
    assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT) == 300
    state = await status(handle)
    assert state["steps"]["each"]["output"] == [{"x": i} for i in items]
    assert state["steps"]["each"]["progress"] == {
        "total": 300,
        "running": 0,
        "succeeded": 300,
        "failed": 0,
    }
    assert await replay_all(client, handle) >= 3


WAIT_WHILE_WORKING = """
kworkflow: 1
name: wait-while-working
steps:
  - {id: ask, kind: human, prompt: "Go?", timeout: 1h}
  - id: work
    kind: tool
    tool: echo
    args: {i: "${ iteration }"}
    repeat: {until: "output.i >= 119", max_iterations: 200}
  - {id: after, kind: aggregate, expr: "steps.ask.output.data"}
edges: [{from: ask, to: after}]
output: {answer: "${ steps.after.output }", worked: "${ steps.work.output.i }"}
"""


async def test_a_waiting_person_keeps_waiting_across_runs(client, task_queue, worker):
    handle = await start(client, task_queue, WAIT_WHILE_WORKING, limit=100)
    first = await wait_for(handle, lambda s: bool(s["pending_human"]), what="ask waiting")
    since = first["pending_human"][0]["since"]
    done = await wait_for(
        handle, lambda s: s["steps"]["work"]["status"] == "succeeded", timeout=60, what="work"
    )
    assert [p["step"] for p in done["pending_human"]] == ["ask"]
    assert done["pending_human"][0]["since"] == since
    timeout_at = datetime.fromisoformat(done["pending_human"][0]["timeout_at"])
    assert (timeout_at - datetime.fromisoformat(since)).total_seconds() == 3600
    assert len(await runs_of(client, handle)) >= 2
    answer = await handle.execute_update(RESPOND, RespondRequest(step="ask", data="yes"))
    assert answer["data"] == "yes"
    assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT) == {
        "answer": "yes",
        "worked": 119,
    }
    transitions = (await handle.query("transitions", 0))["transitions"]
    assert [t["type"] for t in transitions if t["step"] == "ask"] == [
        "step_started",
        "step_waiting",
        "step_succeeded",
    ]
    await replay_all(client, handle)


@pytest.mark.slow
async def test_scale_a_chain_of_1000_steps_completes(client, task_queue, worker):
    handle = await start(client, task_queue, chain(1000), limit=10_000)
    assert await asyncio.wait_for(handle.result(), 900) == 999


@pytest.mark.slow
async def test_scale_a_repeat_of_20000_iterations_completes(client, task_queue, worker):
    handle = await start(client, task_queue, repeat(20_000), limit=10_000)
    assert await asyncio.wait_for(handle.result(), 1800) == {"i": 19_999, "before": 19_998}


@pytest.mark.slow
async def test_scale_a_for_each_of_10000_items_completes(client, task_queue, worker):
    items = list(range(10_000))
    handle = await start(
        client, task_queue, fan_out(10_000, 100), limit=10_000, input={"items": items}
    )
    assert await asyncio.wait_for(handle.result(), 1800) == 10_000
