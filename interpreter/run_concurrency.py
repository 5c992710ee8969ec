"""A run's ``concurrency: {key, limit, strategy}``: the run holds a slot of its key's limiter
for its whole life (interpreter.quota's limiters, scope ``run``, per tenant).

Before its first step the run evaluates ``key`` (CEL over ``input`` and ``run``) and asks the
limiter: with ``strategy: queue`` it waits (transitions ``run_queued`` then ``run_granted``);
with ``cancel_oldest`` the limiter cancels the run that has held a slot longest and grants its
slot; with ``cancel_newest`` it cancels the asking run. The slot is released when the run ends
however it ends; a run that continues as new keeps it (same workflow id) and its continuation
releases it. Behind :data:`RUN_CONCURRENCY_PATCH`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from interpreter import patches
    from interpreter.errors import ExpressionError
    from interpreter.expr import Scope, compile_cel
    from interpreter.kinds.base import Runtime
    from interpreter.quota import MAX_KEY_CHARS, Holder, QuotaSlots, hold, release, workflow_json
    from interpreter.state import RunFailure
    from limiter.names import Release, limiter_id

RUN_CONCURRENCY_PATCH = "run-concurrency"
"""Runs whose definition has a top-level ``concurrency`` (a new field: the marker dates it)."""
RUN_REQUEST = "@run#1"
"""The request id of a run's own slot (``@`` never appears in a step path)."""


@asynccontextmanager
async def run_slot(runtime: Runtime, scope: Scope) -> AsyncIterator[None]:
    """Hold the run's concurrency-key slot around its steps (nothing without a ``concurrency``).

    Raises:
        RunFailure: The key does not evaluate to a short value (``ConcurrencyKey``).
    """
    spec = runtime.definition.concurrency
    if spec is None or not patches.patched(RUN_CONCURRENCY_PATCH):
        yield
        return
    try:
        value = compile_cel(spec.key).evaluate(scope)
    except ExpressionError as exc:
        raise RunFailure("ConcurrencyKey", f"concurrency.key: {exc}") from None
    key = value if isinstance(value, str) else workflow_json(value)
    if len(key) > MAX_KEY_CHARS:
        message = f"concurrency.key is {len(key)} characters long; at most {MAX_KEY_CHARS}"
        raise RunFailure("ConcurrencyKey", message)
    limiter = limiter_id("run", runtime.request.tenant, key)
    if runtime.request.carry is not None:  # continued as new: the slot is still this run's
        try:
            yield
        except BaseException as exc:
            if not _continuing(exc):
                _release_later(runtime, limiter)
            raise
        _release_later(runtime, limiter)
        return
    state = runtime.state
    state.record(workflow.now(), "run_queued", None, key=key)
    async with hold(
        runtime,
        limiter,
        spec.limit,
        Holder(RUN_REQUEST.split("#")[0], None, "run"),
        strategy=spec.strategy,
        keep=_continuing,
    ):
        state.record(workflow.now(), "run_granted", None)
        yield


def _continuing(exc: BaseException) -> bool:
    """The run is continuing as new (it keeps its slot)."""
    return type(exc).__name__ == "ContinueAsNewError"


def _release_later(runtime: Runtime, limiter: str) -> None:
    slots: QuotaSlots = runtime  # type: ignore[assignment]
    holder = workflow.info().workflow_id
    task = asyncio.create_task(release(limiter, Release(request=RUN_REQUEST, holder=holder)))
    slots._releasing.add(task)
    task.add_done_callback(slots._releasing.discard)
