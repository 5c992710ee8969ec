"""event steps: wait, holding nothing, until a matching CloudEvent arrives or the step times out."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from interpreter import patches
from interpreter.kinds.base import Invocation, Runtime

with workflow.unsafe.imports_passed_through():
    from activities.events import RECENT_EVENTS, RecentEvents, RecentEventsQuery
    from interpreter.carry import Resume, Suspended
    from interpreter.durations import parse_duration
    from interpreter.event_waits import EventWait
    from interpreter.spec import EventStep
    from interpreter.state import StepError

_REFUSED_IN_TYPE = re.compile(r"['\"\\\x00-\x1f\x7f]")
"""What ``POST /v1/events`` refuses in a type (api.cloudevent_http): no event could match."""
CATCH_UP_TIMEOUT = timedelta(seconds=10)
"""How long the one read of recent events may take per attempt (3 attempts), its wait for
visibility included (:data:`activities.events.VISIBLE_WITHIN`)."""


async def run_event(runtime: Runtime, inv: Invocation, fields: dict[str, Any]) -> Any:
    """Output the first event of ``type`` for which ``filter`` is true (see docs/events.md).

    The step advertises its type (:mod:`interpreter.event_waits`), then reads once the events
    of that type kept for its tenant (:mod:`activities.events`: those sent shortly before it
    began to wait, read once visibility lists the run as waiting), then waits for the
    ``kworkflow.event`` signal. Only the step's own
    ``timeout`` bounds the wait. A top-level wait suspends when the run continues as new and
    the next run waits on until the same ``timeout_at``.
    """
    spec = inv.spec
    assert isinstance(spec, EventStep)
    patches.patched(patches.EVENT_STEPS)
    type_ = fields.get("type")
    if not isinstance(type_, str) or not type_ or _REFUSED_IN_TYPE.search(type_):
        message = "type must be a non-empty string without quotes, backslashes or control"
        raise StepError("InvalidEventType", f"{message} characters, not {type_!r}")
    now = workflow.now()
    resume = inv.resume
    if resume is not None and resume.since is not None:
        since, timeout_at = resume.since, resume.timeout_at
    else:
        since = now
        timeout_at = now + parse_duration(spec.timeout) if spec.timeout else None
    wait = EventWait(inv.step_id, type_, spec.filter, inv.scope, since, timeout_at)
    runtime.open_event_wait(wait, resumed=resume is not None)

    try:
        output = await _wait(runtime, inv, wait, fields)
    except GeneratorExit:  # the worker evicts the run: workflow APIs must not be called now
        raise
    except BaseException:
        runtime.close_event_wait(inv.step_id)
        raise
    runtime.close_event_wait(inv.step_id)
    return output


async def _wait(runtime: Runtime, inv: Invocation, wait: EventWait, fields: dict[str, Any]) -> Any:
    """Catch up, then wait for the event, the timeout or a suspension."""
    spec = inv.spec
    assert isinstance(spec, EventStep)

    def over_or_suspended() -> bool:
        return wait.over or (inv.suspendable and runtime.may_suspend_waits())

    try:
        await _catch_up(runtime, wait)
        timeout = None
        if wait.timeout_at is not None:
            timeout = max(wait.timeout_at - workflow.now(), timedelta(milliseconds=1))
        await workflow.wait_condition(over_or_suspended, timeout=timeout)
    except TimeoutError:
        if not wait.over:  # else taken in the same activation as the timer fired
            if spec.on_timeout == "continue":
                return fields.get("default")
            message = f"no event of type '{wait.type}' within {spec.timeout}"
            raise StepError("EventTimeout", message) from None
    if wait.event is None:
        raise Suspended(Resume(since=wait.since, timeout_at=wait.timeout_at))
    return wait.event


async def _catch_up(runtime: Runtime, wait: EventWait) -> None:
    """Offer the wait the kept events it may have missed; none when they cannot be read."""
    query = RecentEventsQuery(tenant=runtime.request.tenant, type=wait.type, since=wait.since)
    try:
        found = await workflow.execute_activity(
            RECENT_EVENTS,
            query,
            result_type=RecentEvents,
            start_to_close_timeout=CATCH_UP_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
    except ActivityError:
        workflow.logger.warning("step %r: recent events not read; waiting for signals", wait.step)
        return
    for event in found.events:
        runtime.offer_event(wait, event)
