"""One event for many runs waiting on its type: ``POST /v1/events`` signals every one of them.

Real parts: the API over SQLite, the session's dev server (its visibility store), a worker.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client

from api.cloudevents import _signal_one
from interpreter.event_waits import awaited_value
from tests.api.support import Api, cloudevent, events_api, send, start_run, wait_status

__all__ = ["events_api"]

WAITER = """\
kworkflow: 1
name: waiter
steps:
  - {id: wait, kind: event, type: all.of.us, timeout: 10m}
output: ${ steps.wait.output.id }
"""

FANOUT = 50
"""More runs than are signalled at once (api.cloudevents.SIGNAL_CONCURRENCY is 32)."""


async def counted_waiting(client: Client, value: str, count: int, timeout: float) -> None:
    """Wait until visibility counts ``count`` running runs whose KwAwaitedEvents holds ``value``."""
    query = f"ExecutionStatus = 'Running' AND KwAwaitedEvents = '{value}'"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (seen := (await client.count_workflows(query)).count) < count:
        assert loop.time() < deadline, f"{seen} of {count} runs counted waiting"
        await asyncio.sleep(0.2)


@pytest.mark.slow  # 50 waiting runs: a scale test, in make test-slow
async def test_one_event_reaches_every_run_waiting_on_its_type(
    events_api: Api, client: Client
) -> None:
    api = events_api
    api.publish(WAITER)
    async with api.http() as http:
        runs = await asyncio.gather(*(start_run(http, "waiter") for _ in range(FANOUT)))
        ids = sorted(run["id"] for run in runs)
        await counted_waiting(client, awaited_value(api.acme, "all.of.us"), FANOUT, 120)
        answer = await send(http, cloudevent("all.of.us", "e-1", None))
        missing = sorted(set(ids) - set(answer["signalled"]))
        assert missing == [], f"{len(missing)} of {FANOUT} not signalled: {missing}"
        assert answer["signalled"] == ids
        for run_id in ids:
            done = await wait_status(http, run_id, "succeeded")
            assert done["result"] == "e-1"


async def test_a_listed_run_that_ended_or_never_was_is_not_counted_signalled(
    events_api: Api, client: Client
) -> None:
    api = events_api
    api.publish(WAITER)
    event = cloudevent("all.of.us", "e-2", None)
    async with api.http() as http:
        running = await start_run(http, "waiter")
        ended = await start_run(http, "waiter")
        await counted_waiting(client, awaited_value(api.acme, "all.of.us"), 2, 60)
        await client.get_workflow_handle(ended["id"]).terminate("ended before the event")
        assert await _signal_one(client, running["id"], event) is True
        assert await _signal_one(client, ended["id"], event) is False
        assert await _signal_one(client, f"{api.acme}:never-was", event) is False
        done = await wait_status(http, running["id"], "succeeded")
    assert done["result"] == "e-2"
