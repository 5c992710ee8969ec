"""Where large payloads go and how large they may be, read from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from storage.errors import StorageConfigError

DEFAULT_BLOB_DIR = Path(".kworkflow") / "blobs"
DEFAULT_THRESHOLD = 256 * 1024
"""Payloads of at least this many bytes leave history for the blob store."""
DEFAULT_MAX = 64 * 1024 * 1024
"""Payloads above this many bytes are refused (``PayloadTooLarge``)."""

_UNITS = {"": 1, "b": 1, "kib": 1024, "kb": 1000, "mib": 1024**2, "mb": 1000**2, "gib": 1024**3}
_SIZE = re.compile(r"\s*(\d+)\s*([a-z]*)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class StorageSettings:
    """The blob store and the payload limits.

    Attributes:
        blob_dir: The embedded store's directory (``KWORKFLOW_BLOB_DIR``, default
            ``.kworkflow/blobs`` under the working directory), used when no bucket is set.
        s3_bucket: Store blobs in this S3 bucket instead (``KWORKFLOW_BLOB_S3_BUCKET``).
        s3_endpoint: The S3 endpoint URL, e.g. MinIO's (``KWORKFLOW_BLOB_S3_ENDPOINT``;
            unset: AWS).
        s3_region: The bucket's region (``KWORKFLOW_BLOB_S3_REGION``, else ``AWS_REGION``,
            else ``us-east-1``).
        threshold: Payloads of at least this size go to the store
            (``KWORKFLOW_PAYLOAD_THRESHOLD``, default 256 KiB).
        max_bytes: Larger payloads are refused (``KWORKFLOW_PAYLOAD_MAX``, default 64 MiB).
    """

    blob_dir: Path = DEFAULT_BLOB_DIR
    s3_bucket: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    threshold: int = DEFAULT_THRESHOLD
    max_bytes: int = DEFAULT_MAX

    def __post_init__(self) -> None:
        if self.max_bytes < self.threshold:
            raise StorageConfigError(
                f"KWORKFLOW_PAYLOAD_MAX ({self.max_bytes} bytes) is below "
                f"KWORKFLOW_PAYLOAD_THRESHOLD ({self.threshold} bytes)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StorageSettings:
        """Read the settings from ``env`` (default: the process environment).

        Unset or empty variables take their defaults; a relative ``KWORKFLOW_BLOB_DIR`` is
        taken from the working directory now.

        Raises:
            storage.errors.StorageConfigError: A size is not a size.
        """
        env = os.environ if env is None else env
        return cls(
            blob_dir=Path(env.get("KWORKFLOW_BLOB_DIR") or DEFAULT_BLOB_DIR).absolute(),
            s3_bucket=env.get("KWORKFLOW_BLOB_S3_BUCKET") or None,
            s3_endpoint=env.get("KWORKFLOW_BLOB_S3_ENDPOINT") or None,
            s3_region=env.get("KWORKFLOW_BLOB_S3_REGION") or env.get("AWS_REGION") or "us-east-1",
            threshold=_size(env, "KWORKFLOW_PAYLOAD_THRESHOLD", DEFAULT_THRESHOLD),
            max_bytes=_size(env, "KWORKFLOW_PAYLOAD_MAX", DEFAULT_MAX),
        )


def parse_size(text: str) -> int:
    """``262144``, ``256KiB``, ``64 MiB``, ``2MB`` as a number of bytes.

    Raises:
        ValueError: Not a size.
    """
    match = _SIZE.fullmatch(text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a size (bytes, or a number with KiB, MiB, GiB)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or ""
    if not text.strip():
        return default
    try:
        return parse_size(text)
    except ValueError as exc:
        raise StorageConfigError(f"{name}: {exc}") from None
