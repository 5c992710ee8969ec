"""A run's live state: every step's status, timings, input, output and error, as the `status`
query returns it and as CEL sees it under `steps`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from interpreter.expr import cel_convertible

TERMINAL = frozenset({"succeeded", "failed", "skipped", "cancelled"})
"""Step statuses after which a step never changes again."""
_CEL_FIELDS = frozenset({"status", "output", "error", "attempts"})
"""The fields of a step that ``steps.<id>`` shows in CEL (see :meth:`StepState.cel_view`)."""


@dataclass
class StepError(Exception):
    """Why a step failed: the error type (an ApplicationError type or one of ours) and message.

    Attributes:
        type: ``ExpressionError``, ``RepeatExhausted``, the activity's own error type...
        message: For a person.
        attempts: Attempts the failing execution took, when known.
    """

    type: str
    message: str
    attempts: int | None = None

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"

    def as_json(self) -> dict[str, str]:
        """The ``{type, message}`` form used in status and CEL."""
        return {"type": self.type, "message": self.message}


@dataclass
class RunFailure(Exception):
    """Something that fails the whole run, not just a step (an edge `when` that errs...).

    Attributes:
        type: The ApplicationError type the run fails with.
        message: For a person; names the step or edge.
        details: Structured details (the ApplicationError's first detail).
    """

    type: str
    message: str
    details: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class StepState:
    """One step of the definition during a run."""

    id: str
    kind: str
    status: str = "pending"
    attempts: int = 0
    iterations: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    input: Any = None
    output: Any = None
    error: StepError | None = None
    progress: dict[str, int] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in _CEL_FIELDS:
            changed = self.__dict__.get("_changed")  # set by the RunState holding this step
            if changed is not None:
                changed.add(self.id)

    @property
    def done(self) -> bool:
        """The step has reached a final status."""
        return self.status in TERMINAL

    def cel_view(self) -> dict[str, Any]:
        """What ``steps.<id>`` evaluates to in CEL."""
        return {
            "status": self.status,
            "output": self.output,
            "error": self.error.as_json() if self.error else None,
            "attempts": self.attempts,
        }

    def status_view(self) -> dict[str, Any]:
        """This step's entry in the ``status`` query."""
        view = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "iterations": self.iterations,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "input": self.input,
            "output": self.output,
            "error": self.error.as_json() if self.error else None,
        }
        if self.progress is not None:
            view["progress"] = dict(self.progress)
        return view


@dataclass
class PendingHuman:
    """A human step waiting for an answer."""

    step: str
    prompt: Any
    form: dict[str, Any] | None
    assignees: Any
    since: datetime
    timeout_at: datetime | None
    answer: dict[str, Any] | None = None

    def view(self) -> dict[str, Any]:
        """This entry in the ``status`` query's ``pending_human``."""
        return {
            "step": self.step,
            "prompt": self.prompt,
            "form": self.form,
            "assignees": self.assignees,
            "since": _iso(self.since),
            "timeout_at": _iso(self.timeout_at),
        }


@dataclass
class RunEvent:
    """Something worth telling a person that is not a step transition (a rejected answer)."""

    at: datetime
    type: str
    step: str | None
    message: str

    def view(self) -> dict[str, Any]:
        """This event in the ``status`` query."""
        return {"at": _iso(self.at), "type": self.type, "step": self.step, "message": self.message}


@dataclass
class RunState:
    """Everything the `status` query reports about a run."""

    run_id: str
    workflow: str
    version: int
    tenant: str
    started_at: datetime
    steps: dict[str, StepState]
    status: str = "running"
    ended_at: datetime | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    pending_human: dict[str, PendingHuman] = field(default_factory=dict)
    events: list[RunEvent] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    """Every step and run transition, in order; ``seq`` is the 1-based position."""

    def __post_init__(self) -> None:
        self._changed: set[str] = set()  # steps whose CEL view changed since the last one
        self._views = {sid: s.cel_view() for sid, s in self.steps.items()}
        self._unconvertible = {sid for sid, v in self._views.items() if not cel_convertible(v)}
        for step in self.steps.values():
            object.__setattr__(step, "_changed", self._changed)

    def set_steps(self, steps: dict[str, StepState]) -> None:
        """Give the run another set of steps (an upgrade to a newer version: the steps it
        keeps are the same objects, in the new order)."""
        self.steps = steps
        self.__post_init__()

    def record(self, at: datetime, type: str, step: str | None = None, **extra: Any) -> None:
        """Append a transition (``step_started``, ``step_retrying``, ``run_succeeded``...)."""
        entry = {"seq": len(self.transitions) + 1, "at": _iso(at), "type": type, "step": step}
        entry.update({k: v for k, v in extra.items() if v is not None})
        self.transitions.append(entry)

    def transitions_after(self, seq: int) -> list[dict[str, Any]]:
        """The transitions after ``seq`` (0 for all)."""
        return self.transitions[max(seq, 0) :]

    def steps_view(self) -> dict[str, dict[str, Any]]:
        """The value of ``steps`` in CEL, as the steps are now.

        The views of unchanged steps are the same objects as in the previous answer (so their
        CEL forms are converted once: :class:`interpreter.expr.Entries`); an answer is never
        changed afterwards: a new one is a copy with the changed views replaced.
        """
        if self._changed:
            views = dict(self._views)
            for sid in self._changed:
                views[sid] = view = self.steps[sid].cel_view()
                if cel_convertible(view):
                    self._unconvertible.discard(sid)
                else:
                    self._unconvertible.add(sid)
            self._changed.clear()
            self._views = views
        return self._views

    def views_convert(self) -> bool:
        """Whether every view of :meth:`steps_view` can be given to CEL as it is."""
        return not self._unconvertible

    def waiting(self) -> list[dict[str, Any]]:
        """The ``pending_human`` entries of this run's own human steps still waiting."""
        return [p.view() for p in self.pending_human.values() if p.answer is None]

    def view(self) -> dict[str, Any]:
        """The ``status`` query's answer."""
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "version": self.version,
            "tenant": self.tenant,
            "status": self.status,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "steps": {sid: s.status_view() for sid, s in self.steps.items()},
            "pending_human": self.waiting(),
            "events": [e.view() for e in self.events],
            "last_seq": len(self.transitions),
            "result": self.result,
            "error": self.error,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
