"""The holder side of the per-tenant step quota: a step waits for a limiter's slot (``queued``).

When the run's flow limits carry a ``step_quota`` for its tenant, an llm, tool or code step asks
the tenant's limiter (:mod:`limiter.workflow`) for a slot before its activity is scheduled: a
local activity signals the limiter with start, the step shows ``queued`` until the limiter's
grant signal arrives, then runs; when its activity ends (success, failure, cancel) the run
signals the limiter that the slot is free. Human and event waits never ask. Without a quota the
step pays nothing: no activity, no signal, no marker. Behind :data:`QUOTA_PATCH`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from interpreter import patches
    from interpreter.kinds.base import Invocation, Runtime
    from interpreter.limits import flow_limits
    from limiter.activities import ASK_ACTIVITY, AskCall
    from limiter.names import GRANT_SIGNAL, RELEASE_SIGNAL, Acquire, Grant, Release, limiter_id
    from telemetry import metrics

QUOTA_PATCH = "step-quota"
"""Runs recorded before the step quota existed replay without asking a limiter."""
QUEUED = "queued"
"""A step's status while it waits for a slot."""


class QuotaSlots:
    """The grants a run has received, mixed into the interpreter workflow."""

    _granted: set[str]
    _asked: int
    _releasing: set[asyncio.Task[None]]

    @workflow.signal(name=GRANT_SIGNAL)
    def slot_granted(self, grant: Grant) -> None:
        """A limiter gave a slot to one of this run's requests."""
        self._granted.add(grant.request)


@asynccontextmanager
async def slot(runtime: Runtime, inv: Invocation) -> AsyncIterator[None]:
    """Hold a slot of the tenant's quota around a step's activity (nothing without a quota)."""
    quota = flow_limits(runtime.request).step_quota
    limit = quota.of(runtime.request.tenant) if quota is not None else None
    if quota is None or limit is None or not patches.patched(QUOTA_PATCH):
        yield
        return
    slots: QuotaSlots = runtime  # type: ignore[assignment]
    slots._asked += 1
    request = f"{inv.path}#{slots._asked}"
    holder = workflow.info().workflow_id
    limiter = limiter_id("quota", runtime.request.tenant)
    top = inv.path.split("#")[0] == inv.step_id
    step = runtime.state.steps[inv.step_id] if top else None
    evicted = False
    try:
        if step is not None:
            step.status = QUEUED
            runtime.state.record(workflow.now(), "step_queued", inv.step_id)
        await workflow.execute_local_activity(
            ASK_ACTIVITY,
            AskCall(
                limiter=limiter,
                task_queue=workflow.info().task_queue,
                lease_seconds=quota.lease_seconds,
                acquire=Acquire(request=request, holder=holder, limit=limit),
            ),
            start_to_close_timeout=timedelta(seconds=30),
        )
        queued_at = workflow.now()
        await workflow.wait_condition(lambda: request in slots._granted)
        if not workflow.unsafe.is_replaying():
            waited = (workflow.now() - queued_at).total_seconds()
            metrics.QUOTA_WAIT.labels(inv.spec.kind).observe(waited)
        if step is not None and step.status == QUEUED:
            step.status = "running"
            runtime.state.record(workflow.now(), "step_granted", inv.step_id)
        yield
    except GeneratorExit:  # the run leaves the worker's cache: nothing happened in the run
        evicted = True
        raise
    finally:
        slots._granted.discard(request)
        if not evicted:  # sent with the run's next commands: the step does not wait for it
            task = asyncio.create_task(_release(limiter, Release(request=request, holder=holder)))
            slots._releasing.add(task)
            task.add_done_callback(slots._releasing.discard)


async def _release(limiter: str, release: Release) -> None:
    """Tell the limiter the slot is free (or the request no longer waits)."""
    try:
        await workflow.get_external_workflow_handle(limiter).signal(RELEASE_SIGNAL, release)
    except Exception:
        workflow.logger.warning("quota release of %s not delivered", release.request)
