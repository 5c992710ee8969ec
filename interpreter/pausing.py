"""Pausing and resuming a run: the ``pause`` and ``resume`` updates and signals, and what a
paused run holds back.

:class:`Pausing` is mixed into :class:`interpreter.workflow.InterpreterWorkflow`. A paused run
starts no new step: steps that become ready wait, and steps that cannot run are not skipped
yet either (the scheduler is not asked, so it keeps them as candidates and visits them on
resume, in the order it would have; an edge's ``when`` is evaluated then). Steps already running
finish and their results are recorded, waiting human steps still take answers, timers and the
run's ``timeout`` keep counting: a run that reaches its ``timeout`` while paused fails with
``RunTimeout`` as it would unpaused. A running ``parallel`` with a bound
(``max_concurrency``, or the operator's default bound) starts no new item and a running
``repeat`` no new iteration until the run resumes; a running ``subflow``'s child run is not
paused.

Both actions are idempotent: pausing a paused run, or resuming a running one, succeeds and
changes nothing (``changed`` is false in the answer, no transition is recorded). The update's
validator refuses, with the run unchanged, an action on a run that has decided its end and a
payload whose ``by`` or ``reason`` is too long. The signals do the same fire-and-forget; a
refused signal is recorded in the run's ``events`` (``pause_rejected``, ``resume_rejected``).

A change is recorded in the transition log (``run_paused``, ``run_resumed``, with ``by`` and
``reason`` when given), shown in the ``status`` query under ``paused`` and kept in the run's memo
under :data:`PAUSED_MEMO` (so the API lists paused runs without asking a worker). The paused
state is carried across continue-as-new. Histories recorded before pausing existed replay as
they ran (:data:`PAUSE_PATCH`): a ``pause`` signal such a run received was ignored then, and is
ignored on replay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from interpreter import patches

with workflow.unsafe.imports_passed_through():
    from interpreter.state import RunEvent, RunState

PAUSE: Final = "pause"
"""Name of the update and of the signal that pause a run."""
RESUME: Final = "resume"
"""Name of the update and of the signal that resume a paused run."""
PAUSE_PATCH = "pause-resume"
"""Runs recorded before pause and resume existed replay without them."""
PAUSED_MEMO = "kworkflow.paused"
"""The memo key holding a paused run's ``paused`` view (absent while it is not paused)."""
REFUSED = "ActionRefused"
"""The ApplicationError type of a refused pause or resume; its detail is ``{reason, status}``."""
MAX_BY = 200
"""Most characters of ``by``."""
MAX_REASON = 1000
"""Most characters of ``reason``."""


class PauseRequest(BaseModel):
    """The optional payload of ``pause`` and ``resume``.

    Attributes:
        by: Who asks (the API fills it from the caller's identity).
        reason: Why, for the people reading the run's log.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str | None = None
    reason: str | None = None


class Paused(BaseModel):
    """Since when and why a run is paused (carried across continue-as-new)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    by: str | None = None
    reason: str | None = None
    step: str | None = None
    """At a breakpoint (``reason: breakpoint``): the step it holds (interpreter.breakpoints)."""
    when: str | None = None
    """At a breakpoint: ``before`` or ``after`` the step."""

    def view(self) -> dict[str, Any]:
        """The ``paused`` entry of the ``status`` query (``at`` only at a breakpoint)."""
        view: dict[str, Any] = {"since": _iso(self.at), "by": self.by, "reason": self.reason}
        if self.step is not None:
            view["at"] = {"step": self.step, "when": self.when}
        return view


class Pausing:
    """Pause and resume, mixed into the interpreter workflow (see the module docstring)."""

    state: RunState
    _changed: bool
    _paused: Paused | None = None

    def holding(self) -> bool:
        """Whether the run is paused: the scheduler is not asked to start anything."""
        return self._paused is not None

    async def hold(self) -> None:
        """Wait while the run is paused (a ``repeat`` before its next iteration)."""
        if self._paused is not None:
            await workflow.wait_condition(lambda: self._paused is None)

    def paused_view(self) -> dict[str, Any] | None:
        """The ``paused`` entry of the ``status`` query (None: not paused)."""
        return self._paused.view() if self._paused is not None else None

    # ---- updates -------------------------------------------------------------------------

    @workflow.update(name=PAUSE)
    def pause(self, request: PauseRequest | None = None) -> dict[str, Any]:
        """Pause the run (idempotent); ``{status, paused, changed}``."""
        return self._set_paused(True, request)

    @pause.validator
    def _validate_pause(self, request: PauseRequest | None = None) -> None:
        _raise_if_problem(self._problem("pause", request))

    @workflow.update(name=RESUME)
    def resume(self, request: PauseRequest | None = None) -> dict[str, Any]:
        """Resume a paused run (idempotent); ``{status, paused, changed}``."""
        return self._set_paused(False, request)

    @resume.validator
    def _validate_resume(self, request: PauseRequest | None = None) -> None:
        _raise_if_problem(self._problem("resume", request))

    # ---- signals -------------------------------------------------------------------------

    @workflow.signal(name=PAUSE)
    def pause_signal(self, request: PauseRequest | None = None) -> None:
        """Fire-and-forget ``pause``: a refused one is recorded in ``events``."""
        self._signalled(True, request)

    @workflow.signal(name=RESUME)
    def resume_signal(self, request: PauseRequest | None = None) -> None:
        """Fire-and-forget ``resume``: a refused one is recorded in ``events``."""
        self._signalled(False, request)

    # ---- the change ----------------------------------------------------------------------

    def _signalled(self, pause: bool, request: PauseRequest | None) -> None:
        action = PAUSE if pause else RESUME
        problem = self._problem(action, request)
        if problem is None:
            self._set_paused(pause, request)
            return
        if not patches.patched(PAUSE_PATCH):
            return
        workflow.logger.warning("%s signal rejected: %s", action, problem[1])
        self.state.events.append(RunEvent(workflow.now(), f"{action}_rejected", None, problem[1]))

    def _problem(self, action: str, request: PauseRequest | None) -> tuple[str, str] | None:
        """Why ``action`` cannot be taken now, as ``(reason, message)``; None when it can.

        Reasons: ``ended`` (the run has decided its end), ``invalid`` (a bad payload).
        """
        status = self.state.status
        if status != "running":
            return "ended", f"run '{self.state.run_id}' has ended ({status}): cannot {action} it"
        if request is not None:
            fields = (("by", request.by, MAX_BY), ("reason", request.reason, MAX_REASON))
            for name, value, most in fields:
                if value is not None and len(value) > most:
                    size = len(value)
                    return "invalid", f"{name}: at most {most} characters (got {size})"
        return None

    def _set_paused(self, pause: bool, request: PauseRequest | None) -> dict[str, Any]:
        if not patches.patched(PAUSE_PATCH):  # never reached by a run that could be paused
            return self._answer(changed=False)
        changed = (self._paused is None) == pause
        if changed:
            now = workflow.now()
            by = request.by if request else None
            reason = request.reason if request else None
            self._paused = Paused(at=now, by=by, reason=reason) if pause else None
            kind = "run_paused" if pause else "run_resumed"
            self.state.record(now, kind, None, by=by, reason=reason)
            workflow.upsert_memo({PAUSED_MEMO: self.paused_view()})
            self._changed = True  # wakes the main loop: a resumed run schedules again
        return self._answer(changed=changed)

    def _answer(self, *, changed: bool) -> dict[str, Any]:
        return {"status": self.state.status, "paused": self.paused_view(), "changed": changed}


def _raise_if_problem(problem: tuple[str, str] | None) -> None:
    """Refuse an action: :data:`REFUSED` with ``{"reason": ...}`` as its detail."""
    if problem is not None:
        reason, message = problem
        raise ApplicationError(message, {"reason": reason}, type=REFUSED, non_retryable=True)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
