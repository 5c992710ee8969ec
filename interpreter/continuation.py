"""How a run drains and continues as new: the interpreter's side of :mod:`interpreter.carry`.

:class:`Continuation` is mixed into :class:`interpreter.workflow.InterpreterWorkflow`: it decides
when the run drains, lets waiting human steps suspend once nothing else runs, hands the state to
the next run and, in that run, restores it and starts the suspended steps where they stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from temporalio import workflow

from interpreter import patches

with workflow.unsafe.imports_passed_through():
    from interpreter.carry import (
        DEFAULT_EVENT_LIMIT,
        OLD_EVENT_LIMIT,
        Carry,
        Resume,
        carry_state,
        restore_state,
    )
    from interpreter.descendants import Descendants
    from interpreter.expr import Scope
    from interpreter.kinds.base import Invocation
    from interpreter.pausing import Paused
    from interpreter.request import RunRequest
    from interpreter.spec import StepSpec
    from interpreter.state import RunState, StepState
    from interpreter.topology import EdgePair

CONTINUE_PATCH = "continue-as-new"
"""Runs recorded before continue-as-new existed never drain on replay."""
EVENT_LIMIT_PATCH = "event-limit-2500"
"""Runs recorded before it continued as new after :data:`OLD_EVENT_LIMIT` events by default."""


class Continuation:
    """Draining and continuing as new, mixed into the interpreter workflow."""

    request: RunRequest
    state: RunState
    _order: list[str]
    _specs: dict[str, StepSpec]
    _edges: list[EdgePair]
    _edge_index: dict[int, int]
    _decisions: dict[int, bool]
    _tasks: dict[str, asyncio.Task[None]]
    _resume: dict[str, Resume]
    _draining: bool
    _changed: bool
    _run_input: Any
    _deadline: datetime | None
    _first_run_id: str
    _descendants: Descendants
    _told: int
    _telling: set[asyncio.Task[None]]
    _paused: Paused | None
    _event_limit: int | None = None

    def _current_scope(self) -> Scope:
        raise NotImplementedError

    def _run_step(self, step: StepState, inv: Invocation) -> Coroutine[Any, Any, None]:
        raise NotImplementedError

    def _restore(self, carry: Carry) -> None:
        """Take up the state the previous run of this workflow id handed on."""
        restore_state(self.state, carry)
        self._decisions = {id(self._edges[i]): taken for i, taken in carry.decisions.items()}
        self._resume = dict(carry.resume)
        for snapshot in carry.descendants:
            self._descendants.take(snapshot)
        self._told = carry.told
        self._first_run_id = carry.trace_run_id
        self._paused = carry.paused

    def should_drain(self) -> bool:
        """Whether the run drains for continue-as-new; decided once history is long enough
        (Temporal suggests it, or :attr:`RunRequest.event_limit` events), then for good."""
        if not self._draining:
            info = workflow.info()
            limit = self.request.event_limit or self._default_event_limit()
            long = info.is_continue_as_new_suggested() or info.get_current_history_length() >= limit
            if long and patches.patched(CONTINUE_PATCH):
                self._draining = True
                self._changed = True
        return self._draining

    def _default_event_limit(self) -> int:
        """:data:`DEFAULT_EVENT_LIMIT`, or the old one for runs recorded before it (decided
        once per run)."""
        if self._event_limit is None:
            new = patches.patched(EVENT_LIMIT_PATCH)
            self._event_limit = DEFAULT_EVENT_LIMIT if new else OLD_EVENT_LIMIT
        return self._event_limit

    def may_suspend_waits(self) -> bool:
        """Draining, and every step still running is a waiting human step."""
        steps = self.state.steps
        return self._draining and all(steps[sid].status == "waiting" for sid in self._tasks)

    def _resume_suspended(self) -> None:
        """Start again the steps the previous run suspended, where they stopped."""
        resume, self._resume = self._resume, {}
        for sid in self._order:
            if sid in resume:
                spec = self._specs[sid]
                inv = Invocation(
                    spec=spec,
                    step_id=sid,
                    path=sid,
                    scope=self._current_scope(),
                    layers=(spec,),
                    resume=resume[sid],
                )
                self._tasks[sid] = asyncio.create_task(self._run_step(self.state.steps[sid], inv))

    async def _continue_as_new(self) -> None:
        """Hand the run's state to a new run of the same workflow id (never returns)."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._telling:  # snapshots on their way to the parent go out first
            await asyncio.gather(*self._telling)
        carry = carry_state(
            self.state,
            input=self._run_input,
            deadline=self._deadline,
            trace_run_id=self._first_run_id,
            continued=(self.request.carry.continued + 1) if self.request.carry else 1,
            decisions={self._edge_index[key]: taken for key, taken in self._decisions.items()},
            resume=self._resume,
            descendants=list(self._descendants.snapshots.values()),
            told=self._told,
            paused=self._paused,
        )
        workflow.continue_as_new(self.request.model_copy(update={"carry": carry}))
