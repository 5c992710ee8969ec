"""Runs whose workflow tasks keep failing: how the API sees them (``stalled``) and ends them.

Temporal retries a workflow task that fails (a bug, a non-determinism, a worker that cannot load
the run) without end, and the run stays Running. The API calls such a run ``stalled`` once its
pending workflow task is at attempt :data:`STALL_ATTEMPT` or later, and shows the failure that
history recorded for it. A stalled run cannot act on a cancel request, so cancelling one
terminates it after :attr:`api.settings.ApiSettings.cancel_grace` seconds; ``force`` terminates
any running run at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

STALL_ATTEMPT = 3
"""A pending workflow task at this attempt has failed twice in a row: the run is stalled."""
HISTORY_LOOKBACK = 50
"""How many of the newest history events are searched for the failure."""


def failed_attempts(description: WorkflowExecutionDescription) -> int:
    """How many times in a row the running run's workflow task has failed (0 when it has not)."""
    if description.status != WorkflowExecutionStatus.RUNNING:
        return 0
    raw = description.raw_description
    if not raw.HasField("pending_workflow_task"):
        return 0
    return max(raw.pending_workflow_task.attempt - 1, 0)


def is_stalled(description: WorkflowExecutionDescription) -> bool:
    """The run is running, and its workflow task has failed at least twice in a row."""
    return failed_attempts(description) >= STALL_ATTEMPT - 1


async def stall_error(
    client: Client, description: WorkflowExecutionDescription
) -> dict[str, Any] | None:
    """``{type: "Stalled", message}`` for a stalled run, naming the failure; None otherwise."""
    if not is_stalled(description):
        return None
    failures = failed_attempts(description)
    cause = await _last_task_failure(client, description)
    message = f"the run's workflow task has failed {failures} times in a row"
    return {"type": "Stalled", "message": f"{message}: {cause}" if cause else message}


async def _last_task_failure(client: Client, description: WorkflowExecutionDescription) -> str:
    """The message of the newest ``WorkflowTaskFailed`` event ('' when none is found)."""
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=ExecutionRef(workflow_id=description.id, run_id=description.run_id),
        maximum_page_size=HISTORY_LOOKBACK,
    )
    try:
        response = await client.workflow_service.get_workflow_execution_history_reverse(request)
    except Exception:  # the view still says stalled; the cause is a courtesy
        return ""
    for event in response.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            return failure.message.splitlines()[0] if failure.message else ""
    return ""


async def end(
    handle: WorkflowHandle[Any, Any],
    description: WorkflowExecutionDescription,
    *,
    force: bool,
    grace: float,
) -> None:
    """Cancel a running run; terminate it when ``force``, or when it is stalled and still
    running after ``grace`` seconds (it could never act on the request)."""
    if force:
        await _terminate(handle, "terminated on request (cancel --force)")
        return
    await handle.cancel()
    if not is_stalled(description):
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while loop.time() < deadline:
        await asyncio.sleep(0.2)
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return
    await _terminate(handle, f"cancelled while stalled; did not end within {grace:g} s")


async def _terminate(handle: WorkflowHandle[Any, Any], reason: str) -> None:
    """Terminate the run; one that ended meanwhile is left as it ended."""
    try:
        await handle.terminate(reason=reason)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
