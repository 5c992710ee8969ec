"""How a run takes CloudEvents: its ``event`` steps' waits, the ``kworkflow.event`` signal, and the
search attribute that lets ``POST /v1/events`` find the runs waiting for a type.

While one of its ``event`` steps waits, a run's ``KwAwaitedEvents`` (Keyword list) holds
``<tenant>|<type>`` for each awaited type; it is emptied when the last wait ends. The API lists
running workflows with that value (a visibility query, never a scan of runs) and signals each
with the event; the run offers it to every waiting step, which checks the type, drops an event
it has seen (same ``source`` and ``id``) and evaluates its ``filter``. A non-matching event
changes nothing; one the filter fails on (a missing field...) is recorded in the run's ``events``
(``event_filter_failed``) and not taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from interpreter.errors import ExpressionError
    from interpreter.expr import Scope, compile_cel
    from interpreter.request import RunRequest
    from interpreter.state import RunEvent, RunState

EVENT_SIGNAL = "kworkflow.event"
"""The signal that hands a run a CloudEvent (a JSON object, as ``POST /v1/events`` took it)."""
AWAITED_EVENTS = SearchAttributeKey.for_keyword_list("KwAwaitedEvents")
"""``<tenant>|<type>`` for every event type the run's waiting ``event`` steps wait for."""


def awaited_value(tenant: str, type_: str) -> str:
    """The :data:`AWAITED_EVENTS` entry of a wait for ``type_`` in ``tenant``."""
    return f"{tenant}|{type_}"


@dataclass
class EventWait:
    """One waiting ``event`` step.

    Attributes:
        step: The step id.
        type: The event type it waits for (exact match).
        filter: Its CEL ``filter`` (None: any event of the type).
        scope: What the filter sees besides ``event`` (``input``, ``steps``, ``run``).
        since: When the step began to wait (the first run's time, after continue-as-new).
        timeout_at: When the wait times out, if it does.
        event: The event taken, once one matched.
    """

    step: str
    type: str
    filter: str | None
    scope: Scope
    since: datetime
    timeout_at: datetime | None
    event: dict[str, Any] | None = None
    seen: set[tuple[str, str]] = field(default_factory=set)

    @property
    def over(self) -> bool:
        """An event was taken."""
        return self.event is not None

    def offer(self, event: Any) -> str | None:
        """Take ``event`` if it has the awaited type, is new, and the filter is true.

        Returns:
            Why the filter could not be evaluated on the event (it is then not taken: one
            malformed event of the type never fails the step), else None.
        """
        if self.over or not isinstance(event, dict) or event.get("type") != self.type:
            return None
        key = (str(event.get("source")), str(event.get("id")))
        if key in self.seen:
            return None
        self.seen.add(key)
        if self.filter is not None:
            try:
                if not compile_cel(self.filter).evaluate_bool(self.scope.child(event=event)):
                    return None
            except ExpressionError as exc:
                return f"event {key[1]!r} from {key[0]!r} not taken: filter: {exc}"
        self.event = event
        return None

    def view(self) -> dict[str, Any]:
        """This wait in the ``status`` query's ``pending_events``."""
        return {
            "step": self.step,
            "type": self.type,
            "filter": self.filter,
            "since": _iso(self.since),
            "timeout_at": _iso(self.timeout_at) if self.timeout_at else None,
        }


class EventWaits:
    """The ``event`` steps' waits, mixed into the interpreter workflow (see the module doc)."""

    request: RunRequest
    state: RunState
    _event_waits: dict[str, EventWait]

    @workflow.signal(name=EVENT_SIGNAL)
    def event_arrived(self, event: dict[str, Any]) -> None:
        """A CloudEvent for this run's tenant: offered to every waiting ``event`` step."""
        for wait in list(self._event_waits.values()):
            self.offer_event(wait, event)

    def offer_event(self, wait: EventWait, event: Any) -> None:
        """Offer ``event`` to one wait; a filter that fails on it is recorded in ``events``."""
        problem = wait.offer(event)
        if problem is not None:
            self.state.events.append(
                RunEvent(workflow.now(), "event_filter_failed", wait.step, problem)
            )

    def open_event_wait(self, wait: EventWait, *, resumed: bool) -> None:
        """Mark an ``event`` step as waiting and advertise its type."""
        self._event_waits[wait.step] = wait
        self.state.steps[wait.step].status = "waiting"
        if not resumed:
            self.state.record(workflow.now(), "step_waiting", wait.step, event_type=wait.type)
        self._advertise_awaited()

    def close_event_wait(self, step: str) -> None:
        """The ``event`` step stopped waiting (an event, a timeout, cancelled or suspended)."""
        if self._event_waits.pop(step, None) is None:
            return
        state = self.state.steps[step]
        if state.status == "waiting":
            state.status = "running"
        self._advertise_awaited()

    def event_entries(self) -> list[dict[str, Any]]:
        """The waiting ``event`` steps, as ``pending_events`` lists them."""
        return [w.view() for w in self._event_waits.values() if not w.over]

    def _advertise_awaited(self) -> None:
        values = sorted(
            {awaited_value(self.request.tenant, w.type) for w in self._event_waits.values()}
        )
        update = AWAITED_EVENTS.value_set(values) if values else AWAITED_EVENTS.value_unset()
        workflow.upsert_search_attributes([update])


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
