"""Operator limits on code steps at run time, on a real worker: refused before the code runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities import _sandbox
from activities.code import code
from interpreter.registration import new_worker
from tests.activities.test_code import fails, flow
from tests.support.runs import run
from tests.support.worker_config import config_file

LIMITS = "limits:\n  code: {max_memory_mb: 128, max_timeout: 20s, max_cpu_seconds: 1}\n"


@pytest.fixture
def small_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A worker configuration with small code limits."""
    with config_file(tmp_path / "worker.yaml", LIMITS, monkeypatch):
        yield


@pytest.fixture
async def limited_worker(
    client: Client, task_queue: str, small_limits: None
) -> AsyncIterator[Worker]:
    async with new_worker(client, task_queue, [code]) as w:
        yield w


async def test_memory_over_the_maximum_is_limit_exceeded(client, task_queue, limited_worker):
    error, details = await fails(client, task_queue, flow("output = 1", memory_mb=256))
    assert error == {
        "type": "LimitExceeded",
        "message": "code step `s0`: memory_mb 256 is over this worker's maximum of 128 "
        "(limits.code.max_memory_mb)",
    }
    assert details == [{"attempt": 1}]  # refused before any code ran: no stdout or stderr


async def test_a_timeout_over_the_maximum_is_limit_exceeded(client, task_queue, limited_worker):
    error, _ = await fails(client, task_queue, flow("output = 1", timeout="1m", memory_mb=512))
    assert error == {
        "type": "LimitExceeded",
        "message": "code step `s0`: memory_mb 512 is over this worker's maximum of 128 "
        "(limits.code.max_memory_mb); timeout 1m is over this worker's maximum of 20s "
        "(limits.code.max_timeout)",
    }


async def test_within_the_limits_the_step_runs_with_the_capped_default_memory(
    client, task_queue, limited_worker
):
    """No ``memory_mb``: the default (256) capped by the maximum (128)."""
    source = "import resource\noutput = resource.getrlimit(resource.RLIMIT_AS)[0] >> 20"
    assert await run(client, task_queue, flow(source, timeout="20s"), None) == 128


async def test_cpu_time_is_bounded_by_the_operator_not_only_the_timeout(
    client, task_queue, limited_worker, monkeypatch
):
    """The step may run 20s, but the code gets 1s of CPU (not the wall-clock deadline's error).

    At the worker's own priority: at nice 10 on a machine busy with other work the code may not
    get a second of CPU within 20s at all.
    """
    monkeypatch.setattr(_sandbox, "CODE_NICE", 0)
    error, _ = await fails(client, task_queue, flow("while True:\n    pass", timeout="20s"))
    assert error == {
        "type": "CodeTimeout",
        "message": "the code used more CPU time than 1s (this worker's "
        "limits.code.max_cpu_seconds)",
    }
