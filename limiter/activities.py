"""The limiter's activities: ask for a slot (update-with-start, or signal-with-start in runs
recorded before it) and find holder runs that ended."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import WithStartWorkflowOperation, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from limiter.names import (
    ACQUIRE_SIGNAL,
    ACQUIRE_UPDATE,
    LIMITER_WORKFLOW_NAME,
    Acquire,
    Answer,
)
from limiter.workflow import ENDED_HOLDERS_ACTIVITY, LimiterStart

ASK_ACTIVITY = "kworkflow.limiter.ask"
"""The local activity a holder run recorded before :data:`ASK_NOW_ACTIVITY` asks with."""
ASK_NOW_ACTIVITY = "kworkflow.limiter.ask_now"
"""The local activity a holder run asks a limiter for a slot with, learning at once whether
the slot is its own."""
ASKS_AT_ONCE = 3
"""Asks by update one worker process has in flight to one limiter at most; more at once ask by
signal. Temporal refuses an update beyond ``history.maxInFlightUpdates`` (10 by default) per
workflow with RESOURCE_EXHAUSTED and the client backs off and retries, which would make a burst
of asks (a wide ``parallel``) slower than signals: three per process keeps three workers under
the server's limit."""
DESCRIBE_AT_ONCE = 20
"""Holder runs described at once by :func:`ended_holders`."""


class AskCall(BaseModel):
    """What :func:`ask` sends: to which limiter, on which task queue, and the request."""

    limiter: str
    task_queue: str
    lease_seconds: float
    acquire: Acquire


@activity.defn(name=ASK_ACTIVITY)
async def ask(call: AskCall) -> None:
    """Signal the limiter with the request, starting it if it is not running."""
    await activity.client().start_workflow(
        LIMITER_WORKFLOW_NAME,
        LimiterStart(lease_seconds=call.lease_seconds),
        id=call.limiter,
        task_queue=call.task_queue,
        start_signal=ACQUIRE_SIGNAL,
        start_signal_args=[call.acquire],
    )


@activity.defn(name=ASK_NOW_ACTIVITY)
async def ask_now(call: AskCall) -> Answer:
    """Ask the limiter with an update, starting it if it is not running: its answer says
    whether the request holds a slot now (if not, the grant comes by signal).

    When this process already has :data:`ASKS_AT_ONCE` updates in flight to the limiter, a
    first attempt asks by signal (:func:`ask`) and answers "not yet"; a retried attempt always
    asks by update, which answers from the limiter's state (an earlier attempt's update may
    have been granted and its answer lost: a signal would then wait for a grant never sent).

    The update's id is the request's, so a retried ask is the same update (and the limiter
    answers a request it knows from its state). Needs a server with update-with-start enabled
    (the embedded dev server, Server 1.32, always has it); without it the ask fails and retries.
    """
    info = activity.info()
    if info.attempt == 1 and _asking.get(call.limiter, 0) >= ASKS_AT_ONCE:
        await ask(call)
        return Answer(granted=False)
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        LIMITER_WORKFLOW_NAME,
        LimiterStart(lease_seconds=call.lease_seconds),
        id=call.limiter,
        task_queue=call.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    _asking[call.limiter] = _asking.get(call.limiter, 0) + 1
    try:
        answer: Answer = await activity.client().execute_update_with_start_workflow(
            ACQUIRE_UPDATE,
            call.acquire,
            start_workflow_operation=start,
            id=update_id(info.workflow_run_id or "", call.acquire),
            result_type=Answer,
        )
    finally:
        _asking[call.limiter] -= 1
        if not _asking[call.limiter]:
            del _asking[call.limiter]
    return answer


_asking: dict[str, int] = {}
"""Asks by update in flight from this process, per limiter (activities share one loop)."""


def update_id(run_id: str, acquire: Acquire) -> str:
    """The update id of a request: the same for the same request of the same holder run
    (``run_id``: a run continued as new numbers its requests afresh), short."""
    text = f"{acquire.holder}\0{run_id}\0{acquire.request}"
    return "ask-" + hashlib.sha256(text.encode()).hexdigest()[:32]


@activity.defn(name=ENDED_HOLDERS_ACTIVITY)
async def ended_holders(holders: list[str]) -> list[str]:
    """The holder runs (workflow ids) that are no longer running, in the given order."""
    client = activity.client()
    gate = asyncio.Semaphore(DESCRIBE_AT_ONCE)

    async def ended(workflow_id: str) -> bool:
        async with gate:
            try:
                described = await client.get_workflow_handle(workflow_id).describe()
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return True
                raise
        return described.status != WorkflowExecutionStatus.RUNNING

    flags = await asyncio.gather(*(ended(h) for h in holders))
    return [h for h, gone in zip(holders, flags, strict=True) if gone]
