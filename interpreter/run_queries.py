"""What a run answers while it runs: the ``status``, ``step`` and ``transitions`` queries, and the
attempt signal its step activities send when they retry.

:class:`RunQueries` is mixed into :class:`interpreter.workflow.InterpreterWorkflow`. The parts
of the view that other mixins own (waiting humans, breakpoints, compensation, event waits,
pause) come from them; their methods are declared here for type checking only, so that no stub
of this class can shadow the real method in the workflow's method resolution order.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from interpreter.request import (
        ATTEMPT_SIGNAL,
        STATUS_QUERY,
        STEP_QUERY,
        TRANSITIONS_QUERY,
        AttemptReport,
    )
    from interpreter.state import RunState
    from interpreter.viewsize import bounded_view

if TYPE_CHECKING:
    from interpreter.compensation import Compensation


class RunQueries:
    """The run's queries and attempt signal, mixed into the interpreter workflow."""

    state: RunState
    _compensation: Compensation | None

    if TYPE_CHECKING:  # the other mixins' (interpreter.answers, .breakpoints, ...)

        def pending_entries(self) -> list[dict[str, Any]]: ...

        def breakpoints_view(self) -> dict[str, dict[str, list[str]]]: ...

        def compensation_view(self) -> dict[str, Any] | None: ...

        def compensation_attempt(self, path: str, attempt: int) -> bool: ...

        def event_entries(self) -> list[dict[str, Any]]: ...

        def paused_view(self) -> dict[str, Any] | None: ...

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> dict[str, Any]:
        """Every step's status, attempts, timings, resolved input, output or error, plus the
        human steps waiting for an answer (those of subflows too, by path); values above a
        size are markers (:mod:`interpreter.viewsize`)."""
        view = {**self.state.view(), "pending_human": self.pending_entries()}
        view.update(self.breakpoints_view())  # {"breakpoints": ...} when any step has one
        if self._compensation is not None:
            view["compensation"] = self.compensation_view()
        view["pending_events"] = self.event_entries()
        return bounded_view({**view, "paused": self.paused_view()})

    @workflow.query(name=STEP_QUERY)
    def step(self, step_id: str) -> dict[str, Any] | None:
        """One step as in ``status``, with its input and output whole; None: no such step."""
        step = self.state.steps.get(step_id)
        return step.status_view() if step is not None else None

    @workflow.query(name=TRANSITIONS_QUERY)
    def transitions(self, after: int = 0) -> dict[str, Any]:
        """The step and run transitions after sequence number ``after``, and the run's status."""
        return {"status": self.state.status, "transitions": self.state.transitions_after(after)}

    @workflow.signal(name=ATTEMPT_SIGNAL)
    def attempt_started(self, report: AttemptReport) -> None:
        """A step activity began a retry attempt: live attempt count and a retrying transition."""
        if self.compensation_attempt(report.path, report.attempt):
            return
        match = _STEP_ID.match(report.path)
        step = self.state.steps.get(match.group(0)) if match else None
        if step is None or step.done:
            return
        if report.path.split("#")[0] == step.id:
            step.attempts = max(step.attempts, report.attempt)
        path = None if report.path == step.id else report.path
        self.state.record(
            workflow.now(), "step_retrying", step.id, attempt=report.attempt, path=path
        )


_STEP_ID = re.compile(r"[a-z][a-z0-9_]*")
