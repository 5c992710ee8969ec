"""The limiter's wire names and payloads: signals between holder runs and limiter workflows."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LIMITER_WORKFLOW_NAME = "kworkflow.limiter"
"""Temporal workflow type of a limiter."""
ACQUIRE_SIGNAL = "kworkflow.limiter.acquire"
"""Signal a holder run sends (with start) to ask a limiter for a slot."""
RELEASE_SIGNAL = "kworkflow.limiter.release"
"""Signal a holder run sends when the step that held (or waited for) a slot ended."""
GRANT_SIGNAL = "kworkflow.limiter.grant"
"""Signal a limiter sends to a holder run: its request has a slot."""
ACQUIRE_UPDATE = "kworkflow.limiter.acquire-now"
"""Update a holder run sends (with start) to ask for a slot and learn at once whether it has
one (:class:`Answer`); a request it does not grant at once is granted later by signal."""
MAX_LIMIT = 10_000
"""The largest limit a limiter keeps (a larger one is clamped to it)."""


def limiter_id(scope: str, tenant: str, key: str = "") -> str:
    """The workflow id of the limiter for ``key`` of ``tenant`` in ``scope`` (``quota``...).

    The tenant and key are hashed, so any text (long, odd characters) gives a short valid id and
    two tenants never share a limiter.
    """
    digest = hashlib.sha256(f"{scope}\0{tenant}\0{key}".encode()).hexdigest()[:24]
    return f"kw-limit-{scope}-{digest}"


class Acquire(BaseModel):
    """Payload of :data:`ACQUIRE_SIGNAL`.

    Attributes:
        request: The request's id, unique in the holder run (``<step path>#<n>``).
        holder: The holder run's workflow id (where the grant is signalled).
        limit: The limit the holder's configuration says (the latest one wins).
        period_seconds: A rate limit's period: the grant holds its slot for this long from
            when it is given, whatever the holder does (None: until the holder releases).
        strategy: When no slot is free: wait (``queue``), or cancel the run that has held a
            slot longest (``cancel_oldest``) or the asking run (``cancel_newest``).
    """

    model_config = ConfigDict(frozen=True)

    request: str
    holder: str
    limit: int = Field(ge=1)
    period_seconds: float | None = Field(default=None, gt=0)
    strategy: Literal["queue", "cancel_oldest", "cancel_newest"] = "queue"


class Answer(BaseModel):
    """Result of :data:`ACQUIRE_UPDATE`: whether the request holds a slot now (False: it waits
    in the queue, or its run is being cancelled by a run-level strategy)."""

    model_config = ConfigDict(frozen=True)

    granted: bool


class Release(BaseModel):
    """Payload of :data:`RELEASE_SIGNAL`: the holder no longer needs (or waits for) a slot."""

    model_config = ConfigDict(frozen=True)

    request: str
    holder: str


class Grant(BaseModel):
    """Payload of :data:`GRANT_SIGNAL`."""

    model_config = ConfigDict(frozen=True)

    request: str
    limiter: str
