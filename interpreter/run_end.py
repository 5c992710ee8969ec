"""How a run ends: its running steps cancelled, its result built, its final state recorded and
its end reported (a local activity: :mod:`telemetry.run_report`).

:class:`RunEnding` is mixed into :class:`interpreter.workflow.InterpreterWorkflow`, whose
``run`` calls it on every way out (succeeded, failed, cancelled). The other mixins' methods it
calls are declared for type checking only, so that no stub here can shadow them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from interpreter import graph, patches
    from interpreter.errors import ExpressionError
    from interpreter.events_out import Outbox
    from interpreter.expr import Scope, resolve
    from interpreter.finalview import keep_final_view
    from interpreter.request import RunRequest
    from interpreter.spec import Definition
    from interpreter.state import RunFailure, RunState
    from interpreter.topology import EdgePair
    from telemetry import spans
    from telemetry.run_report import ACTIVITY as REPORT_ACTIVITY
    from telemetry.run_report import RunReport
    from telemetry.trace_context import TraceContext

REPORT_PATCH = "run-report-activity"
"""Runs recorded before the end-of-run report activity existed replay without it."""
LOCAL_REPORT_PATCH = "run-report-local"
"""Runs recorded before the end-of-run report became a local activity (one more activity task
and workflow task a run) replay with the activity they scheduled."""


class RunEnding:
    """The end of a run, mixed into the interpreter workflow (see the module docstring)."""

    request: RunRequest
    definition: Definition
    state: RunState
    trace_context: TraceContext
    _order: list[str]
    _edges: list[EdgePair]
    _tasks: dict[str, asyncio.Task[None]]
    _outbox: Outbox
    _releasing: set[asyncio.Task[None]]

    if TYPE_CHECKING:  # the workflow's and the other mixins' (interpreter.run_queries, ...)

        def _current_scope(self) -> Scope: ...

        def status(self) -> dict[str, Any]: ...

        def compensation_report(self) -> dict[str, Any]: ...

    async def _cancel_running(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _result(self) -> Any:
        if self.definition.output is None:
            sinks = graph.sinks(self._order, self._edges)
            steps = self.state.steps
            return {s: steps[s].output for s in sinks if steps[s].status == "succeeded"}
        try:
            return resolve(self.definition.output, self._current_scope())
        except ExpressionError as exc:
            raise RunFailure("ExpressionError", f"output: {exc}") from None

    def _finish(self, status: str, result: Any = None, error: dict[str, Any] | None = None) -> None:
        self.state.status = status
        self.state.ended_at = workflow.now()
        self.state.result = result
        self.state.error = error
        for step in self.state.steps.values():
            if step.status in ("queued", "running", "waiting"):
                step.status = "cancelled"
                self.state.record(self.state.ended_at, "step_cancelled", step.id)
        self.state.record(self.state.ended_at, f"run_{status}", None, error=error)
        keep_final_view(self.status)  # the API reads an ended run without a worker
        spans.run_ended(self.state.run_id)

    async def _report(self) -> None:
        """The run's end, reported by a local activity: its span and its count
        (telemetry.run_report, which says what "once" means there).

        Telemetry never changes how a run ends: a report that cannot be made is dropped, and a
        cancel request that arrives while it is made is ignored (the run has ended; the report
        is abandoned, not cancelled). Runs recorded before the local report replay with the
        activity they scheduled (``REPORT_PATCH``), or without a report.
        """
        await self._outbox.drain()  # the run's last lifecycle events (interpreter.events_out)
        if self._releasing:  # the last limiter slots given back (interpreter.quota)
            await asyncio.wait(list(self._releasing))
        local = patches.patched(LOCAL_REPORT_PATCH)
        if not local and not patches.patched(REPORT_PATCH):
            return
        state = self.state
        report = RunReport(
            run_id=state.run_id,
            workflow=self.definition.name,
            version=self.request.version,
            tenant=self.request.tenant,
            status=state.status,
            error=state.error,
            started_at=state.started_at or workflow.now(),
            ended_at=state.ended_at or workflow.now(),
            **self.compensation_report(),
            **RunReport.ids(self.trace_context),
        )
        options: dict[str, Any] = {
            "start_to_close_timeout": timedelta(seconds=10),
            "retry_policy": RetryPolicy(maximum_attempts=3),
            "cancellation_type": ActivityCancellationType.ABANDON,
        }
        try:
            if local:
                await workflow.execute_local_activity(REPORT_ACTIVITY, report, **options)
            else:
                await workflow.execute_activity(REPORT_ACTIVITY, report, **options)
        except FailureError as exc:  # failed (a local activity out of attempts raises its own
            # error, not an ActivityError), or the wait cancelled (a late cancel request)
            if not is_cancelled_exception(exc):
                workflow.logger.warning("the run's end was not reported (telemetry only)")
        except asyncio.CancelledError:  # the worker evicts the run meanwhile
            pass
