"""Telling a human step's assignees that it waits for them, from the workflow: what the
``kworkflow.notify_assignees`` activity (:mod:`activities.assignees`) is sent, and the task that
starts it without holding the step.

When a human step with ``assignees`` starts waiting (not when it waits on in a run continued as
new), the run starts the activity beside the wait, once per channel (``email``, ``webhook``), and
records ``step_assignees_notified`` (the channel and who it reached) or ``step_notify_failed``
(the channel and the error, after three attempts) in its transitions; a channel the worker does
not configure records nothing. The answer may come before, during or without it. Runs recorded
before this (patch :data:`ASSIGNEES_PATCH`) replay without it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from interpreter import patches
from interpreter.state import PendingHuman, RunState

ACTIVITY = "kworkflow.notify_assignees"
ASSIGNEES_PATCH = "notify-assignees"
MAX_ASSIGNEES = 50
"""Assignees told of one wait (the first ones of a longer list)."""
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)


class AssigneeNotice(BaseModel):
    """A human step started waiting for its assignees."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    workflow: str
    tenant: str
    step: str
    prompt: Any = None
    assignees: list[str] = Field(max_length=MAX_ASSIGNEES)
    timeout_at: str | None = None
    channel: Literal["email", "webhook"] = "email"
    """One activity per channel, so that a failing webhook does not send the e-mail again."""


def tell_assignees(state: RunState, tasks: set[asyncio.Task[None]], pending: PendingHuman) -> None:
    """Start telling ``pending``'s assignees, if it has any (a task kept in ``tasks``)."""
    names = pending.assignees if isinstance(pending.assignees, list) else [pending.assignees]
    assignees = [a for a in names if isinstance(a, str) and a][:MAX_ASSIGNEES]
    if not assignees or not patches.patched(ASSIGNEES_PATCH):
        return
    for channel in ("email", "webhook"):
        notice = AssigneeNotice(
            run_id=state.run_id,
            workflow=state.workflow,
            tenant=state.tenant,
            step=pending.step,
            prompt=pending.prompt,
            assignees=assignees,
            timeout_at=_iso(pending.timeout_at) if pending.timeout_at else None,
            channel=channel,
        )
        task = asyncio.create_task(_tell(state, notice))
        tasks.add(task)  # kept so that the task is not collected mid-flight
        task.add_done_callback(tasks.discard)


async def _tell(state: RunState, notice: AssigneeNotice) -> None:
    try:
        sent = await workflow.execute_activity(
            ACTIVITY,
            notice,
            result_type=dict,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=_RETRY,
        )
    except ActivityError as exc:
        cause = exc.cause if exc.cause is not None else exc
        message = getattr(cause, "message", None) or str(cause)
        state.record(
            workflow.now(), "step_notify_failed", notice.step, channel=notice.channel, error=message
        )
        return
    if sent.get("to"):
        to = list(sent["to"])
        state.record(
            workflow.now(), "step_assignees_notified", notice.step, channel=notice.channel, to=to
        )


def _iso(value: Any) -> str:
    return str(value.isoformat()).replace("+00:00", "Z")
