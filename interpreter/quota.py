"""The holder side of limiters: a step waits ``queued`` for a slot of its tenant's step quota
and of its concurrency key.

When the run's flow limits carry a ``step_quota`` for its tenant, an llm, tool or code step asks
the tenant's limiter (:mod:`limiter.workflow`) for a slot before its activity is scheduled: a
local activity sends the limiter an update with start, whose answer says whether the slot is
the step's at once (then it runs in the same workflow task); if not, the step shows ``queued``
until the limiter's grant signal arrives, then runs (runs recorded before
:data:`~interpreter.patches.QUOTA_ASK_NOW` signal the limiter with start and always wait for the
grant signal). When its activity ends (success, failure, cancel) the run signals the limiter
that the slot is free. A step with ``concurrency: {key, limit}`` first does
the same with the limiter of its key (scoped to the tenant). Human and event waits never ask.
Without a quota or a key the step pays nothing: no activity, no signal, no marker. Behind
:data:`QUOTA_PATCH` and :data:`CONCURRENCY_PATCH`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from interpreter import patches
    from interpreter.durations import parse_duration
    from interpreter.errors import ExpressionError
    from interpreter.expr import compile_cel, to_json
    from interpreter.kinds.base import Invocation, Runtime
    from interpreter.limits import flow_limits
    from interpreter.state import StepError
    from limiter.activities import ASK_ACTIVITY, ASK_NOW_ACTIVITY, AskCall
    from limiter.names import (
        GRANT_SIGNAL,
        RELEASE_SIGNAL,
        Acquire,
        Answer,
        Grant,
        Release,
        limiter_id,
    )
    from telemetry import metrics

QUOTA_PATCH = "step-quota"
"""Runs recorded before the step quota existed replay without asking a limiter."""
RATE_LIMIT_PATCH = "step-rate-limit"
"""Runs with a step ``rate_limit`` (a new field: the marker dates the behaviour)."""
CONCURRENCY_PATCH = "step-concurrency"
"""Runs with a step ``concurrency`` key (a new field: the marker dates the behaviour)."""
QUEUED = "queued"
"""A step's status while it waits for a slot."""
DEFAULT_LEASE = 60.0
"""A key limiter's lease (seconds) when the operator configured no step quota."""
MAX_KEY_CHARS = 500
"""The longest concurrency key value (a longer one fails the step)."""


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
    """Hold the step's concurrency-key slot, then its tenant quota slot, around its activity
    (nothing without either).

    Raises:
        StepError: The concurrency key does not evaluate to a short value (``ConcurrencyKey``).
    """
    async with AsyncExitStack() as stack:
        spec = getattr(inv.spec, "concurrency", None)
        if spec is not None and patches.patched(CONCURRENCY_PATCH):
            key = _key(spec.key, inv, "concurrency")
            limiter = limiter_id("key", runtime.request.tenant, key)
            await stack.enter_async_context(hold(runtime, limiter, spec.limit, _holder(inv)))
        rate = getattr(inv.spec, "rate_limit", None)
        if rate is not None and patches.patched(RATE_LIMIT_PATCH):
            key = _key(rate.key, inv, "rate_limit")
            limiter = limiter_id("rate", runtime.request.tenant, key)
            period = parse_duration(rate.period).total_seconds()
            await stack.enter_async_context(
                hold(runtime, limiter, rate.limit, _holder(inv), period=period)
            )
        quota = flow_limits(runtime.request).step_quota
        limit = quota.of(runtime.request.tenant) if quota is not None else None
        if limit is not None and patches.patched(QUOTA_PATCH):
            limiter = limiter_id("quota", runtime.request.tenant)
            await stack.enter_async_context(hold(runtime, limiter, limit, _holder(inv)))
        yield


def _key(source: str, inv: Invocation, field: str) -> str:
    """The value of a ``concurrency`` or ``rate_limit`` key as text (a string as is, anything
    else as JSON)."""
    error = "ConcurrencyKey" if field == "concurrency" else "RateLimitKey"
    try:
        value = to_json(compile_cel(source).evaluate(inv.scope))
    except ExpressionError as exc:
        raise StepError(error, f"{field}.key: {exc}") from None
    text = value if isinstance(value, str) else workflow_json(value)
    if len(text) > MAX_KEY_CHARS:
        message = f"{field}.key is {len(text)} characters long; at most {MAX_KEY_CHARS}"
        raise StepError(error, message)
    return text


def workflow_json(value: object) -> str:
    """Compact, key-sorted JSON (the same text for the same value in every run)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Holder:
    """Who asks for a slot: a step's path, its top-level step id when the step's status shows
    ``queued`` (None: an inner item, or the run itself), and the metric's ``kind`` label."""

    path: str
    step_id: str | None
    kind: str


def _holder(inv: Invocation) -> Holder:
    top = inv.path.split("#")[0] == inv.step_id
    return Holder(inv.path, inv.step_id if top else None, inv.spec.kind)


@asynccontextmanager
async def hold(
    runtime: Runtime,
    limiter: str,
    limit: int,
    who: Holder,
    *,
    period: float | None = None,
    strategy: Literal["queue", "cancel_oldest", "cancel_newest"] = "queue",
    keep: Callable[[BaseException], bool] | None = None,
) -> AsyncIterator[None]:
    """Ask ``limiter`` for a slot, show the step ``queued`` until granted, release at the end
    (a rate limit's slot, ``period`` set, frees itself: released only if never granted; an
    exception ``keep`` says yes to leaves the slot held)."""
    quota = flow_limits(runtime.request).step_quota
    lease = quota.lease_seconds if quota is not None else DEFAULT_LEASE
    slots: QuotaSlots = runtime  # type: ignore[assignment]
    slots._asked += 1
    request = f"{who.path}#{slots._asked}"
    holder = workflow.info().workflow_id
    step = runtime.state.steps[who.step_id] if who.step_id is not None else None
    evicted = False
    granted = False
    try:
        if step is not None:
            step.status = QUEUED
            runtime.state.record(workflow.now(), "step_queued", who.step_id)
        call = AskCall(
            limiter=limiter,
            task_queue=workflow.info().task_queue,
            lease_seconds=lease,
            acquire=Acquire(
                request=request,
                holder=holder,
                limit=limit,
                period_seconds=period,
                strategy=strategy,
            ),
        )
        # a rate limit's grants all come by signal: one channel from grant to start, so the
        # starts of two windows stay a period apart as the grants are
        if period is None and patches.patched(patches.QUOTA_ASK_NOW):
            answer = await workflow.execute_local_activity(
                ASK_NOW_ACTIVITY,
                call,
                result_type=Answer,
                start_to_close_timeout=timedelta(seconds=30),
            )
            if answer.granted:
                slots._granted.add(request)
        else:
            await workflow.execute_local_activity(
                ASK_ACTIVITY, call, start_to_close_timeout=timedelta(seconds=30)
            )
        queued_at = workflow.now()
        if request not in slots._granted:
            await workflow.wait_condition(lambda: request in slots._granted)
        granted = True
        if not workflow.unsafe.is_replaying():
            waited = (workflow.now() - queued_at).total_seconds()
            metrics.QUOTA_WAIT.labels(who.kind).observe(waited)
        if step is not None and step.status == QUEUED:
            step.status = "running"
            runtime.state.record(workflow.now(), "step_granted", who.step_id)
        yield
    except GeneratorExit:  # the run leaves the worker's cache: nothing happened in the run
        evicted = True
        raise
    except BaseException as exc:
        if keep is not None and keep(exc):
            evicted = True  # kept: not released
        raise
    finally:
        slots._granted.discard(request)
        # sent with the run's next commands: the step does not wait for it
        if not evicted and not (granted and period is not None):
            task = asyncio.create_task(release(limiter, Release(request=request, holder=holder)))
            slots._releasing.add(task)
            task.add_done_callback(slots._releasing.discard)


async def release(limiter: str, done: Release) -> None:
    """Tell the limiter the slot is free (or the request no longer waits)."""
    try:
        await workflow.get_external_workflow_handle(limiter).signal(RELEASE_SIGNAL, done)
    except Exception:
        workflow.logger.warning("limiter release of %s not delivered", done.request)
