"""The operator's maximum payload size and the ``PayloadTooLarge`` failure above it."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)
from temporalio.exceptions import ApplicationError

PAYLOAD_TOO_LARGE = "PayloadTooLarge"
"""The error type of a step whose output is above the maximum (never retried)."""


def describe_size(size: int) -> str:
    """``64 MiB``, ``256 KiB``, ``2.5 MiB`` or ``300 bytes``."""
    for unit, name in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if size >= unit:
            value = size / unit
            return f"{value:.0f} {name}" if size % unit == 0 else f"{value:.1f} {name}"
    return f"{size} bytes"


def payload_too_large(size: int, limit: int) -> ApplicationError:
    """The non-retryable failure of the running step activity whose output is ``size`` bytes,
    above ``limit``: it names the step (the activity id is the step's path) and its kind."""
    info = activity.info()
    return ApplicationError(
        f"the output of step '{info.activity_id}' ({info.activity_type}) is "
        f"{describe_size(size)} ({size} bytes), above the limit of {describe_size(limit)} "
        f"({limit} bytes, KWORKFLOW_PAYLOAD_MAX)",
        # `attempt` first, as in every step activity's failure (activities.contract)
        {
            "attempt": info.attempt,
            "step": info.activity_id,
            "kind": info.activity_type,
            "size": size,
            "limit": limit,
        },
        type=PAYLOAD_TOO_LARGE,
        non_retryable=True,
    )


class BoundedDriver(StorageDriver):
    """A driver that refuses step outputs above ``max_bytes`` and hands the rest to ``inner``.

    It takes the inner driver's name and type, so references it writes are read back by the
    inner driver alone (a reader needs no limit).
    """

    def __init__(self, inner: StorageDriver, max_bytes: int) -> None:
        self.inner = inner
        self.max_bytes = max_bytes

    def name(self) -> str:
        """The inner driver's name (references carry it)."""
        return self.inner.name()

    def type(self) -> str:
        """The inner driver's type."""
        return self.inner.type()

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        """Store ``payloads`` with the inner driver unless one is above the maximum.

        Raises:
            temporalio.exceptions.ApplicationError: ``PayloadTooLarge``, non-retryable.
        """
        if activity.in_activity():  # a step's output: refusing it fails the step
            for payload in payloads:
                size = payload.ByteSize()
                if size > self.max_bytes:
                    raise payload_too_large(size, self.max_bytes)
        # Elsewhere (a workflow's commands and results, a client's run input) refusing would
        # fail a workflow task again and again: those payloads are made of bounded step
        # outputs, or bounded by the API (docs/operations.md).
        return await self.inner.store(context, payloads)

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """The inner driver's payloads for ``claims``."""
        return await self.inner.retrieve(context, claims)
