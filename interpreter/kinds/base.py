"""What every kind's workflow side receives: the invocation, and the run it belongs to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.contract import RunRef
    from interpreter.carry import Resume
    from interpreter.event_waits import EventWait
    from interpreter.expr import Scope
    from interpreter.request import RunRequest
    from interpreter.spec import Definition, StepSpec
    from interpreter.state import PendingHuman, RunState


@dataclass(frozen=True)
class Invocation:
    """One execution of a step spec.

    Attributes:
        spec: The spec to run (a top-level step, or an inner spec of a parallel step).
        step_id: The top-level step it belongs to.
        path: Its unique name in the run: ``plan``, ``gather[3]``, ``fan.web``, ``check#2``.
        scope: The names CEL sees (``input``, ``steps``, ``run``, plus ``item``...).
        layers: The specs whose ``timeout``/``retry`` apply, outermost first, ``spec`` last.
        resume: Where a step suspended by continue-as-new picks up (top-level steps only).
    """

    spec: StepSpec
    step_id: str
    path: str
    scope: Scope
    layers: tuple[StepSpec, ...]
    resume: Resume | None = None

    @property
    def suspendable(self) -> bool:
        """A top-level step without ``repeat``: its kind may suspend it for continue-as-new
        (a ``repeat`` step suspends between iterations instead)."""
        return self.path == self.step_id and self.spec.repeat is None

    def inner(self, spec: StepSpec, path: str, **names: Any) -> Invocation:
        """An invocation of an inner spec, with extra names in scope."""
        return Invocation(
            spec=spec,
            step_id=self.step_id,
            path=path,
            scope=self.scope.child(**names) if names else self.scope,
            layers=(*self.layers, spec),
        )


class Runtime(Protocol):
    """What the interpreter workflow offers the kinds."""

    request: RunRequest
    definition: Definition
    state: RunState

    def run_ref(self, path: str) -> RunRef:
        """Who a step activity works for."""
        ...

    def child_id(self, path: str) -> str:
        """The workflow id of a child workflow started by the step at ``path``."""
        ...

    def record_input(self, inv: Invocation, fields: dict[str, Any]) -> None:
        """Record a step's resolved fields (top-level steps only)."""
        ...

    def report_attempts(self, inv: Invocation, attempts: int | None) -> None:
        """Record how many attempts the step's activity took."""
        ...

    def set_progress(self, inv: Invocation, progress: dict[str, int]) -> None:
        """Record a parallel step's progress."""
        ...

    def default_sources(self, step_id: str) -> list[str]:
        """Sources of the step's incoming edges, in ``steps`` order."""
        ...

    def open_human(self, inv: Invocation, fields: dict[str, Any]) -> PendingHuman:
        """Register a human step as waiting (again, with its times, when it resumes)."""
        ...

    def should_drain(self) -> bool:
        """The run's history is long: start no more work; suspend at the next safe point."""
        ...

    def holding(self) -> bool:
        """The run is paused: start no new item or iteration until it resumes."""
        ...

    async def hold(self) -> None:
        """Wait while the run is paused."""
        ...

    async def stop_before(self, inv: Invocation, fields: dict[str, Any]) -> dict[str, Any]:
        """Hold a top-level step at its before breakpoint; the fields it starts with."""
        ...

    def may_suspend_waits(self) -> bool:
        """The run drains and only waiting human steps are left running: they may suspend."""
        ...

    def tell_assignees(self, pending: PendingHuman) -> None:
        """Tell a waiting human step's assignees, beside the wait (interpreter.assignee_notice)."""
        ...

    def close_human(self, inv: Invocation) -> None:
        """The human step stopped waiting."""
        ...

    def open_event_wait(self, wait: EventWait, *, resumed: bool) -> None:
        """Register an event step as waiting (interpreter.event_waits)."""
        ...

    def offer_event(self, wait: EventWait, event: Any) -> None:
        """Offer an event to a wait, recording a filter that fails on it."""
        ...

    def close_event_wait(self, step: str) -> None:
        """The event step stopped waiting."""
        ...

    async def run_spec(self, inv: Invocation) -> Any:
        """Run an inner spec (resolve, repeat, dispatch) to its output."""
        ...

    async def pace(self) -> None:
        """Count a step or iteration starting; may wait so the workflow task ends in time."""
        ...


KindHandler = Callable[[Runtime, Invocation, dict[str, Any]], Awaitable[Any]]
