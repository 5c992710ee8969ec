"""The workflow side of lifecycle events out: which transitions go to the sink, and when.

A run whose :class:`interpreter.request.RunRequest` says ``events_out`` (the starter's
configuration names a sink) sends its ``run_*`` and ``step_*`` transitions to the
``kworkflow.events_out`` local activity (:mod:`activities.events_out`), plus one
``run_started`` (sequence 0) first. A run without it does nothing here: no marker, no activity.

When: each time the run blocks waiting for its steps with transitions not sent yet, an
:class:`Outbox` task starts beside the run's work (the run never waits for it) and sends every
transition after the last one sent, then again while more came meanwhile; before continuing as
new and at the run's end the run waits for it (so nothing is lost, a failing sink adding at most
its bounded retries to the end). So a run pays about one local activity per workflow task that
changes something, in that task, and none for waits without news. A local activity's result is
recorded in the history: a replay, or a worker answering a query, sends nothing.

At least once: a POST that succeeded but whose workflow task was lost is sent again with the
same event ids. A batch not delivered after :data:`RETRY`'s attempts is recorded as an
``events_out_failed`` transition (the first and last sequence numbers and the error); the
run goes on as if it had been sent.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.events_out import ACTIVITY, Delivered, Lifecycle
    from interpreter import patches
    from interpreter.state import RunState

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=8),
    maximum_attempts=4,
)
"""A batch is tried 4 times, 1 + 2 + 4 s apart (and each POST at most the sink timeout)."""
TIMEOUT = timedelta(seconds=30)


class Outbox:
    """A run's transitions not sent to the events sink yet, and the task sending them."""

    def __init__(self, state: RunState, version: int, enabled: bool, carried: bool) -> None:
        self._state = state
        self._version = version
        self._enabled = enabled
        # a run continued as new sent everything before it continued (:meth:`drain`)
        self._sent = len(state.transitions) if carried else -1  # -1: run_started not sent
        self._task: asyncio.Task[None] | None = None
        self._checked = False

    def _on(self) -> bool:
        if not self._enabled:
            return False
        if not self._checked:
            self._checked = True
            self._enabled = patches.patched(patches.EVENTS_OUT)
        return self._enabled

    def kick(self) -> None:
        """Start sending the new transitions, unless a send is under way (it sends them)."""
        if not self._on() or self._task is not None or not self._pending():
            return
        self._task = asyncio.create_task(self._send_all())

    async def drain(self) -> None:
        """Send everything recorded so far and wait for it (continue-as-new, the run's end)."""
        if not self._on():
            return
        try:  # a cancel request meanwhile (the run has ended): the send goes on unwaited
            if self._task is not None:
                await asyncio.shield(self._task)
            if self._pending():
                self._task = asyncio.create_task(self._send_all())
                await asyncio.shield(self._task)
        except asyncio.CancelledError:
            pass

    def _pending(self) -> bool:
        return self._sent < len(self._state.transitions)

    async def _send_all(self) -> None:
        try:
            while self._pending():
                await self._send()
        finally:
            self._task = None

    async def _send(self) -> None:
        state = self._state
        entries: list[dict[str, Any]] = []
        if self._sent < 0:
            at = state.started_at or workflow.now()
            stamp = at.isoformat().replace("+00:00", "Z")
            entries.append({"seq": 0, "at": stamp, "type": "run_started", "step": None})
            self._sent = 0
        first = self._sent
        entries.extend(state.transitions[first:])
        self._sent = len(state.transitions)
        batch = Lifecycle(
            run_id=state.run_id,
            workflow=state.workflow,
            version=self._version,
            tenant=state.tenant,
            transitions=entries,
        )
        try:  # `_sent` moved on: not sent again, recorded as not delivered below
            await workflow.execute_local_activity(
                ACTIVITY,
                batch,
                result_type=Delivered,
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
                cancellation_type=ActivityCancellationType.ABANDON,
            )
        except FailureError as exc:  # an ActivityError, or (local, attempts spent) its cause
            cause = exc.cause if isinstance(exc, ActivityError) and exc.cause else exc
            message = getattr(cause, "message", None) or str(cause)
            workflow.logger.warning("lifecycle events not delivered: %s", message)
            first, last = entries[0]["seq"], entries[-1]["seq"]
            state.record(
                workflow.now(), "events_out_failed", None, first=first, last=last, error=message
            )
