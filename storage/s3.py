"""The production blob store: S3-compatible object storage (AWS S3, MinIO) through the SDK's
``S3StorageDriver`` and its aioboto3 adapter.

The aioboto3 client is opened on first use in each event loop and kept for the process's
life, so the data converter can be built once, before any loop runs (as kworkflow builds it).
Credentials come the usual AWS way (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a
profile, an instance role).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Mapping
from typing import Any

from temporalio.contrib.aws.s3driver import S3StorageDriver, S3StorageDriverClient

_OPEN: weakref.WeakSet[LazyS3Client] = weakref.WeakSet()


async def close_clients() -> None:
    """Close every S3 client opened in the running loop (a process that stops calls it)."""
    for client in list(_OPEN):
        await client.close()


class LazyS3Client(S3StorageDriverClient):
    """An :class:`S3StorageDriverClient` over an aioboto3 client opened on first use.

    Args:
        endpoint_url: The S3 endpoint (``http://minio:9000``); None for AWS itself.
        region: The region name.
    """

    def __init__(self, endpoint_url: str | None, region: str | None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._clients: dict[asyncio.AbstractEventLoop, S3StorageDriverClient] = {}
        self._stacks: dict[asyncio.AbstractEventLoop, contextlib.AsyncExitStack] = {}
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        _OPEN.add(self)

    async def _client(self) -> S3StorageDriverClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is not None:
            return client
        lock = self._opening.setdefault(loop, asyncio.Lock())
        async with lock:
            client = self._clients.get(loop)
            if client is None:
                import aioboto3
                from temporalio.contrib.aws.s3driver.aioboto3 import new_aioboto3_client

                stack = contextlib.AsyncExitStack()
                s3: Any = await stack.enter_async_context(
                    aioboto3.Session().client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region
                    )
                )
                client = new_aioboto3_client(s3)
                self._stacks[loop] = stack
                self._clients[loop] = client
        return client

    async def close(self) -> None:
        """Close the client of the running loop, if one was opened."""
        loop = asyncio.get_running_loop()
        self._clients.pop(loop, None)
        stack = self._stacks.pop(loop, None)
        if stack is not None:
            await stack.aclose()

    async def put_object(self, *, bucket: str, key: str, data: bytes) -> None:
        """Upload ``data`` to ``bucket``/``key``."""
        await (await self._client()).put_object(bucket=bucket, key=key, data=data)

    async def object_exists(self, *, bucket: str, key: str) -> bool:
        """Whether ``bucket``/``key`` exists."""
        return await (await self._client()).object_exists(bucket=bucket, key=key)

    async def get_object(self, *, bucket: str, key: str) -> bytes:
        """The bytes at ``bucket``/``key``."""
        return await (await self._client()).get_object(bucket=bucket, key=key)

    def describe(self) -> Mapping[str, str]:
        """Endpoint and region, for the driver's error messages."""
        info = {"endpoint": self.endpoint_url or "aws", "region": self.region or "default"}
        return info


S3_MAX_OBJECT = 5 * 1024**4
"""S3's own object size limit: the SDK driver's smaller default would fail workflow tasks
(step outputs are bounded before, by :class:`storage.limits.BoundedDriver`)."""


def s3_driver(bucket: str, endpoint_url: str | None, region: str | None) -> S3StorageDriver:
    """The SDK's S3 driver for ``bucket`` at ``endpoint_url``."""
    return S3StorageDriver(
        client=LazyS3Client(endpoint_url, region), bucket=bucket, max_payload_size=S3_MAX_OBJECT
    )
