"""The ``kworkflow.recent_events`` activity: the events an ``event`` step may have missed.

An ``event`` step that starts waiting asks it once for the kept events of its tenant and type
(:mod:`registry.events`), then relies on signals. The worker reads the registry's database
(``KWORKFLOW_DATABASE_URL``, as the API does); a worker without it answers no events, and the
step waits for signals only.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity

RECENT_EVENTS = "kworkflow.recent_events"

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
    """The kept events of the query's tenant and type since ``since``."""

    def read() -> list[dict[str, Any]]:
        return list(_store().recent(query.tenant, query.type, query.since))

    return RecentEvents(events=await asyncio.to_thread(read))
