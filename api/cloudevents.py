"""``POST /v1/events``: a CloudEvent reaches the runs waiting for it and starts triggered runs.

The event (CloudEvents 1.0 over HTTP, structured or binary mode: :mod:`api.cloudevent_http`) is
kept for the tenant (:mod:`registry.events`, which also says whether its ``source`` + ``id`` was
seen already), then

- every running run of the tenant whose ``KwAwaitedEvents`` holds ``<tenant>|<type>`` is
  signalled with it (:mod:`interpreter.event_waits`; a visibility query, not a scan of runs);
- every workflow of the tenant whose latest version has a matching ``event`` trigger
  (:mod:`interpreter.event_triggers`) starts a run whose id derives from the workflow, the
  event's source and id: the same event again starts nothing (it is listed as
  ``already_started``).

Trigger filters and inputs are CEL a tenant wrote: they are evaluated in a thread (never on the
event loop, which serves every tenant), and one event spends at most
:data:`EVENT_TRIGGER_BUDGET` evaluation steps on all of the tenant's triggers together; the
triggers left once it is spent are listed in ``skipped``, not evaluated.

Both are safe to repeat, so a duplicate event is routed again (a run ignores an event it has
seen): a client that retries after a failure loses nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.cloudevent_http import EventInvalid, parse_event
from api.runs import Settings, Store, TemporalClient, Tenant
from api.schemas_runs import ErrorOut
from api.settings import ApiSettings
from client.start import start_unique
from interpreter.celcost import EXPRESSION_BUDGET, Meter
from interpreter.errors import InputError
from interpreter.event_triggers import TriggerError, evaluate, type_matches
from interpreter.event_waits import EVENT_SIGNAL, awaited_value
from interpreter.inputs import prepare_input
from interpreter.request import WORKFLOW_NAME, RunRequest
from registry.errors import NotFound
from registry.events import IndexedTriggers
from registry.store import DefinitionStore

router = APIRouter(prefix="/v1/events", tags=["events"])
log = logging.getLogger("kworkflow.api.events")

SIGNAL_CONCURRENCY = 32
"""How many waiting runs are signalled at once."""
SIGNAL_ATTEMPTS = 3
"""Signals to a listed run that answers NOT_FOUND while it is still running."""
SIGNAL_RETRY_DELAY = 0.2
"""Seconds before the second attempt (twice that before the third)."""
EVENT_TRIGGER_BUDGET = 4 * EXPRESSION_BUDGET
"""The CEL evaluation steps one event may spend on all of its tenant's triggers together (a
few seconds of CPU at most): the triggers left once it is spent are skipped, not evaluated."""


class TriggeredRun(BaseModel):
    """A run a trigger started (or had started for this event before)."""

    run_id: str
    workflow: str
    version: int


class SkippedTrigger(BaseModel):
    """A trigger that matched but could not start its run."""

    workflow: str
    version: int
    reason: str


class EventOut(BaseModel):
    """What became of an event."""

    id: str
    source: str
    type: str
    duplicate: bool
    """The tenant had sent an event with this source and id within the kept window."""
    signalled: list[str]
    """The waiting runs the event was handed to (each checks its own filter)."""
    started: list[TriggeredRun]
    already_started: list[TriggeredRun]
    skipped: list[SkippedTrigger]


@router.post(
    "",
    status_code=202,
    response_model=EventOut,
    responses={
        413: {"model": ErrorOut, "description": "The event is too large"},
        415: {"model": ErrorOut, "description": "Batch mode, or a body that is not JSON"},
        422: {"model": ErrorOut, "description": "Not a CloudEvent: says which attribute"},
    },
)
async def publish_event(
    request: Request, client: TemporalClient, settings: Settings, store: Store, tenant: Tenant
) -> EventOut:
    """Send a CloudEvent 1.0 (structured: `Content-Type: application/cloudevents+json`;
    binary: `ce-*` headers, the body is `data`) to the caller's runs and triggers."""
    body = await request.body()
    if len(body) > settings.max_event_bytes:
        raise HTTPException(
            413, f"the event is larger than {settings.max_event_bytes} bytes ({len(body)} bytes)"
        )
    try:
        event = parse_event(request.headers, body)
    except EventInvalid as exc:
        raise HTTPException(exc.status, str(exc)) from None
    fresh = await run_in_threadpool(store.events.add, tenant, event)
    signalled = await _signal_waiting(client, tenant, event)
    out = EventOut(
        id=event["id"],
        source=event["source"],
        type=event["type"],
        duplicate=not fresh,
        signalled=signalled,
        started=[],
        already_started=[],
        skipped=[],
    )
    await _start_triggered(client, settings, store, tenant, event, out)
    return out


async def _signal_waiting(client: Client, tenant: str, event: dict[str, Any]) -> list[str]:
    """Signal every running run of ``tenant`` waiting for the event's type; their ids."""
    value = awaited_value(tenant, event["type"])
    query = (
        f"WorkflowType = '{WORKFLOW_NAME}' AND ExecutionStatus = 'Running' "
        f"AND KwAwaitedEvents = '{value}'"
    )
    ids = [wf.id async for wf in client.list_workflows(query)]
    gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

    async def signal(run_id: str) -> str | None:
        async with gate:
            return run_id if await _signal_one(client, run_id, event) else None

    done = await asyncio.gather(*(signal(i) for i in sorted(set(ids))))
    return [run_id for run_id in done if run_id is not None]


async def _signal_one(client: Client, run_id: str, event: dict[str, Any]) -> bool:
    """Signal one listed run; False only when it has ended (or is gone).

    The run was listed as waiting, so a NOT_FOUND answer is not taken at its word (dropping a
    run that still runs would leave it waiting for an event that was sent, with nothing said):
    the run is described, and signalled again while it still runs (:data:`SIGNAL_ATTEMPTS` in
    all). Other errors are raised.
    """
    handle = client.get_workflow_handle(run_id)
    for attempt in range(SIGNAL_ATTEMPTS):
        try:
            await handle.signal(EVENT_SIGNAL, event)
            return True
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        try:
            status = (await handle.describe()).status
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        if status != WorkflowExecutionStatus.RUNNING:  # it ended meanwhile
            return False
        log.warning("run %s is running but its signal was answered NOT_FOUND", run_id)
        await asyncio.sleep(SIGNAL_RETRY_DELAY * (attempt + 1))
    log.error("run %s running, not signalled after %d attempts", run_id, SIGNAL_ATTEMPTS)
    return False


def trigger_run_id(tenant: str, workflow: str, event: dict[str, Any]) -> str:
    """The run id a trigger of ``workflow`` gives the run it starts for ``event``."""
    digest = hashlib.sha256(f"{event['source']}\n{event['id']}".encode()).hexdigest()[:20]
    return f"{tenant}:{workflow}-ev-{digest}"


async def _start_triggered(
    client: Client,
    settings: ApiSettings,
    store: DefinitionStore,
    tenant: str,
    event: dict[str, Any],
    out: EventOut,
) -> None:
    """Start a run of every workflow with a trigger the event fires (first firing trigger)."""
    indexed = await run_in_threadpool(store.events.triggers, tenant)
    # CEL is CPU work: in a thread, so that a tenant's costly filters never hold the event loop
    matched = await run_in_threadpool(_matching, indexed, event)
    for entry, fired, problem in matched:
        if fired is None:
            if problem is not None:
                out.skipped.append(
                    SkippedTrigger(workflow=entry.name, version=entry.version, reason=problem)
                )
            continue
        run = TriggeredRun(
            run_id=trigger_run_id(tenant, entry.name, event),
            workflow=entry.name,
            version=entry.version,
        )
        try:
            request = await run_in_threadpool(
                _request, store, tenant, entry.name, entry.version, fired[1], settings
            )
        except (NotFound, InputError) as exc:
            out.skipped.append(
                SkippedTrigger(workflow=entry.name, version=entry.version, reason=str(exc))
            )
            continue
        priority = entry.triggers[fired[0]].get("priority")
        handle = await start_unique(
            client, request, settings.task_queue, run.run_id, priority=priority
        )
        (out.started if handle is not None else out.already_started).append(run)


def _matching(
    indexed: list[IndexedTriggers], event: dict[str, Any]
) -> list[tuple[IndexedTriggers, tuple[int, Any] | None, str | None]]:
    """For each workflow: ``(entry, (index, input) of its first firing trigger or None, why a
    trigger that did not fire could not be evaluated)``, within :data:`EVENT_TRIGGER_BUDGET`
    for all of them."""
    meter = Meter()
    found: list[tuple[IndexedTriggers, tuple[int, Any] | None, str | None]] = []
    for entry in indexed:
        fired, problem = _first_firing(entry.triggers, event, meter)
        found.append((entry, fired, problem))
    return found


def _first_firing(
    triggers: list[dict[str, Any]], event: dict[str, Any], meter: Meter
) -> tuple[tuple[int, Any] | None, str | None]:
    """``(index, input)`` of the first trigger the event fires (None if none does), and the
    first failure of a trigger that did not fire (a filter or input that failed on the event,
    or the event's budget used up)."""
    problem: str | None = None
    for index, trigger in enumerate(triggers):
        if not type_matches(str(trigger.get("event", "")), str(event["type"])):
            continue  # no CEL: costs nothing, and is never reported
        if meter.spent >= EVENT_TRIGGER_BUDGET:
            spent = (
                f"not evaluated: this event's triggers used up its budget of "
                f"{EVENT_TRIGGER_BUDGET:,} evaluation steps (cloudevents.EVENT_TRIGGER_BUDGET)"
            )
            return None, problem or spent
        try:
            fires, value = evaluate(trigger, event, meter)
        except TriggerError as exc:
            problem = problem or str(exc)
            continue
        if fires:
            return (index, value), None
    return None, problem


def _request(
    store: DefinitionStore,
    tenant: str,
    name: str,
    version: int,
    value: Any,
    settings: ApiSettings,
) -> RunRequest:
    """The run request of a triggered run (its input checked against the schema).

    Raises:
        NotFound: The version or a subflow is gone.
        InputError: The input does not fit the workflow's input schema.
    """
    published = store.get(tenant, name, version)
    definition = published.definition
    prepare_input(definition.input, value)
    return RunRequest(
        definition=definition,
        input=value,
        version=version,
        tenant=tenant,
        subflows=store.resolve_subflows(tenant, definition),
        flow_limits=settings.limits.flow,
        events_out=settings.events_out is not None,
    )
