"""Stores over both databases: a SQLite file per test and the session's PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete

from registry.store import DefinitionStore, definitions
from tests.support.postgres import postgres_url

__all__ = ["postgres_url", "store"]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DefinitionStore]:
    """An empty store, once on SQLite (a file of this test's) and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = DefinitionStore(url)
    try:
        yield opened
    finally:
        opened.close()
        if request.param == "postgresql":  # the server is shared by the session: empty it
            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(delete(definitions))
            engine.dispose()
