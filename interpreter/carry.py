"""What a run hands to its continuation when it continues as new, and how steps resume from it.

A long run's history is bounded: once Temporal suggests it, or the history passes the run's
event limit, the interpreter *drains* (starts no new step; a top-level ``repeat`` stops between
iterations, a top-level ``parallel`` starts no new item and waits for the running ones, a
waiting human step stops waiting) and continues as new with a :class:`Carry`: the run's state,
its decided edges, its deadline and where each suspended step resumes. The workflow id, and so
the run id users see, stays the same; the ``status`` and ``transitions`` queries, ``steps.*`` in
CEL, waiting human steps, timers and the event stream carry on from the same values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from interpreter.descendants import DescendantHumans
from interpreter.pausing import Paused
from interpreter.state import PendingHuman, RunEvent, RunState, StepError, StepState

DEFAULT_EVENT_LIMIT = 2_500
"""History events after which a run continues as new (Temporal warns at 10K, fails at 50K):
about 400 chained steps. A worker taking a run up replays its whole history in one workflow
task, which Temporal times out after 10 s: on a 2-core machine a worker taking over a history of
800 chained steps (~4,800 events) needed more than 10 s (its replay, and the server sending the
history, share the machine), 400 steps in 6.3 s (bench/long_runs.py,
tests/interpreter/test_long_runs.py)."""
OLD_EVENT_LIMIT = 10_000
"""The default event limit of runs recorded before :data:`DEFAULT_EVENT_LIMIT` (patch
``event-limit-2500``)."""


class Resume(BaseModel):
    """Where a suspended top-level step picks up in the next run.

    Attributes:
        iteration: ``repeat``: the next iteration to run (0-based).
        previous: ``repeat``: the output of the iteration before it.
        done: ``parallel``: the results of the items that ended, by item index.
        since: ``human``: when the step began to wait.
        timeout_at: ``human``: when its wait times out, if it does.
    """

    model_config = ConfigDict(frozen=True)

    iteration: int | None = None
    previous: Any = None
    done: dict[int, Any] | None = None
    since: datetime | None = None
    timeout_at: datetime | None = None


class Suspended(Exception):
    """Raised by a step at a safe point while the run drains; carries where it resumes."""

    def __init__(self, resume: Resume) -> None:
        super().__init__("suspended for continue-as-new")
        self.resume = resume


class StepData(BaseModel):
    """One step's state, as carried."""

    id: str
    status: str
    attempts: int
    iterations: int
    started_at: datetime | None
    ended_at: datetime | None
    input: Any = None
    output: Any = None
    error: dict[str, str] | None = None
    progress: dict[str, int] | None = None

    def restore(self, step: StepState) -> None:
        """Give ``step`` this carried state (a continue-as-new's next run, a retry's seed)."""
        error = self.error
        step.status, step.attempts, step.iterations = self.status, self.attempts, self.iterations
        step.started_at, step.ended_at = self.started_at, self.ended_at
        step.input, step.output, step.progress = self.input, self.output, self.progress
        step.error = StepError(error["type"], error["message"]) if error else None


class EventData(BaseModel):
    """One :class:`interpreter.state.RunEvent`, as carried."""

    at: datetime
    type: str
    step: str | None
    message: str


class Carry(BaseModel):
    """A run's state across continue-as-new (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    input: Any
    """The run input with the schema's defaults applied (checked once, by the first run)."""
    started_at: datetime
    deadline: datetime | None = None
    trace_run_id: str
    """The Temporal run id of the first run: the run span's id derives from it."""
    continued: int = 1
    steps: list[StepData]
    decisions: dict[int, bool] = Field(default_factory=dict)
    """Decided edges by their index in :func:`interpreter.topology.edge_pairs`."""
    resume: dict[str, Resume] = Field(default_factory=dict)
    events: list[EventData] = Field(default_factory=list)
    transitions: list[dict[str, Any]] = Field(default_factory=list)
    """Already in their JSON form (``at`` is a string), as the queries return them."""
    descendants: list[DescendantHumans] = Field(default_factory=list)
    """The latest snapshot of each child run's waiting people (interpreter.descendants)."""
    told: int = 0
    """How many snapshots this run had sent its parent."""
    paused: Paused | None = None
    """Set while the run is paused (interpreter.pausing)."""


def carry_state(
    state: RunState,
    *,
    input: Any,
    deadline: datetime | None,
    trace_run_id: str,
    continued: int,
    decisions: dict[int, bool],
    resume: dict[str, Resume],
    descendants: list[DescendantHumans],
    told: int,
    paused: Paused | None = None,
) -> Carry:
    """The :class:`Carry` of a draining run."""
    return Carry(
        input=input,
        started_at=state.started_at,
        deadline=deadline,
        trace_run_id=trace_run_id,
        continued=continued,
        steps=[_step_data(s) for s in state.steps.values()],
        decisions=decisions,
        resume=resume,
        events=[
            EventData(at=e.at, type=e.type, step=e.step, message=e.message) for e in state.events
        ],
        transitions=list(state.transitions),
        descendants=descendants,
        told=told,
        paused=paused,
    )


def restore_state(state: RunState, carry: Carry) -> None:
    """Put a carried run's state into the new run's :class:`RunState`."""
    state.started_at = carry.started_at
    for data in carry.steps:
        step = state.steps.get(data.id)
        if step is not None:
            data.restore(step)
    state.events = [RunEvent(e.at, e.type, e.step, e.message) for e in carry.events]
    state.transitions = list(carry.transitions)


def reopened(step: str, resume: Resume, fields: dict[str, Any]) -> PendingHuman:
    """The waiting entry of a human step resumed in a new run (its wait keeps its times)."""
    assert resume.since is not None
    return PendingHuman(
        step=step,
        prompt=fields.get("prompt"),
        form=fields.get("form"),
        assignees=fields.get("assignees"),
        since=resume.since,
        timeout_at=resume.timeout_at,
    )


def _step_data(step: StepState) -> StepData:
    return StepData(
        id=step.id,
        status=step.status,
        attempts=step.attempts,
        iterations=step.iterations,
        started_at=step.started_at,
        ended_at=step.ended_at,
        input=step.input,
        output=step.output,
        error=step.error.as_json() if step.error else None,
        progress=step.progress,
    )
