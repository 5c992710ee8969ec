"""Errors of the storage package.

Hierarchy::

    StorageError
     ├── StorageConfigError   a KWORKFLOW_BLOB_* / KWORKFLOW_PAYLOAD_* setting is wrong
     └── BlobNotFound         a reference names a blob the store does not have (or a forged one)

A payload above the operator's maximum is not one of these: it leaves the store as a
non-retryable ``temporalio.exceptions.ApplicationError`` of type ``PayloadTooLarge``
(:func:`storage.limits.payload_too_large`), so that the step that produced it fails.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of the errors raised by the :mod:`storage` package."""


class StorageConfigError(StorageError):
    """A storage setting is wrong; the message names the variable and what it expects."""


class BlobNotFound(StorageError):
    """A reference names a blob this store cannot give back.

    Attributes:
        key: The blob's key as the reference gives it.
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        super().__init__(f"blob {key!r}: {reason}")
