"""The embedded blob store: payloads as files under a private directory, named by content.

A blob is the serialised ``Payload`` at ``<root>/sha256/<2 hex>/<64 hex>``; the reference in
history holds ``{"key": "sha256/<64 hex>"}``. Directories are 0700 and files 0600 whatever the
umask, and a blob is written to a temporary file and renamed, so a reader never sees half of
one. Identical payloads share one file. Reading checks the key's form (no path can be
smuggled in) and the content's hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
)

from storage.errors import BlobNotFound

DIR_MODE = 0o700
FILE_MODE = 0o600
_KEY = re.compile(r"sha256/([0-9a-f]{64})")


class FileDriver(StorageDriver):
    """Stores payloads as files under ``root`` (created on first use, mode 0700).

    Args:
        root: The blob directory; the worker, the API and the CLI of one stack must share it.
        driver_name: The name references carry (keep it stable: it is in history).
    """

    def __init__(self, root: Path, driver_name: str = "kworkflow.files") -> None:
        self.root = root
        self._name = driver_name

    def name(self) -> str:
        """The name references carry."""
        return self._name

    def type(self) -> str:
        """``kworkflow.files``."""
        return "kworkflow.files"

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        """Write each payload (unless a blob with its content exists) and return its claim."""
        data = [p.SerializeToString() for p in payloads]
        keys = await asyncio.to_thread(self._write_all, data)
        return [StorageDriverClaim(claim_data={"key": key}) for key in keys]

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """The payloads the claims name.

        Raises:
            storage.errors.BlobNotFound: A claim names no blob here, or a damaged one.
        """
        keys = [claim.claim_data.get("key", "") for claim in claims]
        blobs = await asyncio.to_thread(lambda: [self._read(key) for key in keys])
        payloads = []
        for blob in blobs:
            payload = Payload()
            payload.ParseFromString(blob)
            payloads.append(payload)
        return payloads

    def path_of(self, key: str) -> Path:
        """Where the blob ``key`` lives.

        Raises:
            storage.errors.BlobNotFound: ``key`` is not ``sha256/<64 hex>``.
        """
        match = _KEY.fullmatch(key)
        if match is None:
            raise BlobNotFound(key, "not a key this store writes")
        digest = match.group(1)
        return self.root / "sha256" / digest[:2] / digest

    def _write_all(self, blobs: list[bytes]) -> list[str]:
        return [self._write(blob) for blob in blobs]

    def _write(self, blob: bytes) -> str:
        key = f"sha256/{hashlib.sha256(blob).hexdigest()}"
        path = self.path_of(key)
        if path.exists():
            return key
        _private_dirs(path.parent)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)  # whatever the umask
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return key

    def _read(self, key: str) -> bytes:
        path = self.path_of(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key, f"no such blob in {self.root}") from None
        if f"sha256/{hashlib.sha256(blob).hexdigest()}" != key:
            raise BlobNotFound(key, f"{path} does not hold the content its name says")
        return blob


def _private_dirs(leaf: Path) -> None:
    """Create ``leaf`` and its missing parents (``.kworkflow`` too), each 0700."""
    missing = []
    for directory in (leaf, *leaf.parents):
        if directory.is_dir():
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(directory, DIR_MODE)  # whatever the umask
