"""Sending a run an update from a route (answer, pause, resume, continue, upgrade): the check
that the run can still take one, and what each way of failing answers.

The run validates the update itself, so a refused one changes nothing; :func:`send_update`
turns the refusal, a run that ended meanwhile and a worker that did not take it in time into
HTTP errors.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import HTTPException
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import stalls
from api.schemas_runs import RunOut
from interpreter.pausing import REFUSED

UPDATE_TIMEOUT = timedelta(seconds=30)
"""How long a run may take to accept an update before the API answers 504."""


def check_live(
    run_id: str, tenant: str, description: WorkflowExecutionDescription, action: str
) -> None:
    """Refuse ``action`` on a run that has ended or is stalled.

    Raises:
        HTTPException: 409 with the run's state.
    """
    if description.status != WorkflowExecutionStatus.RUNNING:
        status = RunOut.of(run_id, tenant, description, None).status
        raise HTTPException(409, f"run '{run_id}' has ended ({status}): cannot {action} it")
    if stalls.is_stalled(description):
        message = f"run '{run_id}' is stalled (its workflow tasks keep failing): cannot {action} it"
        raise HTTPException(409, message)


async def send_update(
    handle: WorkflowHandle[Any, Any],
    run_id: str,
    update: str,
    payload: Any,
    refused: Callable[[WorkflowUpdateFailedError], HTTPException] | None = None,
    *,
    what: str | None = None,
    ended: str | None = None,
) -> dict[str, Any]:
    """The answer of the run's ``update``.

    Args:
        handle: The run.
        run_id: Its id, for messages.
        update: The update's name.
        payload: Its argument.
        refused: The HTTP error of the run's refusal (default: 422 for an ``invalid`` refusal,
            else 409 with the run's message).
        what: What the run did not take in time, in the 504 (default: the update's name).
        ended: Why the update cannot be taken by a run that ended meanwhile, in the 409
            (default: ``cannot <update> it``).

    Raises:
        HTTPException: The run's refusal; 409 the run ended meanwhile; 504 no worker took the
            update in time.
    """
    try:
        answer: dict[str, Any] = await handle.execute_update(
            update, payload, result_type=dict, rpc_timeout=UPDATE_TIMEOUT
        )
    except WorkflowUpdateFailedError as exc:
        raise (refused or _refused)(exc) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        message = f"run '{run_id}' did not take the {what or update} in time"
        raise HTTPException(504, message) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:  # it ended meanwhile
            message = f"run '{run_id}' has ended: {ended or f'cannot {update} it'}"
            raise HTTPException(409, message) from None
        raise
    return answer


def _refused(exc: WorkflowUpdateFailedError) -> HTTPException:
    cause = exc.cause
    message = getattr(cause, "message", None) or str(cause or exc)
    if isinstance(cause, ApplicationError) and cause.type == REFUSED:
        details = cause.details[0] if cause.details else None
        reason = details.get("reason") if isinstance(details, dict) else None
        if reason == "invalid":
            return HTTPException(422, message)
    return HTTPException(409, message)
