"""The per-tenant step quota held across three real worker processes, two tenants and a real
tool server that records how many calls of each tenant run at once."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from temporalio.client import Client

from interpreter.limits import StepQuota
from tests.limiter.test_quota import fan, start
from tests.support.concurrency_server import ConcurrencyServer, concurrency_server  # noqa: F401
from tests.support.processes import ROOT, start_process, stop
from tests.support.runs import result

WORKERS = 3


@pytest.mark.slow  # three worker processes: a scale test, in make test-slow
async def test_three_workers_never_exceed_a_tenants_quota_and_nobody_starves(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KWORKFLOW_TASK_QUEUE": task_queue,
    }
    env.pop("KWORKFLOW_METRICS_PORT", None)
    quota = StepQuota(default=3, tenants={"busy": 3}, lease="10s")
    workers = [
        start_process([sys.executable, str(ROOT / "worker.py")], env) for _ in range(WORKERS)
    ]
    try:
        busy = [
            await start(client, task_queue, fan(concurrency_server, "busy"), 15, "busy", quota)
            for _ in range(2)
        ]
        while len(concurrency_server.of("busy")) < 3:  # the busy tenant is saturated
            await asyncio.sleep(0.1)
        lone = await start(client, task_queue, fan(concurrency_server, "lone"), 0, "lone", quota)
        lone_out = await result(lone, 120)
        busy_left = 32 - len(concurrency_server.of("busy"))
        busy_outs = await asyncio.gather(*(result(h, 180) for h in busy))
    finally:
        errors = [stop(w) for w in workers]
    assert lone_out["after"] == {"tenant": "lone"}, errors
    assert [o["after"] for o in busy_outs] == [{"tenant": "busy"}] * 2
    assert len(concurrency_server.of("busy")) == 32
    assert concurrency_server.peak["busy"] == 3  # never more, across three workers
    assert concurrency_server.peak["lone"] == 1
    # the lone tenant's step did not wait for the busy tenant's queue to drain
    assert busy_left > 10, busy_left
