"""kworkflow's data converter: pydantic payloads, with large ones kept in a blob store."""

from __future__ import annotations

import dataclasses
import functools
import sys

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, ExternalStorage, StorageDriver

from storage.files import FileDriver
from storage.limits import BoundedDriver
from storage.settings import StorageSettings


def blob_driver(settings: StorageSettings) -> StorageDriver:
    """The configured store (S3 when a bucket is set, else files), refusing step outputs above
    the maximum."""
    inner: StorageDriver
    if settings.s3_bucket:
        from storage.s3 import s3_driver  # aioboto3 is imported only when S3 is used

        inner = s3_driver(settings.s3_bucket, settings.s3_endpoint, settings.s3_region)
    else:
        inner = FileDriver(settings.blob_dir)
    return BoundedDriver(inner, settings.max_bytes)


def data_converter(settings: StorageSettings) -> DataConverter:
    """The pydantic data converter with Temporal's external storage over :func:`blob_driver`."""
    return dataclasses.replace(
        pydantic_data_converter,
        external_storage=ExternalStorage(
            drivers=[blob_driver(settings)], payload_size_threshold=settings.threshold
        ),
    )


@functools.cache
def data_converter_from_env() -> DataConverter:
    """:func:`data_converter` for :meth:`StorageSettings.from_env`, built once per process.

    Raises:
        storage.errors.StorageConfigError: A setting is wrong.
    """
    return data_converter(StorageSettings.from_env())


async def close_stores() -> None:
    """Close the blob stores' connections opened in the running loop (S3 clients; files need
    none). Processes call it when they stop."""
    if "storage.s3" in sys.modules:
        from storage.s3 import close_clients

        await close_clients()
