"""The per-tenant step quota with one in-process worker: the limit holds, ``queued`` shows, no
quota costs nothing, and a terminated run's slot is reclaimed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.tool import tool
from interpreter.limits import FlowLimits, StepQuota
from interpreter.registration import new_worker
from interpreter.request import RunRequest
from limiter.names import limiter_id
from tests.support.concurrency_server import ConcurrencyServer, concurrency_server  # noqa: F401
from tests.support.runs import load, new_run_id, result

FAN = """
kworkflow: 1
name: fan
tools:
  slow: {url: "URL", method: POST}
steps:
  - id: fan
    kind: parallel
    for_each: "${ input.items }"
    step: {kind: tool, tool: slow, args: {n: "${ item }"}}
  - id: after
    kind: tool
    tool: slow
    args: {n: 0}
"""


def fan(server: ConcurrencyServer, tenant: str) -> str:
    return FAN.replace("URL", f"{server.url}/t/{tenant}")


async def start(
    client: Client,
    task_queue: str,
    text: str,
    items: int,
    tenant: str,
    quota: StepQuota | None,
) -> WorkflowHandle[Any, Any]:
    request = RunRequest(
        definition=load(text),
        input={"items": list(range(items))},
        tenant=tenant,
        flow_limits=FlowLimits(step_quota=quota),
    )
    return await client.start_workflow("kworkflow", request, id=new_run_id(), task_queue=task_queue)


async def start_request(
    client: Client, task_queue: str, text: str, value: Any, tenant: str
) -> WorkflowHandle[Any, Any]:
    """A run of ``text`` with input ``value`` for ``tenant``, with no step quota."""
    request = RunRequest(definition=load(text), input=value, tenant=tenant)
    return await client.start_workflow("kworkflow", request, id=new_run_id(), task_queue=task_queue)


def worker_for(client: Client, task_queue: str) -> Worker:
    return new_worker(client, task_queue, [tool], max_concurrent_activities=50)


async def test_a_tenant_never_runs_more_steps_than_its_quota(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    quota = StepQuota(default=2, lease="5s")
    async with worker_for(client, task_queue):
        handles = [
            await start(client, task_queue, fan(concurrency_server, "acme"), 4, "acme", quota)
            for _ in range(2)
        ]
        outs = await asyncio.gather(*(result(h, 60) for h in handles))
    assert [o["after"] for o in outs] == [{"tenant": "acme"}] * 2
    assert len(concurrency_server.of("acme")) == 10
    assert concurrency_server.peak["acme"] == 2


async def test_without_a_quota_no_limiter_is_asked(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    tenant = f"free-{task_queue}"
    async with worker_for(client, task_queue):
        handle = await start(client, task_queue, fan(concurrency_server, tenant), 4, tenant, None)
        await result(handle, 60)
    assert concurrency_server.peak[tenant] == 4
    events = [e async for e in handle.fetch_history_events()]
    kinds = {e.WhichOneof("attributes") for e in events}
    assert "marker_recorded_event_attributes" in kinds  # the baseline only
    assert "signal_external_workflow_execution_initiated_event_attributes" not in kinds
    assert not any(
        e.marker_recorded_event_attributes.marker_name == "LocalActivity" for e in events
    )


async def test_a_waiting_step_is_queued_and_a_terminated_holder_frees_its_slot(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    tenant = f"solo-{task_queue}"
    quota = StepQuota(default=1, lease="2s")
    concurrency_server.delay = 30.0
    async with worker_for(client, task_queue):
        first = await start(client, task_queue, fan(concurrency_server, tenant), 0, tenant, quota)
        await _until(lambda: _step(first, "after"), "running")
        second = await start(client, task_queue, fan(concurrency_server, tenant), 0, tenant, quota)
        await _until(lambda: _step(second, "after"), "queued")
        await asyncio.sleep(1.0)
        assert await _step(second, "after") == "queued"
        limiter = client.get_workflow_handle(limiter_id("quota", tenant))
        assert await limiter.query("slots") == {"limit": 1, "held": 1, "queued": 1}
        await first.terminate("test: a holder that never releases")
        concurrency_server.delay = 0.05
        await _until(lambda: _moved_on(second, "after"), "running", 20)
        out = await result(second, 60)
    assert out["after"] == {"tenant": tenant}


async def test_a_run_with_many_queued_steps_delays_another_by_one_turnover_at_most(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    tenant = f"fair-{task_queue}"
    quota = StepQuota(default=2, lease="5s")
    async with worker_for(client, task_queue):
        busy = await start(client, task_queue, fan(concurrency_server, "busy"), 20, tenant, quota)
        while len(concurrency_server.of("busy")) < 2:
            await asyncio.sleep(0.05)
        lone = await start(client, task_queue, fan(concurrency_server, "lone"), 0, tenant, quota)
        await _until(lambda: _step(lone, "after"), "queued")
        limiter = client.get_workflow_handle(limiter_id("quota", tenant))
        await _until(lambda: _waits(limiter, lone.id), "waiting")
        queued_at = time.monotonic()  # a little after the limiter has its request
        await result(lone, 60)
        await result(busy, 120)
    assert concurrency_server.peak["busy"] == 2
    (lone_call,) = concurrency_server.of("lone")
    overtook = [c for c in concurrency_server.of("busy") if queued_at < c.start < lone_call.start]
    # after the limiter has the lone request: the 2 grants it may have sent just before (their
    # calls start a little later), then round-robin may serve the busy run once more, then the
    # lone step: 3 at most of the busy run's 20 steps start ahead of it
    assert len(overtook) <= 3, overtook


async def _waits(limiter: WorkflowHandle[Any, Any], run_id: str) -> str:
    return "waiting" if run_id in await limiter.query("waiting_runs") else "not yet"


async def _step(handle: WorkflowHandle[Any, Any], step: str) -> str:
    state = await handle.query("status")
    return str(state["steps"][step]["status"])


async def _moved_on(handle: WorkflowHandle[Any, Any], step: str) -> str:
    """``running`` once the step runs or has run (a short step may end between two polls)."""
    status = await _step(handle, step)
    return "running" if status in ("running", "succeeded") else status


async def _until(get: Any, want: str, timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    got = None
    while loop.time() < deadline:
        got = await get()
        if got == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"status stayed {got!r}, not {want!r}")
