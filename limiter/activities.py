"""The limiter's activities: ask for a slot (signal-with-start) and find holder runs that ended."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from limiter.names import ACQUIRE_SIGNAL, LIMITER_WORKFLOW_NAME, Acquire
from limiter.workflow import ENDED_HOLDERS_ACTIVITY, LimiterStart

ASK_ACTIVITY = "kworkflow.limiter.ask"
"""The local activity a holder run asks a limiter for a slot with."""
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
