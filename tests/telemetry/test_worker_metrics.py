"""``kworkflow worker --metrics-port`` and ``python worker.py --metrics-port``: kworkflow's
metrics and Temporal's SDK metrics served."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from tests.support.processes import ROOT, start_process, stop

COMMANDS = {
    "kworkflow worker": [str(Path(sys.executable).parent / "kworkflow"), "worker"],
    "python worker.py": [sys.executable, str(ROOT / "worker.py")],
}


def free_port_pair() -> int:
    """A port P such that P and P + 1 are free (best effort)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise AssertionError("no two free consecutive ports")


async def scrape(http: httpx.AsyncClient, url: str, needle: str, timeout: float = 15) -> str:
    """GET ``url`` until its body contains ``needle``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    text = ""
    while loop.time() < deadline:
        try:
            text = (await http.get(url)).text
        except httpx.TransportError:
            text = ""
        if needle in text:
            return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared at {url}; last body: {text[:500]!r}")


@pytest.mark.parametrize("command", COMMANDS)
async def test_worker_serves_both_metrics_endpoints(
    client: Client, task_queue: str, command: str
) -> None:
    port = free_port_pair()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KWORKFLOW_TASK_QUEUE": task_queue,
    }
    env.pop("KWORKFLOW_METRICS_PORT", None)
    process = start_process([*COMMANDS[command], "--metrics-port", str(port)], env)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            own = await scrape(http, f"http://127.0.0.1:{port}/metrics", "kworkflow_runs_started")
            sdk = await scrape(http, f"http://127.0.0.1:{port + 1}/metrics", "temporal_")
        assert "# TYPE kworkflow_step_dispatch_latency_seconds histogram" in own.splitlines()
        assert "temporal_" in sdk
    finally:
        errors = stop(process)
    assert process.returncode == 0, errors


@pytest.mark.parametrize("command", COMMANDS)
def test_a_wrong_metrics_port_is_a_usage_error(command: str) -> None:
    done = subprocess.run(
        [*COMMANDS[command], "--metrics-port", "65535"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--metrics-port must be a port number from 1 to 65534, not '65535'" in done.stderr
    assert "Traceback" not in done.stderr
