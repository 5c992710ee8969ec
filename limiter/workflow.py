"""The limiter workflow: holds one key's slots, grants them (in an update's answer or by
signal), reclaims lost ones.

One workflow per limiter key (:func:`limiter.names.limiter_id`). Holder runs ask with
:data:`~limiter.names.ACQUIRE_UPDATE` (update-with-start, :mod:`limiter.activities`), whose
answer says whether the slot is theirs at once; a request that has to wait is told later with
:data:`~limiter.names.GRANT_SIGNAL` (runs recorded before the update ask with
:data:`~limiter.names.ACQUIRE_SIGNAL`, and every grant they get comes by signal). Holders give
back with :data:`~limiter.names.RELEASE_SIGNAL` when their step ends however it ends. Every
``lease`` while someone holds or waits, an activity asks Temporal which holder runs have ended
(a terminated run never releases) and their slots are reclaimed. Idle for a whole lease, the
limiter ends; the next acquire starts it again. It continues as new when its history is long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from limiter.names import (
        ACQUIRE_SIGNAL,
        ACQUIRE_UPDATE,
        GRANT_SIGNAL,
        LIMITER_WORKFLOW_NAME,
        MAX_LIMIT,
        RELEASE_SIGNAL,
        Acquire,
        Answer,
        Grant,
        Release,
    )
    from limiter.slots import Slots

ENDED_HOLDERS_ACTIVITY = "kworkflow.limiter.ended_holders"
"""The activity that answers which of a limiter's holder runs have ended."""
HISTORY_LIMIT = 5_000
"""History events after which a limiter continues as new."""
STEADY_TIMER_PATCH = "limiter-steady-timer"
"""Limiters that keep one timer until its deadline changes, instead of cancelling and starting
one at every wake (two history events per acquire and per release)."""


class LimiterStart(BaseModel):
    """A limiter's argument (at its start, and at each continue-as-new).

    Attributes:
        lease_seconds: How often the holders are checked for runs that ended without releasing.
        slots: The state carried over from the previous run of the limiter.
    """

    lease_seconds: float = Field(default=60.0, ge=1.0, le=86_400.0)
    slots: Slots = Field(default_factory=Slots)


@workflow.defn(name=LIMITER_WORKFLOW_NAME)
class LimiterWorkflow:
    """Grants one key's slots; see the module docstring."""

    @workflow.init
    def __init__(self, start: LimiterStart) -> None:
        self._slots = start.slots
        self._changed = True
        self._telling: set[asyncio.Task[None]] = set()
        self._alarm: asyncio.Task[None] | None = None
        self._alarm_at: datetime | None = None

    @workflow.signal(name=ACQUIRE_SIGNAL)
    def acquire(self, ask: Acquire) -> None:
        """A holder run asks for a slot; the latest limit given is the limiter's."""
        self._take(ask)

    @workflow.update(name=ACQUIRE_UPDATE)
    def acquire_now(self, ask: Acquire) -> Answer:
        """A holder run asks for a slot and learns at once whether it has one.

        The request is queued like :meth:`acquire`'s, then the free slots are given away in
        :meth:`Slots.grants` order (round-robin, FIFO per run): the asker holds one only if
        every request ahead of it got one too, so it never jumps a queue. Grants to the others
        go out by signal as usual; the asker's is the answer. Asked again (a retried ask), it
        answers what the request has.
        """
        known = self._slots.holds(ask.holder, ask.request)
        if known is not None:
            return Answer(granted=known)
        self._take(ask)
        now = workflow.now().timestamp()
        self._slots.expire(now)
        granted = False
        me = workflow.info().workflow_id
        for holder, request in self._slots.grants(now):
            if holder == ask.holder and request == ask.request:
                granted = True
            else:
                self._start(self._tell(holder, Grant(request=request, limiter=me)))
        return Answer(granted=granted)

    def _take(self, ask: Acquire) -> None:
        """Queue a request (the latest limit given is the limiter's), or apply its run-level
        strategy when every slot is held."""
        self._slots.limit = min(ask.limit, MAX_LIMIT)
        self._changed = True
        if ask.strategy != "queue" and self._slots.full() and not self._slots.queued():
            victim = ask.holder if ask.strategy == "cancel_newest" else self._slots.oldest()
            if victim is not None:
                self._slots.forget(victim)
                self._start(self._cancel(victim))
            if victim == ask.holder:
                return
        self._slots.ask(ask.holder, ask.request, ask.period_seconds)

    @workflow.signal(name=RELEASE_SIGNAL)
    def release(self, done: Release) -> None:
        """A holder's step ended: its slot (or its place in the queue) is free."""
        self._slots.release(done.holder, done.request)
        self._changed = True

    @workflow.query(name="slots")
    def slots(self) -> dict[str, int]:
        """How many slots are held and requests wait, and the limit."""
        return {
            "limit": self._slots.limit,
            "held": len(self._slots.held),
            "queued": self._slots.queued(),
        }

    @workflow.query(name="waiting_runs")
    def waiting_runs(self) -> list[str]:
        """The holder runs with a request waiting for a slot, sorted."""
        return sorted(self._slots.waiting)

    @workflow.run
    async def run(self, start: LimiterStart) -> None:
        """Grant until idle for a lease; check the holders every lease."""
        steady = workflow.patched(STEADY_TIMER_PATCH)
        lease = timedelta(seconds=start.lease_seconds)
        check_at = workflow.now() + lease
        while True:
            self._changed = False
            self._slots.expire(workflow.now().timestamp())
            await self._grant()
            if self._long() and not self._changed:
                await workflow.wait_condition(
                    lambda: workflow.all_handlers_finished() and not self._telling
                )
                workflow.continue_as_new(
                    LimiterStart(lease_seconds=start.lease_seconds, slots=self._slots)
                )
            wake = check_at
            expiry = self._slots.next_expiry()
            if expiry is not None:
                wake = min(wake, datetime.fromtimestamp(expiry, UTC))
            left = wake - workflow.now()
            if left > timedelta(0) and steady:
                if not await self._sleep_until(wake):
                    continue
            elif left > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self._changed, timeout=left)
                    continue
                except TimeoutError:
                    pass
            if workflow.now() < check_at:
                continue  # a rate-limit slot freed itself
            check_at = workflow.now() + lease
            if self._slots.idle() and not self._telling:
                return
            await self._reclaim()

    async def _sleep_until(self, wake: datetime) -> bool:
        """Wait until ``wake`` or a change; True: ``wake`` came. The timer is kept across waits
        while ``wake`` stays the same (a change cancels no timer and starts none)."""
        if self._alarm is None or self._alarm_at != wake:
            if self._alarm is not None:
                self._alarm.cancel()
            self._alarm_at = wake
            self._alarm = asyncio.create_task(workflow.sleep(wake - workflow.now()))
        alarm = self._alarm
        await workflow.wait_condition(lambda: self._changed or alarm.done())
        if not alarm.done():
            return False
        self._alarm = self._alarm_at = None
        return True

    async def _grant(self) -> None:
        """Signal every request that got a slot, without waiting for the signals' delivery."""
        me = workflow.info().workflow_id
        for holder, request in self._slots.grants(workflow.now().timestamp()):
            self._start(self._tell(holder, Grant(request=request, limiter=me)))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the loop (the limiter does not end or continue before it)."""
        task = asyncio.create_task(work)
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def _cancel(self, holder: str) -> None:
        """Ask Temporal to cancel a holder run (a run-level strategy); gone already: fine."""
        try:
            await workflow.get_external_workflow_handle(holder).cancel()
        except Exception:
            workflow.logger.info("limiter: run %s to cancel has already ended", holder)

    async def _tell(self, holder: str, grant: Grant) -> None:
        """Signal one grant; a holder that cannot be told (its run is gone) is forgotten."""
        try:
            await workflow.get_external_workflow_handle(holder).signal(GRANT_SIGNAL, grant)
        except Exception:
            self._slots.forget(holder)
            self._changed = True

    async def _reclaim(self) -> None:
        """Forget the holder runs that ended without releasing (a terminated run)."""
        holders = self._slots.holders()
        ended: list[str] = await workflow.execute_activity(
            ENDED_HOLDERS_ACTIVITY,
            holders,
            result_type=list[str],
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        for holder in ended:
            self._slots.forget(holder)
            self._changed = True

    def _long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT
        )
