"""Publish events out: a new definition version as a ``kworkflow.workflow.published`` CloudEvent.

Sent from the API process (a workflow's publish is no run, so no activity sends it) to the
configured sink (:mod:`activities.events_out`, the same format and signature), in a
background task after the publish answer: at most :data:`ATTEMPTS` tries, 1, 2, 4 s apart
(408/429/5xx and connection errors; other answers end the tries). An event not delivered is
logged; the publish stands. The id is ``<tenant>/<workflow>@<version>``: a version is
published once, so the id names it.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import Request

from activities.events_out import EventsOutConfig, SinkError, cloud_event, post_events
from registry.store import Published

ATTEMPTS = 4
"""Tries of one publish event."""
PUBLISHED = "kworkflow.workflow.published"
log = logging.getLogger("kworkflow.events_out")
_sending: set[asyncio.Task[None]] = set()


def publish_event(tenant: str, published: Published) -> dict[str, object]:
    """The CloudEvent of ``published``."""
    created = published.created_at.isoformat().replace("+00:00", "Z")
    return cloud_event(
        f"{tenant}/{published.name}@{published.version}",
        PUBLISHED,
        f"kworkflow/{tenant}/{published.name}",
        f"{published.name}@{published.version}",
        created,
        {"tenant": tenant, "workflow": published.name, "version": published.version},
    )


def announce(request: Request, tenant: str, published: Published) -> None:
    """Send the publish event in a task of its own, if a sink is configured."""
    settings = getattr(request.app.state, "settings", None)  # an app without settings: none
    config: EventsOutConfig | None = settings.events_out if settings is not None else None
    if config is None:
        return
    task = asyncio.get_running_loop().create_task(_send(config, publish_event(tenant, published)))
    _sending.add(task)  # kept so that the task is not collected mid-flight
    task.add_done_callback(_sending.discard)


async def _send(config: EventsOutConfig, event: dict[str, object]) -> None:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await post_events(config, [event])
            return
        except SinkError as exc:
            if not exc.retry or attempt == ATTEMPTS:
                log.warning("publish event %s not delivered: %s", event["id"], exc)
                return
        await asyncio.sleep(2 ** (attempt - 1))
