"""A worker whose output nobody reads keeps running its runs: Temporal's core logs through
Python logging, and Python's log records are written by a thread of their own that may get
stuck without stopping anything else (telemetry/logs.py)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from telemetry import logs
from tests.support.runs import start
from tests.test_worker import wait_for_pollers

ROOT = Path(__file__).resolve().parent.parent
PIPE_BYTES = 4096
"""The smallest pipe Linux makes (a page): a few of core's warnings fill it."""
REPORT_PAUSE = 5.5
"""Longer than 5 s: core warns of each run's last workflow task (``TMPRL1104``)."""
NEVER = 90.0
"""Seconds after which a run that has not ended never will (its worker is stuck)."""
QUICK = "kworkflow: 1\nname: quick\nsteps: [{id: a, kind: aggregate, expr: 'input.n * 2'}]"


def small_pipe() -> tuple[int, int]:
    """A pipe that holds :data:`PIPE_BYTES`: (read end, write end)."""
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    return read, write


@pytest.fixture
def spawn(client: Client, task_queue: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes (the list): each stopped at the end, killed when it does not stop."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a worker stuck writing its last lines
            process.kill()
            process.wait()


def worker_env(client: Client, task_queue: str) -> dict[str, str]:
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KWORKFLOW_TASK_QUEUE": task_queue,
    }


def slow_report_worker(env: dict[str, str], stdout: int, stderr: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.support.slow_report_worker", str(REPORT_PAUSE)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)


async def test_a_worker_whose_stdout_and_stderr_nobody_reads_ends_every_run(
    client: Client, task_queue: str, spawn: list[subprocess.Popen[bytes]]
) -> None:
    """Twelve runs whose last workflow task lasts more than 5 s: core warns of each (about
    700 bytes), three times what the worker's stdout and stderr pipes hold, and nobody reads
    them. Before, core wrote its warnings to stdout from the thread that processes every
    workflow task: the sixth blocked it, and the runs still in their last task never ended."""
    out_read, out_write = small_pipe()
    err_read, err_write = small_pipe()
    try:
        spawn.append(slow_report_worker(worker_env(client, task_queue), out_write, err_write))
        os.close(out_write)
        os.close(err_write)
        await wait_for_pollers(client, task_queue, 1)
        handles = [await start(client, task_queue, QUICK, {"n": n}) for n in range(12)]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), NEVER)
        assert results == [{"a": n * 2} for n in range(12)]
        late = await start(client, task_queue, QUICK, {"n": 21})  # the worker still takes runs
        assert await asyncio.wait_for(late.result(), NEVER) == {"a": 42}
    finally:
        os.close(out_read)
        os.close(err_read)


async def test_core_warnings_reach_the_worker_log(
    client: Client, task_queue: str, spawn: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Core's warnings are log records of the ``temporalio.core`` logger, on stderr in the
    worker's log format; nothing is written to stdout."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        worker = slow_report_worker(
            worker_env(client, task_queue), stdout.fileno(), stderr.fileno()
        )
    spawn.append(worker)
    await wait_for_pollers(client, task_queue, 1)
    handle = await start(client, task_queue, QUICK, {"n": 1})
    assert await asyncio.wait_for(handle.result(), NEVER) == {"a": 2}
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    warnings = [line for line in err.read_text().splitlines() if "TMPRL1104" in line]
    assert len(warnings) == 1, err.read_text()
    assert " WARNING temporalio.core: " in warnings[0]
    assert "Workflow task duration exceeded 5 seconds" in warnings[0]
    assert out.read_text() == ""


def test_logging_to_a_stuck_output_never_blocks_and_counts_what_it_drops() -> None:
    """20,000 records to a full pipe nobody reads: each call returns, the writer thread holds
    what it was writing, the queue keeps 10,000, and the rest are dropped and counted."""
    read, write = small_pipe()
    stream = os.fdopen(write, "w", buffering=1)
    done = threading.Event()

    def flood() -> None:
        log = logging.getLogger("kworkflow.test.flood")
        for n in range(20_000):
            log.warning("record %05d of a flood nobody reads", n)
        done.set()

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure("INFO", stream)
    try:
        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        assert done.wait(NEVER), "a log call blocked on the stuck output"
        assert 20_000 - logs.QUEUE_SIZE - 100 < logs.dropped() < 20_000 - logs.QUEUE_SIZE
    finally:  # read the pipe at last: the writer writes what is queued, and stops
        drained = threading.Thread(target=drain, args=(read,), daemon=True)
        drained.start()
        logs.stop(NEVER)
        root.handlers, root.level = handlers, level
        stream.close()
        drained.join(NEVER)
        os.close(read)


def drain(read: int) -> None:
    while os.read(read, 1 << 16):
        pass
