"""Large payloads off history: Temporal's external storage over a blob store, and its limits.

Every kworkflow client and worker converts payloads with :func:`data_converter_from_env`:
payloads of at least ``KWORKFLOW_PAYLOAD_THRESHOLD`` (256 KiB) are written to the blob store
and history keeps a reference; readers fetch them back transparently. Payloads above
``KWORKFLOW_PAYLOAD_MAX`` (64 MiB) are refused with a non-retryable ``PayloadTooLarge``.
See docs/operations.md.
"""

from storage.converter import blob_driver, close_stores, data_converter, data_converter_from_env
from storage.errors import BlobNotFound, StorageConfigError, StorageError
from storage.files import FileDriver
from storage.limits import PAYLOAD_TOO_LARGE, BoundedDriver
from storage.settings import StorageSettings, parse_size

__all__ = [
    "PAYLOAD_TOO_LARGE",
    "BlobNotFound",
    "BoundedDriver",
    "FileDriver",
    "StorageConfigError",
    "StorageError",
    "StorageSettings",
    "blob_driver",
    "close_stores",
    "data_converter",
    "data_converter_from_env",
    "parse_size",
]
