"""The ``kworkflow.recent_events`` activity: the events an ``event`` step may have missed.

An ``event`` step that starts waiting asks it once for the kept events of its tenant and type
(:mod:`registry.events`), then relies on signals. The worker reads the registry's database
(``KWORKFLOW_DATABASE_URL``, as the API does); a worker without it answers no events, and the
step waits for signals only.

The read waits first until visibility lists the run as waiting for the type (the query
``POST /v1/events`` routes by; at most :data:`VISIBLE_WITHIN`). The API stores an event before
it lists the waiting runs, so an event is either stored before this read, or listed after the run
was visible, and signalled: no event falls between the two.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from interpreter.event_waits import awaited_value

RECENT_EVENTS = "kworkflow.recent_events"
VISIBLE_WITHIN = 5.0
"""Seconds the read waits for visibility to list the run as waiting (then it reads anyway)."""
_FIRST_LOOK = 0.02
"""Seconds before the second look at visibility; each next one waits twice as long (to 0.5)."""

log = logging.getLogger(__name__)

_stores: dict[str, Any] = {}


class RecentEventsQuery(BaseModel):
    """Which events: ``tenant``'s of type ``type``, received at most the kept window before
    ``since`` (when the step began to wait)."""

    tenant: str
    type: str
    since: datetime


class RecentEvents(BaseModel):
    """The events found, oldest first."""

    events: list[dict[str, Any]]


def _store() -> Any:
    from registry.store import DefinitionStore, default_url

    url = default_url()
    if url not in _stores:
        _stores[url] = DefinitionStore(url)
    return _stores[url].events


@activity.defn(name=RECENT_EVENTS)
async def recent_events(query: RecentEventsQuery) -> RecentEvents:
    """The kept events of the query's tenant and type since ``since``, once the run is listed
    as waiting for the type."""
    await _listed_as_waiting(query)

    def read() -> list[dict[str, Any]]:
        return list(_store().recent(query.tenant, query.type, query.since))

    return RecentEvents(events=await asyncio.to_thread(read))


async def _listed_as_waiting(query: RecentEventsQuery) -> None:
    """Return once visibility lists this activity's run as waiting for ``query.type``.

    Gives up after :data:`VISIBLE_WITHIN` seconds (logged; the read then covers the events
    stored until now), and at once outside a worker (no client: nothing to ask).
    """
    try:
        client = activity.client()
    except RuntimeError:
        return
    info = activity.info()
    value = _quoted(awaited_value(query.tenant, query.type))
    listed = (
        f"WorkflowId = '{_quoted(info.workflow_id)}' AND RunId = '{_quoted(info.workflow_run_id)}'"
        f" AND ExecutionStatus = 'Running' AND KwAwaitedEvents = '{value}'"
    )
    deadline = time.monotonic() + VISIBLE_WITHIN
    pause = _FIRST_LOOK
    while True:
        if (await client.count_workflows(listed)).count:
            return
        if time.monotonic() + pause > deadline:
            log.warning(
                "run %s: not listed as waiting for %r after %.1f s; reading the kept events now",
                info.workflow_id,
                query.type,
                VISIBLE_WITHIN,
            )
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)


def _quoted(text: str | None) -> str:
    """``text`` inside single quotes of a visibility query."""
    return (text or "").replace("\\", "\\\\").replace("'", "\\'")
