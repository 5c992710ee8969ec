"""Breakpoints: a run that stops before a step starts or after it ran, and the ``continue``
update and signal that let it go on, with the step's input or output edited.

:class:`Breakpoints` is mixed into :class:`interpreter.workflow.InterpreterWorkflow`, before
:class:`interpreter.pausing.Pausing`. A step has a breakpoint when the run was started with one
(:attr:`interpreter.request.RunRequest.breakpoints`) or its definition says ``breakpoint:
before | after | both``. Only top-level steps have breakpoints, and only in a run that is not a
subflow's child (items of a ``parallel``, compensations and a subflow's steps do not stop).

- **before**: the step's fields are resolved and shown as its ``input``; it is not started (status
  ``at_breakpoint``, no ``step_started`` until it goes on). ``continue`` may give a new
  ``input``: an object whose keys are fields of the step's kind; each replaces the resolved
  field of that name (the others stay as resolved). A ``repeat`` step stops before its first
  iteration only; a step whose fields cannot be resolved fails without stopping.
- **after**: the step ran and succeeded; its output is held (shown as its ``output``, status
  ``at_breakpoint``), its outgoing edges are not decided yet. ``continue`` may give a new
  ``output``, whole, checked like a fork's edit (:mod:`interpreter.edits`). A step that fails
  does not stop.

While a step is held the run is paused (:mod:`interpreter.pausing`: no new step starts, running
steps finish, waiting people still answer, timers and the run's ``timeout`` keep counting): its
``paused`` view says ``reason: breakpoint`` and ``at: {step, when}``. Steps running meanwhile
may reach breakpoints of their own: they queue, ``paused.at`` names the first, and each is
continued by name. ``continue`` releases one step; the run goes on when none is held. A plain
``resume`` releases every held step unedited. A run does not continue as new while a step is
held (it waits for it); the breakpoints themselves are part of the run's request and so apply
after a continue-as-new too. Cancelling the run, or its ``timeout``, cancels a held step.

The ``continue`` update is validated (refused, the run unchanged: the run has ended, it holds
no step, it holds another step, the edit does not fit); the signal of the same name does the
same fire-and-forget and records a refused one in ``events`` (``continue_rejected``).
Transitions: ``breakpoint_hit`` (``when``) and ``breakpoint_continued`` (``when``, ``edited``,
``by``). Runs recorded before breakpoints existed replay as they ran: the patch
:data:`BREAKPOINT_PATCH` is asked only of a step that has a breakpoint.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict
from temporalio import workflow

from interpreter import patches
from interpreter.pausing import (
    MAX_BY,
    PAUSED_MEMO,
    Paused,
    PauseRequest,
    Pausing,
    _raise_if_problem,
)

with workflow.unsafe.imports_passed_through():
    from interpreter.edits import output_problem
    from interpreter.kinds.base import Invocation
    from interpreter.request import RunRequest
    from interpreter.spec import StepSpec
    from interpreter.state import RunEvent, RunFailure, RunState, StepState
    from interpreter.values import describe, find_problem
    from telemetry import spans

CONTINUE: Final = "continue"
"""Name of the update and of the signal that let a run held at a breakpoint go on."""
BREAKPOINT_PATCH = patches.BREAKPOINTS
"""Runs recorded before breakpoints existed replay without them."""
AT_BREAKPOINT: Final = "at_breakpoint"
"""The status of a held step."""
REASON: Final = "breakpoint"
"""The ``paused.reason`` of a run held at a breakpoint."""


class ContinueRequest(BaseModel):
    """The payload of ``continue``.

    Attributes:
        step: The held step to let go on.
        input: Before a step: fields replacing the resolved ones (omit: as resolved).
        output: After a step: the output replacing the held one (omit: as it ran).
        by: Who continues (the API fills it from the caller's identity).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: str
    input: Any = None
    output: Any = None
    by: str | None = None

    def edit(self) -> tuple[str, Any] | None:
        """``("input" | "output", value)`` when an edit is given (even ``null``)."""
        for name in ("input", "output"):
            if name in self.model_fields_set:
                return name, getattr(self, name)
        return None


@dataclass
class Stop:
    """A step held at a breakpoint."""

    step: str
    when: str
    since: datetime
    value: Any
    """The resolved fields (before) or the held output (after)."""
    fields: dict[str, Any] = field(default_factory=dict)
    """The step's resolved fields (its ``form`` or ``output_schema`` checks an edited output)."""
    released: bool = False
    edit: tuple[str, Any] | None = None
    by: str | None = None


class Breakpoints(Pausing):
    """Breakpoints and ``continue``, mixed into the interpreter workflow (module docstring)."""

    request: RunRequest
    state: RunState
    _specs: dict[str, StepSpec]
    _changed: bool
    _stops: tuple[Stop, ...] = ()
    _whens: dict[str, frozenset[str]] | None = None

    # ---- which steps stop ----------------------------------------------------------------

    def _break_whens(self, step_id: str) -> frozenset[str]:
        """``before`` and/or ``after``: where step ``step_id`` stops (empty: nowhere)."""
        if self._whens is None:
            self._whens = self._all_whens()
        return self._whens.get(step_id, frozenset())

    def _all_whens(self) -> dict[str, frozenset[str]]:
        """Where each step that has a breakpoint stops (none in a subflow's child run)."""
        if self.request.parent is not None:
            return {}
        whens: dict[str, set[str]] = {}
        asked = self.request.breakpoints
        if asked is not None:
            for when, ids in (("before", asked.before), ("after", asked.after)):
                for sid in ids:
                    whens.setdefault(sid, set()).add(when)
        for sid, spec in self._specs.items():
            if spec.breakpoint is not None:
                both = ("before", "after") if spec.breakpoint == "both" else (spec.breakpoint,)
                whens.setdefault(sid, set()).update(both)
        return {sid: frozenset(w) for sid, w in whens.items()}

    def _stops_at(self, step_id: str, when: str) -> bool:
        return when in self._break_whens(step_id) and patches.patched(BREAKPOINT_PATCH)

    def check_breakpoints(self) -> None:
        """Fail a run started with breakpoints at steps it does not have.

        Raises:
            RunFailure: ``InvalidBreakpoints`` naming the unknown step ids.
        """
        asked = self.request.breakpoints
        unknown = asked.unknown(self.request.definition) if asked is not None else []
        if unknown:
            names = ", ".join(f"'{sid}'" for sid in unknown)
            message = f"breakpoints: workflow '{self.state.workflow}' has no step {names}"
            raise RunFailure("InvalidBreakpoints", message, {"steps": unknown})

    def breaks_before(self, step_id: str) -> bool:
        """Whether the step stops before it starts (then ``_start`` leaves it unstarted)."""
        return self._stops_at(step_id, "before")

    def breakpoints_view(self) -> dict[str, dict[str, list[str]]]:
        """``{"breakpoints": {before, after}}``, the steps that stop, for the ``status`` query;
        empty when none does (the key is absent then)."""
        if self._whens is None:
            self._whens = self._all_whens()
        if not self._whens:
            return {}
        before = [sid for sid in self._specs if "before" in self._break_whens(sid)]
        after = [sid for sid in self._specs if "after" in self._break_whens(sid)]
        return {"breakpoints": {"before": before, "after": after}} if before or after else {}

    # ---- holding a step (what the step's task awaits) ------------------------------------

    async def stop_before(self, inv: Invocation, fields: dict[str, Any]) -> dict[str, Any]:
        """Hold a step at its before breakpoint; the fields it starts with (maybe edited)."""
        step = self.state.steps.get(inv.step_id)
        if inv.path != inv.step_id or step is None or step.status != AT_BREAKPOINT:
            return fields
        step.input = fields
        stop = await self._hold(step, "before", fields, fields)
        if stop.edit is not None:
            fields = {**fields, **stop.edit[1]}
        step.status = "running"
        step.started_at = workflow.now()
        self.state.record(step.started_at, "step_started", step.id)
        return fields

    async def stop_after(self, step: StepState, output: Any) -> Any:
        """Hold a step's output at its after breakpoint; the output it ends with."""
        if not self._stops_at(step.id, "after"):
            return output
        status = step.status
        step.status, step.output = AT_BREAKPOINT, output
        stop = await self._hold(step, "after", output, step.input or {})
        step.status = status
        return stop.edit[1] if stop.edit is not None else output

    async def _hold(self, step: StepState, when: str, value: Any, fields: dict[str, Any]) -> Stop:
        now = workflow.now()
        stop = Stop(step=step.id, when=when, since=now, value=value, fields=fields)
        step.status = AT_BREAKPOINT
        self._stops = (*self._stops, stop)
        self.state.record(now, "breakpoint_hit", step.id, when=when)
        spans.breakpoint_hit(self.state.workflow, when)
        self._show_stop()
        try:
            await workflow.wait_condition(lambda: stop.released)
        except asyncio.CancelledError:  # the run ends (cancelled, timed out): nothing is held
            self._stops = tuple(s for s in self._stops if s is not stop)
            self._show_stop()
            raise
        return stop

    def _show_stop(self) -> None:
        """``paused`` names the first held step (or is cleared when none is held)."""
        if self._stops:
            first = self._stops[0]
            self._paused = Paused(at=first.since, reason=REASON, step=first.step, when=first.when)
        elif self._paused is not None and self._paused.reason == REASON:
            self._paused = None
        workflow.upsert_memo({PAUSED_MEMO: self.paused_view()})
        self._changed = True

    # ---- continue ------------------------------------------------------------------------

    @workflow.update(name=CONTINUE)
    def continue_(self, request: ContinueRequest) -> dict[str, Any]:
        """Let a held step go on, maybe edited; ``{status, paused, step, when, edited}``."""
        stop = self._release(request)
        return {
            **self._answer(changed=True),
            "step": stop.step,
            "when": stop.when,
            "edited": stop.edit is not None,
        }

    @continue_.validator
    def _validate_continue(self, request: ContinueRequest) -> None:
        _raise_if_problem(self._continue_problem(request))

    @workflow.signal(name=CONTINUE)
    def continue_signal(self, request: ContinueRequest) -> None:
        """Fire-and-forget ``continue``: a refused one is recorded in ``events``."""
        problem = self._continue_problem(request)
        if problem is None:
            self._release(request)
            return
        workflow.logger.warning("continue signal rejected: %s", problem[1])
        self.state.events.append(
            RunEvent(workflow.now(), "continue_rejected", request.step, problem[1])
        )

    def _continue_problem(self, request: ContinueRequest) -> tuple[str, str] | None:
        """Why ``request`` cannot be taken now, as ``(reason, message)``; None when it can.

        Reasons: ``ended``, ``not_at_breakpoint``, ``wrong_step`` (the run's state does not
        allow it), ``invalid`` (the payload).
        """
        run = self.state.run_id
        if self.state.status != "running":
            return "ended", f"run '{run}' has ended ({self.state.status}): cannot continue it"
        if not self._stops:
            state = "paused" if self._paused is not None else "running"
            return "not_at_breakpoint", f"run '{run}' is not at a breakpoint ({state})"
        stop = next((s for s in self._stops if s.step == request.step), None)
        if stop is None:
            held = ", ".join(f"{s.when} '{s.step}'" for s in self._stops)
            return "wrong_step", f"run '{run}' is not held at step '{request.step}' (held: {held})"
        if request.by is not None and len(request.by) > MAX_BY:
            return "invalid", f"by: at most {MAX_BY} characters (got {len(request.by)})"
        edit = request.edit()
        if edit is None:
            return None
        name, value = edit
        if (name == "input") != (stop.when == "before"):
            other = "input" if stop.when == "before" else "output"
            held = "before it starts" if stop.when == "before" else "after it ran"
            message = f"step '{stop.step}' is held {held}: give `{other}`, not `{name}`"
            return "invalid", message
        problem = self._edit_problem(stop, name, value)
        return None if problem is None else ("invalid", f"{name}: {problem}")

    def _edit_problem(self, stop: Stop, name: str, value: Any) -> str | None:
        spec = self._specs[stop.step]
        if name == "output":
            kind = spec.kind
            schema = stop.fields.get("form" if kind == "human" else "output_schema")
            return output_problem(kind, stop.step, schema, value)
        if not isinstance(value, dict):
            return "an object of the step's fields (as its `input` shows them)"
        unknown = sorted(k for k in value if k not in stop.value)
        if unknown:
            known = ", ".join(sorted(stop.value)) or "none"
            return f"a {spec.kind} step has no field {unknown[0]!r} (its fields: {known})"
        carried = find_problem(value)
        if carried is not None:
            return f"{describe('input', carried[0])}: {carried[1]}"
        return None

    def _release(self, request: ContinueRequest) -> Stop:
        stop = next(s for s in self._stops if s.step == request.step)
        self._let_go(stop, request.edit(), request.by)
        return stop

    def _let_go(self, stop: Stop, edit: tuple[str, Any] | None, by: str | None) -> None:
        stop.released, stop.edit, stop.by = True, edit, by
        self._stops = tuple(s for s in self._stops if s is not stop)
        self.state.record(
            workflow.now(),
            "breakpoint_continued",
            stop.step,
            when=stop.when,
            edited=edit is not None,
            by=by,
        )
        self._show_stop()

    def _set_paused(self, pause: bool, request: PauseRequest | None) -> dict[str, Any]:
        """A plain ``resume`` also releases every held step, unedited."""
        if not pause and self._stops:
            by = request.by if request else None
            for stop in self._stops:
                self._let_go(stop, None, by)
            if self._paused is None:  # the last release cleared the breakpoint's pause
                return self._answer(changed=True)
        return super()._set_paused(pause, request)
