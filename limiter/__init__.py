"""Durable limiters: one Temporal workflow per limiter key grants slots to steps of runs.

The per-tenant quota of concurrently executing steps (:mod:`interpreter.quota`) is a limiter
whose key is the tenant and whose limit is the operator's configured quota. docs/flow-control.md
describes the protocol.
"""

from limiter.names import (
    ACQUIRE_SIGNAL,
    ACQUIRE_UPDATE,
    GRANT_SIGNAL,
    LIMITER_WORKFLOW_NAME,
    RELEASE_SIGNAL,
    limiter_id,
)

__all__ = [
    "ACQUIRE_SIGNAL",
    "ACQUIRE_UPDATE",
    "GRANT_SIGNAL",
    "LIMITER_WORKFLOW_NAME",
    "RELEASE_SIGNAL",
    "limiter_id",
]
