"""Compensation (the saga's undo): running the ``compensate`` spec of every succeeded step, in
reverse topological order, and what the run's view says about it.

:class:`Compensating` is mixed into :class:`interpreter.workflow.InterpreterWorkflow`. A run
compensates in one of two ways:

- **manual**: ``POST /v1/runs/{id}/compensate`` (:mod:`api.compensation`) starts a *new* run
  seeded (:mod:`interpreter.seed`, mode ``compensate``) with the original's ended steps. That
  run schedules none of the workflow's steps: it compensates, and ends ``succeeded`` when every
  compensation succeeded, else ``failed`` with ``CompensationFailed``;
- **automatic**: a definition with ``compensate_on: [failed, cancelled]`` compensates its own
  run when the run fails (a run ``timeout`` fails it: ``timed_out`` is ``failed`` here) or is
  cancelled, before the run ends; the compensations are shielded from the cancellation, and the
  run then ends as it would have (``failed`` or ``cancelled``, with the original error). A
  run with nothing to compensate (no succeeded step has ``compensate``) ends without a
  compensation.

The steps compensated are those that succeeded and have a ``compensate`` spec, latest first:
the reverse of a topological order whose ties keep the ``steps`` list order (so a chain
``a -> b -> c`` compensates ``c``, ``b``, ``a``; steps with no path between them, the later one
in ``steps`` first). One at a time; each is an ordinary step execution (its kind, ``timeout``,
``retry``, ``repeat``, attempts), named ``<step>.compensate`` (its activity id, its child
workflow's id ``<run>/<step>.compensate``). Its CEL scope is the run's (``input``, ``steps``,
``run``) plus ``step``: ``{id, kind, input, output}`` of the step it undoes (its resolved input
and its output). A failed compensation does not stop the others; the compensation then ends
``compensation_failed`` and names the steps. ``human`` and ``branch`` specs cannot compensate
(lint refuses them; at run time such a compensation fails with ``UnsupportedCompensation``). A
pause does not hold compensations back.

The ``status`` query shows ``compensation``: ``{status, mode, steps}`` with ``status`` one of
``compensating``, ``compensated``, ``compensation_failed``, ``compensation_cancelled`` (a manual
compensation run that was cancelled) and ``steps`` one entry per step to compensate, in order.
The transition log has ``compensation_started``, ``step_compensating``, a
``step_compensation_retrying`` per retry attempt, ``step_compensated`` or
``step_compensation_failed`` per step, and ``compensation_ended``. Runs recorded before
compensation existed never ask for :data:`COMPENSATE_PATCH` (they have no ``compensate_on``
and no compensation seed), so they replay as they ran.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

from temporalio import workflow

from interpreter import patches

with workflow.unsafe.imports_passed_through():
    from activities.contract import RunRef
    from interpreter.event_waits import EventWait
    from interpreter.expr import Scope
    from interpreter.kinds.base import Invocation, Runtime
    from interpreter.request import RunRequest
    from interpreter.spec import Definition, StepSpec
    from interpreter.state import PendingHuman, RunFailure, RunState, StepError, StepState
    from interpreter.steps import run_spec
    from interpreter.topology import topological_order

COMPENSATE_PATCH: Final = "compensate-steps"
"""Runs recorded before compensation ran replay without it."""
SUFFIX: Final = ".compensate"
"""What a compensation's path adds to the step's id (``pay.compensate``)."""
UNSUPPORTED: Final = frozenset({"human", "branch", "event"})
"""Kinds a compensation may not have."""


def compensation_order(definition: Definition, succeeded: set[str]) -> list[str]:
    """The steps to compensate, in order: of ``succeeded``, those with ``compensate``, in the
    reverse of the definition's topological order (ties keep ``steps`` order, reversed)."""
    specs = {s.id: s for s in definition.steps}
    order = topological_order(definition)
    return [
        sid for sid in reversed(order) if sid in succeeded and specs[sid].compensate is not None
    ]


@dataclass
class Compensation:
    """A run's compensation: its mode, its status and one state per step it compensates."""

    mode: str
    status: str = "compensating"
    order: list[str] = field(default_factory=list)
    steps: dict[str, StepState] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """The ``compensation`` entry of the ``status`` query."""
        return {
            "status": self.status,
            "mode": self.mode,
            "steps": [{**self.steps[sid].status_view(), "step": sid} for sid in self.order],
        }

    def failed(self) -> list[str]:
        """The steps whose compensation failed, in order."""
        return [sid for sid in self.order if self.steps[sid].status == "failed"]


class Compensating:
    """Compensation, mixed into the interpreter workflow (see the module docstring)."""

    request: RunRequest
    definition: Definition
    state: RunState
    _specs: dict[str, StepSpec]
    _compensation: Compensation | None = None

    def _current_scope(self) -> Scope:
        raise NotImplementedError  # pragma: no cover - the workflow's

    def compensation_view(self) -> dict[str, Any] | None:
        """The ``compensation`` entry of the ``status`` query (None: it never compensated)."""
        return self._compensation.view() if self._compensation is not None else None

    def compensation_report(self) -> dict[str, Any]:
        """The compensation fields of the run's end report (none when it never compensated)."""
        comp = self._compensation
        if comp is None:
            return {}
        return {"compensation": comp.status, "compensation_mode": comp.mode}

    def compensation_attempt(self, path: str, attempt: int) -> bool:
        """Take a retry attempt of a compensation's activity (``<step>.compensate...``): its
        live attempt count and a ``step_compensation_retrying`` transition. False: the path is
        no compensation's (the run has not compensated: runs recorded before go on as they did).
        """
        comp = self._compensation
        if comp is None or SUFFIX not in path:
            return False
        sid, _, rest = path.partition(SUFFIX)
        step = comp.steps.get(sid)
        if step is None or step.status != "running":
            return True
        if rest == "" or rest.startswith("#"):
            step.attempts = max(step.attempts, attempt)
        where = None if rest == "" else path
        self.state.record(
            workflow.now(), "step_compensation_retrying", sid, attempt=attempt, path=where
        )
        return True

    def compensation_run(self) -> bool:
        """Whether this run was started to compensate another (a seed of mode ``compensate``)."""
        seed = self.request.seed
        return seed is not None and seed.mode == "compensate" and self.request.carry is None

    async def compensate_run(self) -> dict[str, Any]:
        """A manual compensation run's work; its result is its ``compensation`` view.

        Raises:
            RunFailure: ``CompensationFailed``, naming the steps whose compensation failed.
        """
        if not patches.patched(COMPENSATE_PATCH):  # never reached: no such seed before it
            return {}
        compensation = await self._compensate("manual")
        failed = compensation.failed()
        if failed:
            raise RunFailure(
                "CompensationFailed",
                "compensation failed for step" + ("s " if len(failed) > 1 else " ")
                + ", ".join(f"'{sid}'" for sid in failed),
                {"steps": failed},
            )  # fmt: skip
        return compensation.view()

    async def compensate_at_end(self, status: str) -> None:
        """Compensate before the run ends ``status`` when its definition asks for it, shielded
        from a cancellation (the run ends as it would have afterwards)."""
        if self._compensation is not None or status not in self.definition.compensate_on:
            return
        if not self._to_compensate() or not patches.patched(COMPENSATE_PATCH):
            return  # nothing succeeded that has a compensation: the run ends as it would
        task = asyncio.create_task(self._compensate("auto"))
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:  # a cancel request meanwhile: compensate anyway
                continue

    def _to_compensate(self) -> list[str]:
        succeeded = {sid for sid, s in self.state.steps.items() if s.status == "succeeded"}
        return compensation_order(self.definition, succeeded)

    async def _compensate(self, mode: str) -> Compensation:
        order = self._to_compensate()
        compensation = Compensation(mode=mode, order=order)
        for sid in order:
            spec = self._specs[sid].compensate
            assert spec is not None
            compensation.steps[sid] = StepState(id=sid, kind=spec.kind)
        self._compensation = compensation
        self.state.record(workflow.now(), "compensation_started", None, mode=mode, steps=order)
        try:
            for sid in order:
                await self._compensate_one(sid, compensation.steps[sid])
        except asyncio.CancelledError:
            compensation.status = "compensation_cancelled"
            self.state.record(workflow.now(), "compensation_ended", None, status="cancelled")
            raise
        failed = compensation.failed()
        compensation.status = "compensation_failed" if failed else "compensated"
        self.state.record(
            workflow.now(), "compensation_ended", None, status=compensation.status, failed=failed
        )
        return compensation

    async def _compensate_one(self, sid: str, comp: StepState) -> None:
        spec = self._specs[sid].compensate
        assert spec is not None
        original = self.state.steps[sid]
        comp.status, comp.started_at = "running", workflow.now()
        if spec.kind not in ("llm", "tool", "code"):
            comp.attempts = 1
        self.state.record(comp.started_at, "step_compensating", sid)
        subject = {"id": sid, "kind": original.kind, "input": original.input}
        scope = self._current_scope().child(step={**subject, "output": original.output})
        inv = Invocation(spec=spec, step_id=sid, path=sid + SUFFIX, scope=scope, layers=(spec,))
        try:
            if spec.kind in UNSUPPORTED:
                raise StepError("UnsupportedCompensation", f"a {spec.kind} step cannot compensate")
            comp.output = await run_spec(_Runtime(self, comp), inv)
            comp.status = "succeeded"
        except StepError as exc:
            comp.status, comp.error = "failed", exc
            if exc.attempts is not None:
                comp.attempts = exc.attempts
        except RunFailure as failure:
            comp.status, comp.error = "failed", StepError(failure.type, failure.message)
        except asyncio.CancelledError:
            comp.status, comp.ended_at = "cancelled", workflow.now()
            self.state.record(comp.ended_at, "step_compensation_cancelled", sid)
            raise
        except Exception as exc:  # a bug in a kind: this compensation fails, the others run
            workflow.logger.exception("compensation of %r failed unexpectedly", sid)
            comp.status = "failed"
            comp.error = StepError("InternalError", f"'{sid}{SUFFIX}': {type(exc).__name__}")
        comp.ended_at = workflow.now()
        kind = "step_compensated" if comp.status == "succeeded" else "step_compensation_failed"
        error = comp.error.as_json() if comp.error else None
        self.state.record(comp.ended_at, kind, sid, error=error)


class _Runtime:
    """The run as a compensation's kind sees it: the workflow's, except that the resolved
    input, attempts and progress go to the compensation's state, and nothing drains or holds."""

    def __init__(self, run: Any, comp: StepState) -> None:
        self._run: Runtime = run
        self._comp = comp
        self.request = run.request
        self.definition = run.definition
        self.state = run.state

    def run_ref(self, path: str) -> RunRef:
        return self._run.run_ref(path)

    def child_id(self, path: str) -> str:
        return self._run.child_id(path)

    def record_input(self, inv: Invocation, fields: dict[str, Any]) -> None:
        if inv.path.split("#")[0] == inv.step_id + SUFFIX:
            self._comp.input = fields

    def report_attempts(self, inv: Invocation, attempts: int | None) -> None:
        if inv.path.split("#")[0] == inv.step_id + SUFFIX and attempts is not None:
            self._comp.attempts = attempts

    def set_progress(self, inv: Invocation, progress: dict[str, int]) -> None:
        if inv.path == inv.step_id + SUFFIX:
            self._comp.progress = dict(progress)

    def default_sources(self, step_id: str) -> list[str]:
        return self._run.default_sources(step_id)

    def open_human(self, inv: Invocation, fields: dict[str, Any]) -> PendingHuman:
        raise StepError("UnsupportedCompensation", "a human step cannot compensate")

    def close_human(self, inv: Invocation) -> None:
        return None

    def should_drain(self) -> bool:
        return False

    def holding(self) -> bool:
        return False

    async def hold(self) -> None:
        return None

    def may_suspend_waits(self) -> bool:
        return False

    async def stop_before(self, inv: Invocation, fields: dict[str, Any]) -> dict[str, Any]:
        return fields  # a compensation never stops at a breakpoint

    def tell_assignees(self, pending: PendingHuman) -> None:
        return None  # a human step cannot compensate (open_human refuses it)

    def open_event_wait(self, wait: EventWait, *, resumed: bool) -> None:
        raise StepError("UnsupportedCompensation", "an event step cannot compensate")

    def offer_event(self, wait: EventWait, event: Any) -> None:
        return None

    def close_event_wait(self, step: str) -> None:
        return None

    async def run_spec(self, inv: Invocation) -> Any:
        return await run_spec(self, inv)

    async def pace(self) -> None:
        await self._run.pace()
