"""The ``/v1/schedules`` routes (list, read, pause, resume, trigger, backfill) and the publish hook
that keeps a workflow's Temporal Schedules in step with its latest version.

A schedule id is ``<tenant>:<workflow>:<trigger>`` (:mod:`client.schedules`); every route checks
that the id and the schedule's ``Tenant`` search attribute are the caller's, so another tenant's
schedule answers 404 exactly like a missing one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, ScheduleBackfill, ScheduleDescription, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from api.runs import Settings, Store, TemporalClient, Tenant
from api.schemas_runs import ErrorOut
from api.schemas_schedules import (
    BackfillIn,
    BackfillOut,
    NoteIn,
    PublishedWithSchedulesOut,
    ScheduleListOut,
    ScheduleOut,
    ScheduleSummaryOut,
    StateOut,
    TriggeredOut,
    TriggerIn,
)
from api.schemas_workflows import PublishedOut
from api.settings import ApiSettings
from client.schedules import OVERLAP, ScheduleRef, sync_schedules, tenant_schedule_counts
from client.search_attributes import TENANT
from interpreter.errors import Problem
from interpreter.lint import Check
from interpreter.request import RunRequest
from interpreter.spec import NAME_PATTERN, Definition, ScheduleSpec
from interpreter.triggers import count_fire_times, trigger_name
from registry.errors import NotFound
from registry.store import DefinitionStore, Published

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])

TRIGGER_WAIT = 5.0
"""Seconds ``trigger`` waits to see the run it started (it answers ``run_id: null`` after)."""
QUOTA_WAIT = 10.0
"""Seconds publish waits for Temporal's count of the tenant's schedules."""

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such schedule (for this tenant)"}
}


class ScheduleNotFound(HTTPException):
    """404 ``no schedule '<id>'``: missing, or another tenant's."""

    def __init__(self, schedule_id: str) -> None:
        super().__init__(404, f"no schedule '{schedule_id}'")


async def owned_schedule(
    client: Client, schedule_id: str, tenant: str
) -> tuple[ScheduleRef, ScheduleHandle, ScheduleDescription]:
    """The parts, handle and description of one of the tenant's schedules.

    Raises:
        ScheduleNotFound: No such schedule, not kworkflow's, or another tenant's.
    """
    ref = ScheduleRef.parse(schedule_id)
    if ref is None or ref.tenant != tenant:
        raise ScheduleNotFound(schedule_id)
    handle = client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise ScheduleNotFound(schedule_id) from None
        raise
    if described.typed_search_attributes.get(TENANT) != tenant:
        raise ScheduleNotFound(schedule_id)
    return ref, handle, described


@router.get("", response_model=ScheduleListOut)
async def list_schedules(
    client: TemporalClient,
    tenant: Tenant,
    workflow: Annotated[
        str | None, Query(pattern=NAME_PATTERN, max_length=200, description="Only this workflow")
    ] = None,
) -> ScheduleListOut:
    """The caller's schedules by id, through Temporal visibility (may lag a second)."""
    found: list[ScheduleSummaryOut] = []
    async for listed in await client.list_schedules(f"{TENANT.name} = '{tenant}'"):
        ref = ScheduleRef.parse(listed.id)
        if ref is None or ref.tenant != tenant or workflow not in (None, ref.workflow):
            continue
        found.append(ScheduleSummaryOut.of(ref, listed))
    return ScheduleListOut(schedules=sorted(found, key=lambda s: s.id))


@router.get("/{schedule_id}", response_model=ScheduleOut, responses=_NOT_FOUND)
async def get_schedule(
    schedule_id: str, client: TemporalClient, store: Store, tenant: Tenant
) -> ScheduleOut:
    """A schedule: its trigger as declared, paused or not, its recent runs, its next times."""
    ref, _, described = await owned_schedule(client, schedule_id, tenant)
    return await _view(ref, described, store)


async def _view(ref: ScheduleRef, described: ScheduleDescription, store: Store) -> ScheduleOut:
    view = ScheduleOut.of(ref, described, None)
    if view.version is None:
        return view
    try:
        published = await run_in_threadpool(store.get, ref.tenant, ref.workflow, view.version)
    except NotFound:
        return view
    for index, trigger in published.definition.schedule_triggers():
        if trigger_name(index, trigger) == ref.trigger:
            declared = trigger.schedule.model_dump(mode="json", exclude_unset=True)
            return view.model_copy(update={"schedule": declared})
    return view


@router.post("/{schedule_id}/pause", response_model=StateOut, responses=_NOT_FOUND)
async def pause(
    schedule_id: str,
    client: TemporalClient,
    tenant: Tenant,
    body: Annotated[NoteIn | None, Body()] = None,
) -> StateOut:
    """Pause a schedule: it starts no run at its times until resumed (runs it started go on).
    Pausing a paused schedule changes nothing."""
    return await _set_paused(client, schedule_id, tenant, True, body)


@router.post("/{schedule_id}/resume", response_model=StateOut, responses=_NOT_FOUND)
async def resume(
    schedule_id: str,
    client: TemporalClient,
    tenant: Tenant,
    body: Annotated[NoteIn | None, Body()] = None,
) -> StateOut:
    """Resume a paused schedule from its next time (missed times are not run: backfill them).
    Resuming a running schedule changes nothing."""
    return await _set_paused(client, schedule_id, tenant, False, body)


async def _set_paused(
    client: Client, schedule_id: str, tenant: str, paused: bool, body: NoteIn | None
) -> StateOut:
    ref, handle, described = await owned_schedule(client, schedule_id, tenant)
    state = described.schedule.state
    if state.paused == paused:
        return StateOut(schedule_id=ref.id, paused=paused, note=state.note, changed=False)
    note = (body.note if body else None) or ("paused" if paused else "resumed") + " via the API"
    try:
        await (handle.pause(note=note) if paused else handle.unpause(note=note))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ScheduleNotFound(schedule_id) from None
        raise
    return StateOut(schedule_id=ref.id, paused=paused, note=note, changed=True)


@router.post(
    "/{schedule_id}/trigger", status_code=202, response_model=TriggeredOut, responses=_NOT_FOUND
)
async def trigger(
    schedule_id: str,
    client: TemporalClient,
    tenant: Tenant,
    body: Annotated[TriggerIn | None, Body()] = None,
) -> TriggeredOut:
    """Start a run now, paused or not; by default even if one of its runs is running
    (`overlap: allow`). Answers the run once Temporal reports it (`run_id` null if it has not
    within 5 s, or `overlap` kept it from starting)."""
    ref, handle, described = await owned_schedule(client, schedule_id, tenant)
    seen = set(_action_ids(described))
    overlap = OVERLAP[(body or TriggerIn()).overlap]
    try:
        await handle.trigger(overlap=overlap)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ScheduleNotFound(schedule_id) from None
        raise
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TRIGGER_WAIT
    while loop.time() < deadline:
        new = [i for i in _action_ids(await handle.describe()) if i not in seen]
        if new:
            return TriggeredOut(schedule_id=ref.id, run_id=new[-1])
        await asyncio.sleep(0.1)
    return TriggeredOut(schedule_id=ref.id, run_id=None)


def _action_ids(described: ScheduleDescription) -> list[str]:
    """The run ids of a schedule's recent and running actions, oldest first."""
    ids = [getattr(r.action, "workflow_id", "") for r in described.info.recent_actions]
    ids += [getattr(r, "workflow_id", "") for r in described.info.running_actions]
    return [i for i in ids if i]


@router.post(
    "/{schedule_id}/backfill",
    status_code=202,
    response_model=BackfillOut,
    responses={**_NOT_FOUND, 422: {"model": ErrorOut, "description": "A range that is not valid"}},
)
async def backfill(
    schedule_id: str,
    body: BackfillIn,
    client: TemporalClient,
    settings: Settings,
    store: Store,
    tenant: Tenant,
) -> BackfillOut:
    """Start the runs of the schedule's fire times in a past range (both ends included), as if
    each time were now; at most `limits.schedules.max_backfill_runs` runs."""
    ref, handle, described = await owned_schedule(client, schedule_id, tenant)
    start, end = _aware(body.start), _aware(body.end)
    if end <= start:
        raise HTTPException(422, "end: the range must end after it starts")
    if end > datetime.now(UTC) + timedelta(seconds=1):
        raise HTTPException(422, "end: a backfill covers past times only")
    view = await _view(ref, described, store)
    at_most = settings.limits.schedules.max_backfill_runs
    runs = _count(view, start, end, at_most)
    if runs > at_most:
        raise HTTPException(
            422,
            f"the range holds more than {at_most} fire times, this server's maximum for one "
            "backfill (limits.schedules.max_backfill_runs): ask for a shorter range",
        )
    try:
        await handle.backfill(ScheduleBackfill(start, end, overlap=OVERLAP[body.overlap]))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ScheduleNotFound(schedule_id) from None
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise HTTPException(422, f"Temporal refused the backfill: {exc.message}") from None
        raise
    return BackfillOut(schedule_id=ref.id, start=start, end=end, overlap=body.overlap, runs=runs)


def _aware(moment: datetime) -> datetime:
    """A time in UTC (a time without a zone is read as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _count(view: ScheduleOut, start: datetime, end: datetime, at_most: int) -> int:
    """Fire times of the schedule in the range (from its trigger as declared)."""
    if view.schedule is None:
        raise HTTPException(409, f"schedule '{view.id}' has no readable trigger to backfill")
    return count_fire_times(ScheduleSpec.model_validate(view.schedule), start, end, at_most)


# ---- the publish hook ----------------------------------------------------------------------


def quota_check(request: Request, tenant: str) -> Check:
    """Publish-time findings about a definition's triggers that need more than lint: the
    tenant's schedule quota (Temporal's count), and named subflows the scheduled runs pin.

    The check runs in the thread pool (inside :meth:`DefinitionStore.publish`); it asks Temporal
    through the app's event loop, and only for a definition that has triggers.
    """
    state = request.app.state
    loop = asyncio.get_running_loop()

    def check(definition: Definition) -> list[Problem]:
        if not definition.schedule_triggers():
            return []
        client: Client = state.client
        settings: ApiSettings = state.settings
        store: DefinitionStore = state.store
        problems: list[Problem] = []
        try:
            store.resolve_subflows(tenant, definition)
        except NotFound as exc:
            message = f"scheduled runs pin their subflows at publish, and {exc}"
            problems.append(Problem("triggers", message, code="subflow"))
        asked = asyncio.run_coroutine_threadsafe(tenant_schedule_counts(client, tenant), loop)
        try:
            counts = asked.result(QUOTA_WAIT)
        except TimeoutError:
            asked.cancel()
            detail = "Temporal did not count the tenant's schedules in time: publish again"
            raise HTTPException(503, detail) from None
        others = sum(n for name, n in counts.items() if name != definition.name)
        limit = settings.limits.schedules.max_per_tenant
        mine = len(definition.schedule_triggers())
        if others + mine > limit:
            message = (
                f"the tenant would have {others + mine} schedules, over "
                f"this server's maximum of {limit} (limits.schedules.max_per_tenant)"
            )
            problems.append(Problem("triggers", message, code="limit"))
        return problems

    return check


async def after_publish(
    request: Request, tenant: str, published: Published
) -> PublishedOut | JSONResponse:
    """The publish answer once the workflow's schedules match the new version.

    A version without triggers whose previous version had none touches no schedule. If
    Temporal cannot take the change, the version stays published and the answer is 503 (publish
    again to retry).
    """
    out = PublishedOut.of(published)
    store: DefinitionStore = request.app.state.store
    previous: list[str] = []
    if published.version > 1:
        before = await run_in_threadpool(store.get, tenant, published.name, published.version - 1)
        previous = [trigger_name(i, t) for i, t in before.definition.schedule_triggers()]
    if not published.definition.schedule_triggers() and not previous:
        return PublishedWithSchedulesOut(**out.model_dump())
    settings: ApiSettings = request.app.state.settings
    client: Client = request.app.state.client
    try:
        subflows = await run_in_threadpool(store.resolve_subflows, tenant, published.definition)
        run = RunRequest(
            definition=published.definition,
            version=published.version,
            tenant=tenant,
            subflows=subflows,
            flow_limits=settings.limits.flow,
            events_out=settings.events_out is not None,
        )
        synced = await sync_schedules(client, run, settings.task_queue, previous)
    except (RPCError, NotFound) as exc:
        detail = (
            f"version {published.version} of {published.name!r} is published, but its "
            f"schedules could not be updated ({exc}): publish again to retry"
        )
        return JSONResponse({"detail": detail}, status_code=503)
    ids = sorted(synced.created + synced.updated)
    return PublishedWithSchedulesOut(
        **out.model_dump(), schedules=ids, schedules_deleted=synced.deleted
    )
