"""Pauses that keep each workflow task short, so long loops and wide fan-outs never deadlock.

Temporal fails a workflow task whose activation runs for more than 2 s without giving control
back (its deadlock detector), and an activation only ends when every coroutine of the run is
blocked on something outside it: an activity, a timer, a signal. Workflow-side work (CEL, the
``aggregate`` and ``branch`` kinds, ``repeat`` and ``parallel`` bookkeeping) never blocks, so a
``repeat`` of 10,000 iterations or a ``for_each`` of 5,000 aggregate items would run in one
activation. ``asyncio.sleep(0)`` does not help: the activation goes on while anything is ready.

So the run counts its work in deterministic units (CEL cost, :mod:`interpreter.celcost`, plus
:data:`STEP_UNITS` per step or iteration started) and, every :data:`PACE_UNITS`, the next step
to start waits for one shared pause: the local activity :func:`pause`, which does nothing.
Every coroutine then blocks, the activation ends, and the pause's result starts a fresh one in
the same workflow task (a timer would do too, but the server fires a 1 ms timer up to a second
late). A replay counts the same units and pauses at the same places, so it issues the same
commands; a worker without the activity falls back to a timer.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from interpreter import patches
    from interpreter.celcost import Meter

PACE_UNITS = 20_000
"""Units of work between two pauses (a few tenths of a second of CPU on a loaded core)."""
STEP_UNITS = 100
"""What starting one step, parallel item or repeat iteration counts for."""
PAUSE_ACTIVITY = "kworkflow.pause"
"""The local activity a pause waits for (every worker made by ``new_worker`` hosts it)."""
PAUSE_SECONDS = 0.001
"""The fallback timer, when the pause activity fails."""
PATCH = "pace-long-work"
"""Runs recorded before pacing existed replay without its timers."""


class Pacer:
    """Decides, deterministically, when the run's next step must wait for a pause.

    Args:
        meter: Where the run's CEL evaluations add up their cost.
    """

    def __init__(self, meter: Meter) -> None:
        self._meter = meter
        self._mark = 0
        self._pause: asyncio.Task[None] | None = None

    async def pace(self) -> None:
        """Count one step started; wait for the pause if the run has worked long enough."""
        self._meter.charge(STEP_UNITS)
        while True:  # after a pause, the waiters start one by one until the next one is due
            if self._pause is None:
                if self._meter.spent - self._mark < PACE_UNITS:
                    return
                self._mark = self._meter.spent
                if not patches.patched(PATCH):
                    return
                self._pause = asyncio.create_task(self._sleep())
            await asyncio.shield(self._pause)  # a cancelled waiter leaves the pause to others

    async def _sleep(self) -> None:
        try:
            await workflow.execute_local_activity(
                PAUSE_ACTIVITY,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_attempts=2),
            )
        except ActivityError:  # e.g. an old worker without it
            await workflow.sleep(PAUSE_SECONDS)
        self._mark = self._meter.spent
        self._pause = None


@activity.defn(name=PAUSE_ACTIVITY)
async def pause() -> None:
    """Nothing: waiting for it ends the workflow's activation (see the module docstring)."""
