"""Asking a limiter by update (patch quota-ask-now): a free slot is the answer itself (no grant
signal, no extra workflow task), a request behind others is queued in round-robin order, a
repeated ask answers what the request has, and a burst beyond three updates in flight asks by
signal."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from interpreter.limits import FlowLimits, StepQuota
from interpreter.registration import new_worker
from interpreter.request import RunRequest
from limiter.names import (
    ACQUIRE_UPDATE,
    GRANT_SIGNAL,
    LIMITER_WORKFLOW_NAME,
    Acquire,
    Answer,
    limiter_id,
)
from limiter.slots import Slots
from limiter.workflow import LimiterStart
from tests.support.runs import load, new_run_id, result
from tests.support.standins import STANDIN_ACTIVITIES

CHAIN = """
kworkflow: 1
name: chain
steps:
  - {id: a, kind: tool, tool: echo, args: {n: 1}}
  - {id: b, kind: tool, tool: echo, args: {n: "${ steps.a.output.n + 1 }"}}
"""


async def _run(client: Client, task_queue: str, tenant: str) -> WorkflowHandle[Any, Any]:
    request = RunRequest(
        definition=load(CHAIN),
        tenant=tenant,
        flow_limits=FlowLimits(step_quota=StepQuota(default=5, lease="1m")),
    )
    return await client.start_workflow("kworkflow", request, id=new_run_id(), task_queue=task_queue)


async def _events(client: Client, workflow_id: str) -> list[HistoryEvent]:
    return [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]


def _kinds(events: list[HistoryEvent]) -> list[str]:
    return [str(e.WhichOneof("attributes")) for e in events]


def _grant_signals(events: list[HistoryEvent]) -> int:
    return sum(
        1
        for e in events
        if e.HasField("workflow_execution_signaled_event_attributes")
        and e.workflow_execution_signaled_event_attributes.signal_name == GRANT_SIGNAL
    )


async def test_a_free_slot_comes_with_the_answer_and_no_grant_signal(
    client: Client, task_queue: str
) -> None:
    tenant = f"now-{task_queue}"
    async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
        handle = await _run(client, task_queue, tenant)
        out = await result(handle, 60)
        limiter = client.get_workflow_handle(limiter_id("quota", tenant))
        assert await limiter.query("slots") == {"limit": 5, "held": 0, "queued": 0}
        transitions = (await handle.query("transitions", 0))["transitions"]
    assert out["b"] == {"n": 2}
    run = await _events(client, handle.id)
    assert _grant_signals(run) == 0
    moves = [t["type"] for t in transitions if t["step"] == "a"]
    assert [m for m in moves if m in ("step_queued", "step_granted")] == [
        "step_queued",
        "step_granted",
    ]
    kinds = _kinds(await _events(client, limiter.id))
    assert kinds.count("workflow_execution_update_completed_event_attributes") == 2
    assert kinds.count("workflow_execution_signaled_event_attributes") == 2  # the releases
    assert "signal_external_workflow_execution_initiated_event_attributes" not in kinds
    # one lease timer for the limiter's whole life: the asks and releases restart none
    assert kinds.count("timer_started_event_attributes") == 1
    assert "timer_canceled_event_attributes" not in kinds


async def _ask(client: Client, task_queue: str, limiter: str, slots: Slots, holder: str) -> bool:
    """Ask ``limiter`` (started with ``slots`` if it is not running) for request ``s#1`` of
    ``holder``, with a fresh update id: the limiter's state answers a repeated request."""
    start = WithStartWorkflowOperation(
        LIMITER_WORKFLOW_NAME,
        LimiterStart(lease_seconds=60, slots=slots),
        id=limiter,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    answer: Answer = await client.execute_update_with_start_workflow(
        ACQUIRE_UPDATE,
        Acquire(request="s#1", holder=holder, limit=slots.limit),
        start_workflow_operation=start,
        id=str(uuid.uuid4()),
        result_type=Answer,
    )
    return answer.granted


async def test_a_newcomer_waits_behind_queued_runs_and_a_repeat_answers_the_same(
    client: Client, task_queue: str
) -> None:
    full = Slots(limit=1)
    full.ask("holder", "h#1")
    full.grants()
    full.ask("waiter", "w#1")
    one_free = Slots(limit=2)
    one_free.ask("holder", "h#1")
    one_free.grants()
    queue_id, free_id = f"limit-{uuid.uuid4()}", f"limit-{uuid.uuid4()}"
    async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
        assert await _ask(client, task_queue, queue_id, full, "newcomer") is False
        assert await _ask(client, task_queue, queue_id, full, "newcomer") is False  # again
        limiter = client.get_workflow_handle(queue_id)
        assert await limiter.query("slots") == {"limit": 1, "held": 1, "queued": 2}
        assert await limiter.query("waiting_runs") == ["newcomer", "waiter"]

        assert await _ask(client, task_queue, free_id, one_free, "first") is True
        assert await _ask(client, task_queue, free_id, one_free, "first") is True  # again
        assert await _ask(client, task_queue, free_id, one_free, "second") is False  # full
        limiter = client.get_workflow_handle(free_id)
        assert await limiter.query("slots") == {"limit": 2, "held": 2, "queued": 1}
        for workflow_id in (queue_id, free_id):
            await client.get_workflow_handle(workflow_id).terminate("test over")


WIDE = """
kworkflow: 1
name: wide
steps:
  - id: fan
    kind: parallel
    for_each: "${ [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }"
    step: {kind: tool, tool: echo, args: {i: "${ item }"}}
"""


async def test_a_burst_of_asks_beyond_the_updates_in_flight_asks_by_signal(
    client: Client, task_queue: str
) -> None:
    tenant = f"burst-{task_queue}"
    request = RunRequest(
        definition=load(WIDE),
        tenant=tenant,
        flow_limits=FlowLimits(step_quota=StepQuota(default=100, lease="1m")),
    )
    async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
        handle = await client.start_workflow(
            "kworkflow", request, id=new_run_id(), task_queue=task_queue
        )
        out = await result(handle, 60)
    assert out["fan"] == [{"i": i} for i in range(10)]
    events = await _events(client, limiter_id("quota", tenant))
    updates = _kinds(events).count("workflow_execution_update_completed_event_attributes")
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    asked_by_signal = signals.count("kworkflow.limiter.acquire")
    assert updates + asked_by_signal == 10  # every step asked once, by one or the other
    assert updates >= 1 and asked_by_signal >= 1  # three updates in flight at most
    assert _grant_signals(await _events(client, handle.id)) == asked_by_signal
