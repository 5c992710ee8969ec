"""The index of published webhook triggers, (tenant, webhook) -> workflow, in the registry's SQL.

``webhook_triggers`` holds one row per webhook name of a tenant: the workflow whose latest
published version declares it, that version, and the trigger. ``POST /v1/hooks/{tenant}/{name}``
reads that one row, never the definitions. A new version of a workflow replaces its rows (a
webhook it no longer declares leaves the index); a webhook name another workflow of the tenant
already holds passes to the workflow published last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
)

from interpreter.spec import Definition
from registry.source import MAX_NAME_LENGTH

metadata = MetaData()
webhook_triggers = Table(
    "webhook_triggers",
    metadata,
    Column("tenant", String(MAX_NAME_LENGTH), primary_key=True),
    Column("webhook", String(64), primary_key=True),
    Column("name", String(MAX_NAME_LENGTH), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("trigger_json", Text, nullable=False),
)


@dataclass(frozen=True)
class IndexedHook:
    """The workflow a webhook starts, its version, and the trigger (dumped, without nulls)."""

    name: str
    version: int
    trigger: dict[str, Any]


class WebhookIndex:
    """The ``webhook_triggers`` table over an engine (the registry's)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)

    def index(self, tenant: str, name: str, version: int, definition: Definition) -> None:
        """Record the webhooks of a newly published version of ``name``."""
        table = webhook_triggers
        mine = and_(table.c.tenant == tenant, table.c.name == name)
        with self._engine.begin() as conn:
            current = conn.execute(select(func.max(table.c.version)).where(mine)).scalar()
            if current is not None and current > version:
                return  # a later version was indexed meanwhile
            conn.execute(delete(table).where(mine))
            for _, hook in definition.webhook_triggers():
                conn.execute(
                    delete(table).where(
                        and_(table.c.tenant == tenant, table.c.webhook == hook.webhook)
                    )
                )
                trigger = hook.model_dump(mode="json", exclude_none=True)
                conn.execute(
                    insert(table).values(
                        tenant=tenant,
                        webhook=hook.webhook,
                        name=name,
                        version=version,
                        trigger_json=json.dumps(trigger),
                    )
                )

    def find(self, tenant: str, webhook: str) -> IndexedHook | None:
        """The tenant's workflow with the webhook ``webhook``, or None."""
        table = webhook_triggers
        query = select(table.c.name, table.c.version, table.c.trigger_json).where(
            and_(table.c.tenant == tenant, table.c.webhook == webhook)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else IndexedHook(row[0], row[1], json.loads(row[2]))
