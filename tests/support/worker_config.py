"""The worker configuration file (``KWORKFLOW_CONFIG``) a test writes for its workers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.config import current_config


@contextlib.contextmanager
def config_file(path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``text`` written to ``path`` as the worker configuration, read afresh in the block and
    after it (the configuration is cached once read)."""
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("KWORKFLOW_CONFIG", str(path))
    current_config.cache_clear()
    try:
        yield path
    finally:
        current_config.cache_clear()
