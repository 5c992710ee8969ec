"""``kworkflow.recent_events`` reads the kept events only once visibility lists its run as waiting.

The API stores an event, then lists the runs waiting for its type. A run that advertised the type
but is not listed yet would miss an event stored after its read and before the listing sees it;
the read therefore waits for the listing. Real dev server, real SQLite registry; the run is a
small workflow that advertises ``KwAwaitedEvents`` when told to, so the test decides when
visibility can list it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities import events as recent
from activities.events import RecentEventsQuery, recent_events
from interpreter.event_waits import AWAITED_EVENTS, awaited_value
from registry.store import DefinitionStore

TENANT = "acme"


@workflow.defn(name="test-advertises-when-told", sandboxed=False)
class Advertiser:
    """Waits; on ``advertise`` sets ``KwAwaitedEvents`` to the value it was started with."""

    def __init__(self) -> None:
        self.told = False

    @workflow.run
    async def run(self, value: str) -> None:
        await workflow.wait_condition(lambda: self.told)
        workflow.upsert_search_attributes([AWAITED_EVENTS.value_set([value])])
        await workflow.wait_condition(lambda: False)

    @workflow.signal
    def advertise(self) -> None:
        self.told = True


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("KWORKFLOW_DATABASE_URL", url)
    return url


@pytest.fixture
async def waiter(client: Client, task_queue: str) -> AsyncIterator[WorkflowHandle]:
    """A running :class:`Advertiser` for the type ``paid``, not advertising yet."""
    async with Worker(client, task_queue=task_queue, workflows=[Advertiser]):
        handle = await client.start_workflow(
            Advertiser.run,
            awaited_value(TENANT, "paid"),
            id=f"advertiser-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        yield handle
        await handle.terminate()


def environment(client: Client, handle: WorkflowHandle) -> ActivityEnvironment:
    env = ActivityEnvironment(client=client)
    env.info = dataclasses.replace(
        env.info, workflow_id=handle.id, workflow_run_id=handle.result_run_id
    )
    return env


def paid(id_: str) -> dict[str, object]:
    return {"specversion": "1.0", "type": "paid", "source": "/shop", "id": id_, "data": {}}


async def test_an_event_stored_before_the_run_is_listed_is_read(
    client: Client, waiter: WorkflowHandle, url: str
) -> None:
    query = RecentEventsQuery(tenant=TENANT, type="paid", since=datetime.now(UTC))
    reading = asyncio.create_task(environment(client, waiter).run(recent_events, query))
    await asyncio.sleep(0.5)
    assert not reading.done(), "the read did not wait for the run to be listed"
    # The API stores the event now and lists nobody (the run is not listed yet).
    assert DefinitionStore(url).events.add(TENANT, paid("e1"))
    await waiter.signal(Advertiser.advertise)
    found = await asyncio.wait_for(reading, 10)
    assert [e["id"] for e in found.events] == ["e1"]


async def test_a_run_never_listed_is_read_after_the_bound(
    client: Client, waiter: WorkflowHandle, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recent, "VISIBLE_WITHIN", 0.5)
    assert DefinitionStore(url).events.add(TENANT, paid("e2"))
    query = RecentEventsQuery(tenant=TENANT, type="paid", since=datetime.now(UTC))
    found = await asyncio.wait_for(environment(client, waiter).run(recent_events, query), 10)
    assert [e["id"] for e in found.events] == ["e2"]


async def test_without_a_client_the_read_does_not_wait(url: str) -> None:
    assert DefinitionStore(url).events.add(TENANT, paid("e3"))
    query = RecentEventsQuery(tenant=TENANT, type="paid", since=datetime.now(UTC))
    found = await asyncio.wait_for(ActivityEnvironment().run(recent_events, query), 2)
    assert [e["id"] for e in found.events] == ["e3"]
