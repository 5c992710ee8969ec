"""parallel steps: fan out over `for_each` items or named `branches`, in order, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

from interpreter import patches
from interpreter.kinds.base import Invocation, Runtime

FLOW_LIMITS_PATCH = "flow-limits"
"""The same patch as :data:`interpreter.workflow.FLOW_LIMITS_PATCH`."""
LAZY_START_PATCH = "parallel-lazy-start"
"""A bounded ``parallel`` makes an item's task only when the item may start (runs recorded
before it made every item's task at once, each waiting on a semaphore)."""

with workflow.unsafe.imports_passed_through():
    from interpreter.carry import Resume, Suspended
    from interpreter.limits import flow_limits, items_excess
    from interpreter.onerror import fails_run
    from interpreter.spec import ParallelStep
    from interpreter.state import StepError


async def run_parallel(runtime: Runtime, inv: Invocation, fields: dict[str, Any]) -> Any:
    """A list in input order (``for_each``) or a map by branch name (``branches``).

    One failed item fails the step and cancels the others, unless the inner spec has
    ``on_error: continue``: then that item's result is null. Items start in order; with
    ``max_concurrency`` at most that many run at once; without it, at most the operator's
    ``limits.flow.max_concurrency`` (100 by default). A top-level one suspends when the run
    continues as new: it starts no new item, waits for the running ones, and the next run runs
    the items that had not ended.
    """
    spec = inv.spec
    assert isinstance(spec, ParallelStep)
    if spec.branches is not None:
        names = list(spec.branches)
        invocations = [inv.inner(spec.branches[n], f"{inv.path}.{n}") for n in names]
    else:
        items = fields["for_each"]
        if not isinstance(items, list):
            raise StepError("InvalidValue", f"for_each must be a list, got {type(items).__name__}")
        limits = flow_limits(runtime.request)
        if len(items) > limits.max_items and patches.patched(FLOW_LIMITS_PATCH):
            raise StepError("LimitExceeded", items_excess(len(items), limits).describe())
        assert spec.step is not None
        invocations = [
            inv.inner(spec.step, f"{inv.path}[{i}]", item=item, index=i)
            for i, item in enumerate(items)
        ]
    bound = spec.max_concurrency
    default = flow_limits(runtime.request).max_concurrency
    # Runs recorded before the default bound ran every item at once: the patch keeps them so.
    if bound is None and len(invocations) > default and patches.patched(FLOW_LIMITS_PATCH):
        bound = default
    results = await _run_all(runtime, inv, invocations, bound)
    if spec.branches is not None:
        return dict(zip(names, results, strict=True))
    return results


async def _run_all(
    runtime: Runtime, inv: Invocation, invocations: list[Invocation], limit: int | None
) -> list[Any]:
    total = len(invocations)
    results: list[Any] = [None] * total
    progress = {"total": total, "running": 0, "succeeded": 0, "failed": 0}
    ended: set[int] = set()
    if inv.resume is not None and inv.resume.done is not None:
        carried = runtime.state.steps[inv.step_id].progress
        progress = {**(carried or progress), "running": 0}
        for index, value in inv.resume.done.items():
            results[index] = value
            ended.add(index)
    failure: list[StepError] = []
    runtime.set_progress(inv, progress)

    async def run_item(index: int, item: Invocation) -> None:
        progress["running"] += 1
        try:
            results[index] = await runtime.run_spec(item)
            progress["succeeded"] += 1
            ended.add(index)
        except StepError as exc:
            progress["failed"] += 1
            ended.add(index)
            if fails_run(item.spec, runtime.definition.tools) and not failure:
                failure.append(StepError(exc.type, f"{item.path}: {exc.message}", exc.attempts))
        finally:
            progress["running"] -= 1
            runtime.set_progress(inv, progress)

    order = [i for i in range(total) if i not in ended]
    if limit is not None and patches.patched(LAZY_START_PATCH):
        tasks = await _run_lazily(runtime, inv, invocations, order, limit, run_item, failure)
    else:
        tasks = await _run_at_once(runtime, inv, invocations, order, limit, run_item, failure)
    if failure:
        raise failure[0]
    for t in tasks:  # an unexpected error is a bug: let it fail the workflow task
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()  # type: ignore[misc]
    if len(ended) < total:  # drained before every item ran
        raise Suspended(Resume(done={i: results[i] for i in sorted(ended)}))
    return results


_RunItem = Callable[[int, Invocation], Awaitable[None]]


async def _run_lazily(
    runtime: Runtime,
    inv: Invocation,
    invocations: list[Invocation],
    order: list[int],
    limit: int,
    run_item: _RunItem,
    failure: list[StepError],
) -> list[asyncio.Task[None]]:
    """Run the items of ``order``, at most ``limit`` at once, making an item's task when it may
    start: each ending item starts the next. The work of a wake-up, of a drain for
    continue-as-new and of a cancel is bounded by ``limit``, not by the items left. A paused
    run starts no item until it resumes."""
    tasks: list[asyncio.Task[None]] = []
    cursor = {"next": 0, "running": 0, "stopped": False}

    def fill() -> None:
        while cursor["next"] < len(order) and cursor["running"] < limit:
            if failure or cursor["stopped"] or runtime.holding():  # paused: resume fills
                return
            if inv.suspendable and runtime.should_drain():  # the next run starts the rest
                cursor["stopped"] = True
                return
            index = order[cursor["next"]]
            cursor["next"] += 1
            cursor["running"] += 1
            tasks.append(asyncio.create_task(one(index, invocations[index])))

    async def one(index: int, item: Invocation) -> None:
        try:
            await run_item(index, item)
        finally:
            cursor["running"] -= 1
            fill()

    def finished() -> bool:
        left = not cursor["stopped"] and cursor["next"] < len(order)
        return bool(failure) or (cursor["running"] == 0 and not left)

    def startable() -> bool:  # items left, a free slot, no pause: after a resume
        return (
            not failure
            and not cursor["stopped"]
            and cursor["next"] < len(order)
            and cursor["running"] < limit
            and not runtime.holding()
        )

    fill()
    try:
        while not finished():
            await workflow.wait_condition(lambda: finished() or startable())
            fill()
    except asyncio.CancelledError:
        cursor["stopped"] = True
        await _cancel(tasks)
        raise
    cursor["stopped"] = True
    await _cancel(tasks)
    return tasks


async def _run_at_once(
    runtime: Runtime,
    inv: Invocation,
    invocations: list[Invocation],
    order: list[int],
    limit: int | None,
    run_item: _RunItem,
    failure: list[StepError],
) -> list[asyncio.Task[None]]:
    """Run the items of ``order`` with every task made at once (each waiting on a semaphore
    when there is a ``limit``): how runs recorded before :data:`LAZY_START_PATCH` ran."""
    slots = asyncio.Semaphore(limit) if limit else None
    finished = [0]  # items whose task has ended: what `all(t.done() ...)` counted, in O(1)

    async def one(index: int, item: Invocation) -> None:
        try:
            await run_one(index, item)
        finally:
            finished[0] += 1  # the last thing the task does: it is done from here on

    async def run_one(index: int, item: Invocation) -> None:
        if slots is not None:
            await slots.acquire()
        if inv.suspendable and runtime.should_drain():  # the next run starts it
            if slots is not None:
                slots.release()
            return
        try:
            await run_item(index, item)
        finally:
            if slots is not None:
                slots.release()

    tasks = [asyncio.create_task(one(i, invocations[i])) for i in order]
    try:
        await workflow.wait_condition(lambda: bool(failure) or finished[0] == len(tasks))
    except asyncio.CancelledError:
        await _cancel(tasks)
        raise
    await _cancel(tasks)
    return tasks


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the tasks still running and wait until they have stopped."""
    pending = [t for t in tasks if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
