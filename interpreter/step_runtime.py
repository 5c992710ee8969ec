"""What the interpreter workflow offers the kinds besides waits, holds and running specs: the
run's CEL scope, who a step works for, and where a top-level step's fields, attempts and
progress are recorded (the plain part of :class:`interpreter.kinds.base.Runtime`).

:class:`StepRuntime` is the FIRST base of :class:`interpreter.workflow.InterpreterWorkflow`:
other mixins declare some of its methods (``_current_scope``, ``_run_info``, ``child_id``) as
stubs that raise, and the first base wins in the method resolution order
(``tests/interpreter/test_workflow_mixins.py`` checks that no stub is what the workflow runs).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contract import RunRef
    from interpreter.expr import Entries, Scope
    from interpreter.kinds.base import Invocation
    from interpreter.pacing import Pacer
    from interpreter.request import RunRequest
    from interpreter.scheduling import Scheduler
    from interpreter.spec import Definition
    from interpreter.state import RunState


class StepRuntime:
    """The kinds' view of the run, mixed into the interpreter workflow (module docstring)."""

    request: RunRequest
    definition: Definition
    state: RunState
    _scheduler: Scheduler
    _base_scope: Scope | None
    _scope: Scope | None
    _steps_cel: Entries
    _pacer: Pacer

    def _run_info(self) -> dict[str, Any]:
        return {
            "id": self.state.run_id,
            "workflow": self.definition.name,
            "version": self.request.version,
            "tenant": self.request.tenant,
            "started_at": _iso(self.state.started_at),
        }

    def _current_scope(self) -> Scope:
        if self._scope is None:
            assert self._base_scope is not None
            view = self.state.steps_view()
            select = self.state.views_convert()
            self._scope = self._base_scope.with_entries(
                "steps", view, self._steps_cel, select=select
            )
        return self._scope

    async def pace(self) -> None:
        """Count a step starting; wait for a pause when the run has worked long enough."""
        await self._pacer.pace()

    def run_ref(self, path: str) -> RunRef:
        """Who a step activity works for."""
        return RunRef(
            run_id=self.state.run_id,
            workflow=self.definition.name,
            tenant=self.request.tenant,
            step=path,
        )

    def child_id(self, path: str) -> str:
        """Child workflow ids are ``<run id>/<step path>``."""
        return f"{self.state.run_id}/{path}"

    def record_input(self, inv: Invocation, fields: dict[str, Any]) -> None:
        """Record a top-level step's resolved fields (the latest iteration's)."""
        if _top_level(inv):
            self.state.steps[inv.step_id].input = fields

    def report_attempts(self, inv: Invocation, attempts: int | None) -> None:
        """Record the attempts of a top-level step's activity."""
        if _top_level(inv) and attempts is not None:
            self.state.steps[inv.step_id].attempts = attempts

    def set_progress(self, inv: Invocation, progress: dict[str, int]) -> None:
        """Record a parallel step's progress (top-level steps only)."""
        if _top_level(inv):
            self.state.steps[inv.step_id].progress = dict(progress)

    def default_sources(self, step_id: str) -> list[str]:
        """Sources of the step's incoming edges, in ``steps`` order."""
        return self._scheduler.sources(step_id)


def _top_level(inv: Invocation) -> bool:
    """The invocation is a top-level step (or one of its repeat iterations), not an item."""
    return inv.path.split("#")[0] == inv.step_id


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
