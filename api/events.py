"""``GET /v1/runs/{run_id}/events``: a run's step transitions as a Server-Sent Events stream.

The stream polls the interpreter's ``transitions`` query from the last sequence number sent and
sends each transition as ``id: <seq>``, ``event: <type>``, ``data: <the transition as JSON>``.
A client that reconnects with ``Last-Event-ID`` (or ``?after=``) gets every transition after
that one, so it misses nothing and sees nothing twice. ``run_paused`` and ``run_resumed`` are
transitions like the others (with ``by`` and ``reason`` when given). The stream ends after the
run's ending transition (``run_succeeded``, ``run_failed``, ``run_cancelled``); a run that
ended without one (terminated, or timed out by Temporal) ends the stream with an
``event: run_<status>`` that has no id. A run whose workflow tasks keep
failing gets one ``event: run_stalled`` (no id, data ``{status, error}``) and the stream goes on:
the run may recover when a fixed worker takes it up, or be cancelled. While nothing happens a
comment (``: keep-alive``) is sent every ``events_keepalive`` seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from api import stalls
from api.runs import Settings, TemporalClient, Tenant, owned_run
from api.schemas_runs import STATUS_OF, ErrorOut
from api.settings import ApiSettings
from interpreter.request import TRANSITIONS_QUERY

router = APIRouter(prefix="/v1/runs", tags=["runs"])

ENDING = frozenset({"run_succeeded", "run_failed", "run_cancelled"})
"""The transitions after which a run never changes again (the stream ends after them)."""
DESCRIBE_EVERY = 2.0
"""Seconds between two checks, while no transition comes, that the run has not ended."""

_SSE_EXAMPLE = (
    "id: 1\nevent: step_started\n"
    'data: {"seq": 1, "at": "2025-01-01T00:00:00Z", "type": "step_started", "step": "greet"}\n\n'
)


@router.get(
    "/{run_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An event stream that ends when the run ends",
            "content": {"text/event-stream": {"example": _SSE_EXAMPLE}},
        },
        404: {"model": ErrorOut, "description": "No such run (for this tenant)"},
    },
)
async def events(
    run_id: str,
    client: TemporalClient,
    settings: Settings,
    tenant: Tenant,
    after: Annotated[
        int, Query(ge=0, le=2**53, description="Send the transitions after this sequence number")
    ] = 0,
    last_event_id: Annotated[
        int | None,
        Header(
            alias="Last-Event-ID",
            ge=0,
            le=2**53,
            description="Set by a reconnecting EventSource; wins over `after`",
        ),
    ] = None,
) -> StreamingResponse:
    """The run's transitions (step started, retrying, waiting, succeeded, failed, skipped,
    cancelled; run paused, resumed, succeeded, failed, cancelled) as Server-Sent Events."""
    handle, _ = await owned_run(client, settings, run_id, tenant)
    start = last_event_id if last_event_id is not None else after
    return StreamingResponse(
        _stream(client, handle, settings, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    client: Client, handle: WorkflowHandle[Any, Any], settings: ApiSettings, seq: int
) -> AsyncIterator[str]:
    """Poll, send, and stop after the run's last transition.

    When the client leaves, Starlette cancels the response (ASGI spec 2.3, as uvicorn speaks
    it) or the next write fails (2.4): either way the polling stops.
    """
    query_timeout = timedelta(seconds=settings.query_timeout)
    loop = asyncio.get_running_loop()
    last_sent = last_checked = loop.time()
    told_stalled = False
    yield ": stream of run transitions\n\n"
    while True:
        transitions = await _transitions(handle, seq, query_timeout)
        for transition in transitions or []:
            seq = int(transition["seq"])
            yield _event(transition)
            last_sent = loop.time()
            if transition.get("type") in ENDING:
                return
        now = loop.time()
        if not transitions and now - last_checked >= DESCRIBE_EVERY:
            last_checked = now
            ended, stall = await _ended_status(client, handle, query_timeout)
            if stall is not None and not told_stalled:
                told_stalled = True
                data = json.dumps({"status": "stalled", "error": stall})
                yield f"event: run_stalled\ndata: {data}\n\n"
            if ended is not None:
                for transition in await _transitions(handle, seq, query_timeout) or []:
                    seq = int(transition["seq"])
                    yield _event(transition)
                    if transition.get("type") in ENDING:
                        return
                yield f"event: run_{ended}\ndata: {json.dumps({'status': ended})}\n\n"
                return
        if now - last_sent >= settings.events_keepalive:
            last_sent = now
            yield ": keep-alive\n\n"
        await asyncio.sleep(settings.events_poll_interval)


async def _transitions(
    handle: WorkflowHandle[Any, Any], seq: int, timeout: timedelta
) -> list[dict[str, Any]] | None:
    """The transitions after ``seq``; None when the query could not be answered now."""
    try:
        answer = await handle.query(TRANSITIONS_QUERY, seq, rpc_timeout=timeout)
    except Exception:  # no worker right now, or a timeout: try again on the next poll
        return None
    found = answer.get("transitions") if isinstance(answer, dict) else None
    return [t for t in found if isinstance(t, dict)] if isinstance(found, list) else None


async def _ended_status(
    client: Client, handle: WorkflowHandle[Any, Any], timeout: timedelta
) -> tuple[str | None, dict[str, Any] | None]:
    """The run's status once it has ended (None while it runs or cannot be described), and its
    stall error while it is stalled (:mod:`api.stalls`)."""
    try:
        description = await handle.describe(rpc_timeout=timeout)
    except RPCError as exc:
        return ("deleted" if exc.status == RPCStatusCode.NOT_FOUND else None), None
    if description.status in (None, WorkflowExecutionStatus.RUNNING):
        return None, await stalls.stall_error(client, description)
    return STATUS_OF.get(description.status, "ended"), None


def _event(transition: dict[str, Any]) -> str:
    data = json.dumps(transition, ensure_ascii=False, separators=(",", ":"))
    return f"id: {transition['seq']}\nevent: {transition.get('type', 'message')}\ndata: {data}\n\n"
