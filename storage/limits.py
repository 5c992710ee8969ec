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
    StorageDriverWorkflowInfo,
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


def payload_too_large(
    size: int, limit: int, context: StorageDriverStoreContext
) -> ApplicationError:
    """The non-retryable failure for a payload of ``size`` bytes above ``limit``.

    In a step activity the message names the step (the activity id is the step's path) and its
    kind; elsewhere, the run.
    """
    if activity.in_activity():
        info = activity.info()
        what = f"the output of step '{info.activity_id}' ({info.activity_type})"
        # `attempt` as every step activity's first detail carries it (activities.contract)
        details = {"attempt": info.attempt, "step": info.activity_id, "kind": info.activity_type}
    elif isinstance(context.target, StorageDriverWorkflowInfo) and context.target.id:
        what = f"a payload of run '{context.target.id}'"
        details = {"run_id": context.target.id}
    else:
        what, details = "a payload", {}
    return ApplicationError(
        f"{what} is {describe_size(size)} ({size} bytes), above the limit of "
        f"{describe_size(limit)} ({limit} bytes, KWORKFLOW_PAYLOAD_MAX)",
        {**details, "size": size, "limit": limit},
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
                    raise payload_too_large(size, self.max_bytes, context)
        # Elsewhere (a workflow's commands and results, a client's run input) refusing would
        # fail a workflow task again and again: those payloads are made of bounded step
        # outputs, or bounded by the API (docs/operations.md).
        return await self.inner.store(context, payloads)

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """The inner driver's payloads for ``claims``."""
        return await self.inner.retrieve(context, claims)
