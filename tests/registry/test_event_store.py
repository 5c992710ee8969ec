"""The kept events (registry.events) on real SQLite: duplicates, the window, the count bound, the
trigger index of the latest version."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.settings import ApiSettings, ApiSettingsError
from registry.events import Retention
from registry.store import DefinitionStore


def event(id_: str, type_: str = "t") -> dict[str, object]:
    return {"specversion": "1.0", "type": type_, "source": "/s", "id": id_}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DefinitionStore]:
    with DefinitionStore(f"sqlite:///{tmp_path / 'registry.db'}") as opened:
        yield opened


def test_duplicates_the_window_and_the_count(store: DefinitionStore) -> None:
    events = store.events
    events.retention = Retention(window=timedelta(minutes=5), keep=3)
    NOW = datetime.now(UTC)  # the store also reads the clock: take it when the test runs
    assert events.add("acme", event("old"), now=NOW - timedelta(minutes=20)) is True
    assert events.add("acme", event("a"), now=NOW - timedelta(seconds=3)) is True
    assert events.add("acme", event("a"), now=NOW - timedelta(seconds=2)) is False
    assert events.add("globex", event("a"), now=NOW - timedelta(seconds=2)) is True
    for name in ("b", "c", "d"):
        assert events.add("acme", event(name), now=NOW - timedelta(seconds=1)) is True
    events.add("acme", event("x", "other"), now=NOW)
    kept = [e["id"] for e in events.recent("acme", "t", NOW)]
    assert kept == ["b", "c", "d"]  # "old" left the window, "a" the count
    assert [e["id"] for e in events.recent("globex", "t", NOW)] == ["a"]
    assert events.recent("acme", "t", NOW + timedelta(minutes=10)) == []


def test_the_trigger_index_follows_the_latest_version(store: DefinitionStore) -> None:
    head = "kworkflow: 1\nname: orders\n"
    steps = "steps: [{id: a, kind: aggregate, expr: '1'}]\n"
    store.publish("acme", head + "triggers: [{event: 'order.*'}]\n" + steps, "yaml")
    [indexed] = store.events.triggers("acme")
    assert (indexed.name, indexed.version, indexed.triggers) == (
        "orders",
        1,
        [{"event": "order.*"}],
    )
    assert store.events.triggers("globex") == []
    store.publish("acme", head + steps, "yaml")
    assert store.events.triggers("acme") == []


def test_the_event_size_limit_is_read_from_the_environment() -> None:
    assert ApiSettings.from_env({"KWORKFLOW_MAX_EVENT_BYTES": "1000"}).max_event_bytes == 1000
    assert ApiSettings.from_env({}).max_event_bytes == 65536
    with pytest.raises(ApiSettingsError) as info:
        ApiSettings.from_env({"KWORKFLOW_MAX_EVENT_BYTES": "lots"})
    assert str(info.value) == (
        "KWORKFLOW_MAX_EVENT_BYTES is not a number of bytes from 1 to 1073741824: 'lots'"
    )
