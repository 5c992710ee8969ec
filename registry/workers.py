"""What the running workers offer (tools, providers, models), one row per worker, with expiry.

``worker_capabilities`` holds the last report of each worker (``PUT /v1/workers/{id}``, sent by
the worker with the operator's worker key): its task queue, the Python tools, providers and
models it serves, and when it last reported. A worker that has not reported for the expiry
(``KWORKFLOW_WORKER_EXPIRY``, 120 s by default) no longer counts, and its row is deleted the next
time the table is read. Workers are the deployment's, not a tenant's: every tenant of this API
sees the same ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, Text, delete, select

metadata = MetaData()
worker_capabilities = Table(
    "worker_capabilities",
    metadata,
    Column("worker_id", String(200), primary_key=True),
    Column("task_queue", String(200), nullable=False),
    Column("offer_json", Text, nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class WorkerOffer:
    """What one worker serves.

    Attributes:
        worker_id: The worker's identity (unique per process).
        task_queue: The task queue it polls.
        tools: The Python tools it has registered (builtins excluded: every worker has them).
        providers: Model provider -> the models it declares (empty: any model is accepted).
        default_provider: The provider a step without ``provider`` uses on this worker.
        last_seen: When it last reported (UTC); set by the store.
    """

    worker_id: str
    task_queue: str
    tools: tuple[str, ...] = ()
    providers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default_provider: str | None = None
    last_seen: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The offer as stored and as ``GET /v1/workers`` shows it."""
        return {
            "worker_id": self.worker_id,
            "task_queue": self.task_queue,
            "tools": list(self.tools),
            "providers": {name: list(models) for name, models in self.providers.items()},
            "default_provider": self.default_provider,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
        }


class WorkerIndex:
    """The ``worker_capabilities`` table over an engine (the registry's)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        metadata.create_all(engine)

    def report(self, offer: WorkerOffer) -> WorkerOffer:
        """Record ``offer`` as its worker's current one, seen now; the offer as stored."""
        now = datetime.now(UTC)
        data = json.dumps(
            {
                "tools": list(offer.tools),
                "providers": {k: list(v) for k, v in offer.providers.items()},
                "default_provider": offer.default_provider,
            }
        )
        table = worker_capabilities
        with self._engine.begin() as conn:
            conn.execute(delete(table).where(table.c.worker_id == offer.worker_id))
            conn.execute(
                table.insert().values(
                    worker_id=offer.worker_id,
                    task_queue=offer.task_queue,
                    offer_json=data,
                    last_seen=now,
                )
            )
        return WorkerOffer(
            offer.worker_id,
            offer.task_queue,
            offer.tools,
            offer.providers,
            offer.default_provider,
            now,
        )

    def remove(self, worker_id: str) -> bool:
        """Forget a worker (it stopped); False when it was not known."""
        table = worker_capabilities
        with self._engine.begin() as conn:
            result = conn.execute(delete(table).where(table.c.worker_id == worker_id))
        return bool(result.rowcount)

    def live(self, expiry: timedelta) -> list[WorkerOffer]:
        """The workers seen within ``expiry``, by id; older rows are deleted."""
        table = worker_capabilities
        cutoff = datetime.now(UTC) - expiry
        with self._engine.begin() as conn:
            conn.execute(delete(table).where(table.c.last_seen < cutoff))
            rows = conn.execute(select(table).order_by(table.c.worker_id)).all()
        offers = []
        for row in rows:
            data = json.loads(row.offer_json)
            seen = row.last_seen if row.last_seen.tzinfo else row.last_seen.replace(tzinfo=UTC)
            offers.append(
                WorkerOffer(
                    row.worker_id,
                    row.task_queue,
                    tuple(data.get("tools") or ()),
                    {k: tuple(v) for k, v in (data.get("providers") or {}).items()},
                    data.get("default_provider"),
                    seen,
                )
            )
        return offers
