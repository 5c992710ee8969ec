"""The stack the throughput and scale benchmarks run on: a dev server and a worker, each a
process of its own, so that their CPU and memory can be read apart from the client's.

The dev server keeps its state in a SQLite file (``--db-filename``) in a temporary directory,
so the database's growth can be measured too. The worker runs :func:`worker_main` (this file run
as ``python bench/stack.py worker ...``): the interpreter, the hand-written workflows of
:mod:`bench.handwritten` and a no-op ``tool`` activity, with the worker settings of the
environment (:mod:`interpreter.tuning`), or Temporal's own defaults with ``--sdk-defaults``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio import activity
from temporalio.client import Client

from activities.contract import StepCall, StepResult
from client.devserver import dev_server_command
from interpreter.registration import DATA_CONVERTER

PORTS = {"frontend": 18210, "http": 18211, "metrics": 18212, "ui": 18213, "worker_metrics": 18220}
"""Ports this benchmark binds (18200-18299 is theirs); the worker's SDK metrics take the next."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@activity.defn(name="tool")
async def noop(call: StepCall) -> StepResult:
    """A step that does nothing: returns its arguments at once."""
    return StepResult(output=call.params.get("args"), attempt=activity.info().attempt)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    """A process's resident memory (``VmRSS``) or its peak (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Stack:
    """A running dev server and worker, and a client of the server."""

    client: Client
    server: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    task_queue: str
    db_file: Path

    def db_bytes(self) -> int:
        """The server's SQLite file with its write-ahead log."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            path = Path(f"{self.db_file}{suffix}")
            total += path.stat().st_size if path.exists() else 0
        return total

    def cpu(self) -> tuple[float, float]:
        """CPU seconds used so far by the worker and the server."""
        return cpu_seconds(self.worker.pid), cpu_seconds(self.server.pid)

    def cpu_per_run(self, before: tuple[float, float], runs: int) -> dict[str, float]:
        """Worker and server CPU milliseconds a run since ``before`` (a :meth:`cpu` reading)."""
        worker, server = self.cpu()
        return {
            "worker_cpu_ms_per_run": 1000 * (worker - before[0]) / runs,
            "server_cpu_ms_per_run": 1000 * (server - before[1]) / runs,
        }


@contextlib.asynccontextmanager
async def stack(*, sdk_defaults: bool = False, pragmas: Sequence[str] = ()) -> AsyncIterator[Stack]:
    """Start a dev server (SQLite file in a temporary directory, with these ``PRAGMA=VALUE``
    settings) and a worker process."""
    with tempfile.TemporaryDirectory(prefix="kworkflow-bench-") as tmp:
        db_file = Path(tmp) / "temporal.db"
        command = dev_server_command(
            db_filename=db_file, port=PORTS["frontend"], ui_port=PORTS["ui"], log_level="error"
        )
        command += ["--headless", "--http-port", str(PORTS["http"])]
        command += ["--metrics-port", str(PORTS["metrics"])]
        for pragma in pragmas:
            command += ["--sqlite-pragma", pragma]
        command += shlex.split(os.environ.get("BENCH_SERVER_ARGS", ""))
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        worker: subprocess.Popen[bytes] | None = None
        try:
            address = f"127.0.0.1:{PORTS['frontend']}"
            client = await _connect(address)
            task_queue = f"bench-{os.getpid()}"
            argv = [sys.executable, __file__, "worker", address, task_queue]
            worker_env = dict(os.environ)
            worker_env["KWORKFLOW_METRICS_PORT"] = str(PORTS["worker_metrics"])
            if sdk_defaults:
                argv.append("--sdk-defaults")
            worker = subprocess.Popen(argv, env=worker_env, stdout=subprocess.PIPE)
            assert worker.stdout is not None
            line = await asyncio.to_thread(worker.stdout.readline)
            if line.strip() != b"ready":
                raise RuntimeError(f"the worker did not start: {line!r}")
            drain(worker.stdout, Path(tmp) / "worker-stdout.log")
            yield Stack(client, server, worker, task_queue, db_file)
        finally:
            for process in (worker, server):
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        process.wait(15)
                    except subprocess.TimeoutExpired:
                        process.kill()


def drain(pipe: IO[bytes], log: Path) -> None:
    """Copy what the worker still writes to its stdout into ``log``, from a daemon thread.

    A pipe nobody reads fills up (64 KiB), and the next write blocks the writer: Temporal's core
    logged its warnings to stdout from the thread that processes every workflow task, so under
    load (``Workflow task duration exceeded 5 seconds``) the worker wedged with no poll open.
    """

    def copy() -> None:
        with log.open("wb") as out:
            for line in pipe:
                out.write(line)
                out.flush()

    threading.Thread(target=copy, name="worker-stdout", daemon=True).start()


async def _connect(address: str) -> Client:
    deadline = time.monotonic() + 60
    while True:
        try:
            return await Client.connect(address, data_converter=DATA_CONVERTER)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def human_waiting(http_port: int = PORTS["worker_metrics"]) -> int:
    """The worker's ``kworkflow_human_steps_waiting`` gauge (its Prometheus metrics)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", http_port)
    writer.write(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    body = (await reader.read()).decode()
    writer.close()
    for line in body.splitlines():
        if line.startswith("kworkflow_human_steps_waiting "):
            return int(float(line.split()[1]))
    return 0


async def _serve_worker(address: str, task_queue: str, sdk_defaults: bool) -> None:
    from bench.handwritten import HandChain, HandFanout, HandNothing
    from interpreter.registration import new_worker
    from telemetry import logs
    from worker import start_metrics

    logs.configure("WARNING")
    start_metrics(int(os.environ["KWORKFLOW_METRICS_PORT"]))
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    options: dict[str, Any] = {}
    if sdk_defaults:
        options = _sdk_defaults()
    worker = new_worker(
        client, task_queue, [noop], extra_workflows=[HandChain, HandFanout, HandNothing], **options
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        print("ready", flush=True)
        await stop.wait()


def _sdk_defaults() -> dict[str, Any]:
    """The options Temporal's Worker takes when none are given (temporalio 1.x)."""
    from temporalio.worker import PollerBehaviorSimpleMaximum

    return {
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(5),
        "nonsticky_to_sticky_poll_ratio": 0.2,
        "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(5),
        "max_concurrent_workflow_tasks": 100,
        "max_concurrent_activities": 100,
        "max_concurrent_local_activities": 100,
        "max_cached_workflows": 1000,
    }


def run_and_report(
    main: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]],
    report: Callable[[dict[str, Any]], None],
    arguments: argparse.Namespace,
) -> NoReturn:
    """Run a benchmark's ``main``, print its report (and its figures as JSON with ``--json``),
    and leave with ``os._exit`` (sdk-python#300)."""
    result = asyncio.run(main(arguments))
    report(result)
    if arguments.json:
        print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)


def worker_main() -> None:
    """``python bench/stack.py worker ADDRESS TASK_QUEUE [--sdk-defaults]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("address")
    parser.add_argument("task_queue")
    parser.add_argument("--sdk-defaults", action="store_true")
    args = parser.parse_args()
    asyncio.run(_serve_worker(args.address, args.task_queue, args.sdk_defaults))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    worker_main()
