"""Run priority through the API (client.priority): when the worker is saturated, the steps of
priority-1 runs start before those of priority-5 runs that were waiting longer; the view says
each run's priority; a priority outside 1..5 is refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from interpreter.registration import new_worker
from tests.api.support import Api, serving_api, start_run, wait_run
from tests.support.standins import STANDIN_ACTIVITIES, records

NAPPING = """\
kworkflow: 1
name: napping
input: {type: object, properties: {label: {type: string}, key: {type: string}}}
steps:
  - {id: nap, kind: tool, tool: sleep, args: {seconds: 0.8, key: "${ input.key }",
     label: "${ input.label }"}}
"""


@pytest.fixture
async def api(client: Client, task_queue: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The API over a worker that runs one activity at a time: the rest wait in the queue."""
    async with (
        new_worker(client, task_queue, STANDIN_ACTIVITIES, max_concurrent_activities=1),
        serving_api(client, task_queue, f"sqlite:///{tmp_path / 'registry.db'}") as api,
    ):
        yield api


def succeeded(view: dict[str, Any]) -> bool:
    return view["status"] == "succeeded"


def started(key: str) -> list[str]:
    return [r.removeprefix("start:") for r in records(key) if r.startswith("start:")]


async def test_high_priority_runs_overtake_the_backlog(api: Api) -> None:
    """Six priority-5 runs queue behind one slot; two priority-1 runs started after them are
    next, before the lows still waiting."""
    api.publish(NAPPING)
    key = f"prio-{uuid.uuid4().hex[:8]}"
    async with api.http() as http:
        lows = [
            (await start_run(http, "napping", {"label": f"low{i}", "key": key}, priority=5))["id"]
            for i in range(6)
        ]
        while not started(key):  # the slot is taken: the other lows wait in the queue
            await asyncio.sleep(0.02)
        before = len(started(key))
        highs = []
        for i in range(2):
            view = await start_run(http, "napping", {"label": f"high{i}", "key": key}, priority=1)
            assert view["priority"] == 1
            highs.append(view["id"])
        for run_id in lows + highs:
            await wait_run(http, run_id, succeeded, timeout=60, what="succeeded")
        order = started(key)
        assert sorted(order) == sorted([f"low{i}" for i in range(6)] + ["high0", "high1"])
        # at most one more low took the slot while the highs were being started
        assert max(order.index("high0"), order.index("high1")) <= before + 2, order
        assert all(name.startswith("low") for name in order[before + 3 :]), order
        assert (await http.get(f"/v1/runs/{lows[0]}")).json()["priority"] == 5
        assert (await http.get(f"/v1/runs/{highs[0]}")).json()["priority"] == 1


async def test_the_default_priority_and_a_refused_one(api: Api) -> None:
    api.publish(NAPPING)
    async with api.http() as http:
        plain = await start_run(http, "napping", {"label": "x", "key": uuid.uuid4().hex})
        assert plain["priority"] == 3
        done = await wait_run(http, plain["id"], succeeded, timeout=60, what="succeeded")
        assert done["priority"] == 3
        for bad in (0, 6):
            refused = await http.post(
                "/v1/runs", json={"workflow": "napping", "input": {}, "priority": bad}
            )
            assert refused.status_code == 422, refused.text
            assert "priority" in refused.text
