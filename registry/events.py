"""Recent CloudEvents per tenant, and the index of published event triggers, in the registry's SQL.

``events`` keeps each event a tenant sent, keyed by (tenant, source, id), for
:data:`DEFAULT_WINDOW` (``KWORKFLOW_EVENT_WINDOW``) and at most :data:`DEFAULT_KEEP` of one type
(``KWORKFLOW_EVENT_KEEP``): a second event with the same source and id is a duplicate, and an
``event`` step that starts waiting reads the events of its type it may have missed
(:mod:`activities.events`). ``event_triggers`` holds, per (tenant, workflow name), the triggers
of the latest published version when it has some: ``POST /v1/events`` reads the tenant's rows
only, never every definition.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from interpreter.spec import Definition
from registry.source import MAX_NAME_LENGTH

DEFAULT_WINDOW = timedelta(minutes=5)
"""How long an event is kept for runs that start waiting after it arrived."""
DEFAULT_KEEP = 1_000
"""How many events of one tenant and type are kept at most (the oldest go first)."""
WINDOW_ENV = "KWORKFLOW_EVENT_WINDOW"
KEEP_ENV = "KWORKFLOW_EVENT_KEEP"

metadata = MetaData()
events = Table(
    "events",
    metadata,
    Column("tenant", String(MAX_NAME_LENGTH), primary_key=True),
    Column("source", String(1024), primary_key=True),
    Column("id", String(1024), primary_key=True),
    Column("type", String(1024), nullable=False, index=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("event_json", Text, nullable=False),
)
event_triggers = Table(
    "event_triggers",
    metadata,
    Column("tenant", String(MAX_NAME_LENGTH), primary_key=True),
    Column("name", String(MAX_NAME_LENGTH), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("triggers_json", Text, nullable=False),
)


@dataclass(frozen=True)
class Retention:
    """How long, and how many, events are kept (see the module docstring)."""

    window: timedelta = DEFAULT_WINDOW
    keep: int = DEFAULT_KEEP

    @classmethod
    def from_env(cls) -> Retention:
        """``KWORKFLOW_EVENT_WINDOW`` (seconds) and ``KWORKFLOW_EVENT_KEEP``, else defaults."""
        window = os.environ.get(WINDOW_ENV, "").strip()
        keep = os.environ.get(KEEP_ENV, "").strip()
        return cls(
            window=timedelta(seconds=float(window)) if window else DEFAULT_WINDOW,
            keep=int(keep) if keep else DEFAULT_KEEP,
        )


@dataclass(frozen=True)
class IndexedTriggers:
    """The event triggers of a workflow's latest version."""

    name: str
    version: int
    triggers: list[dict[str, Any]]


class EventStore:
    """The ``events`` and ``event_triggers`` tables over an engine (the registry's)."""

    def __init__(self, engine: Engine, retention: Retention | None = None) -> None:
        self._engine = engine
        self.retention = retention or Retention.from_env()
        metadata.create_all(engine)

    def add(self, tenant: str, event: dict[str, Any], now: datetime | None = None) -> bool:
        """Keep ``event``; False when the tenant already sent one with its source and id."""
        now = now or datetime.now(UTC)
        row = {
            "tenant": tenant,
            "source": event["source"],
            "id": event["id"],
            "type": event["type"],
            "received_at": now,
            "event_json": json.dumps(event),
        }
        with self._engine.begin() as conn:
            self._prune(conn, tenant, event["type"], now)
            try:
                with conn.begin_nested():
                    conn.execute(insert(events).values(**row))
            except IntegrityError:
                return False
        return True

    def recent(self, tenant: str, type_: str, since: datetime) -> list[dict[str, Any]]:
        """The kept events of ``tenant`` and ``type_`` received at most the window before
        ``since`` (when a step began to wait), oldest first."""
        window = self.retention.window
        since = max(since - window, datetime.now(UTC) - window)
        query = (
            select(events.c.event_json)
            .where(
                and_(
                    events.c.tenant == tenant,
                    events.c.type == type_,
                    events.c.received_at >= since,
                )
            )
            .order_by(events.c.received_at)
            .limit(self.retention.keep)
        )
        with self._engine.connect() as conn:
            return [json.loads(text) for (text,) in conn.execute(query)]

    def _prune(self, conn: Connection, tenant: str, type_: str, now: datetime) -> None:
        """Drop the tenant's events older than the window, and the oldest of ``type_`` over
        the count."""
        conn.execute(
            delete(events).where(
                and_(events.c.tenant == tenant, events.c.received_at < now - self.retention.window)
            )
        )
        over = (
            select(events.c.received_at)
            .where(and_(events.c.tenant == tenant, events.c.type == type_))
            .order_by(events.c.received_at.desc())
            .offset(self.retention.keep - 1)
            .limit(1)
        )
        oldest_kept = conn.execute(over).scalar()
        if oldest_kept is not None:
            conn.execute(
                delete(events).where(
                    and_(
                        events.c.tenant == tenant,
                        events.c.type == type_,
                        events.c.received_at <= oldest_kept,
                    )
                )
            )

    def index_triggers(self, tenant: str, name: str, version: int, definition: Definition) -> None:
        """Record the triggers of a newly published version (none: the name leaves the index)."""
        key = and_(event_triggers.c.tenant == tenant, event_triggers.c.name == name)
        triggers = [
            t.model_dump(mode="json", exclude_none=True) for _, t in definition.event_triggers()
        ]
        with self._engine.begin() as conn:
            current = conn.execute(select(event_triggers.c.version).where(key)).scalar()
            if current is not None and current > version:
                return  # a later version was indexed meanwhile
            conn.execute(delete(event_triggers).where(key))
            if triggers:
                row = {"tenant": tenant, "name": name, "version": version}
                conn.execute(
                    insert(event_triggers).values(**row, triggers_json=json.dumps(triggers))
                )

    def triggers(self, tenant: str) -> list[IndexedTriggers]:
        """The tenant's workflows whose latest version has event triggers, by name."""
        query = (
            select(event_triggers.c.name, event_triggers.c.version, event_triggers.c.triggers_json)
            .where(event_triggers.c.tenant == tenant)
            .order_by(event_triggers.c.name)
        )
        with self._engine.connect() as conn:
            return [
                IndexedTriggers(name, version, json.loads(text))
                for name, version, text in conn.execute(query)
            ]
