"""A worker killed in the middle of an agent run: the next worker resumes at the turn that was
in flight, without repeating the model turns and tool calls that had finished."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.support.openai_server import (
    OpenAIServer,
    Reply,
    completion,
    openai_server,
    tool_call,
    tool_call_reply,
)
from tests.support.runs import start
from tests.support.tool_server import ToolServer, tool_server

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["openai_server", "tool_server"]  # fixtures used below


@pytest.fixture
def spawn_worker(
    client: Client, task_queue: str, openai_server: OpenAIServer, tmp_path: Path
) -> Iterator[object]:
    """Start ``python worker.py`` processes with the real activities, pointed at the fakes."""
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KWORKFLOW_TASK_QUEUE": task_queue,
        "OPENAI_BASE_URL": f"{openai_server.url}/v1",
        "OPENAI_API_KEY": "sk-test",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("KWORKFLOW_CONFIG", None)
    processes: list[subprocess.Popen[bytes]] = []

    def spawn() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            cwd=tmp_path,  # no kworkflow.worker.yaml here
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


async def wait_until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


async def test_killed_worker_resumes_the_agent_at_the_turn_in_flight(
    client: Client,
    task_queue: str,
    openai_server: OpenAIServer,
    tool_server: ToolServer,
    spawn_worker: object,
) -> None:
    openai_server.reply(
        tool_call_reply(tool_call("call_1", "lookup", {"company": "Acme"}), usage=(10, 3)),
        Reply(body=completion("too late", usage=(1, 1)), delay=30.0),  # the worker dies here
        completion("Acme makes anvils.", usage=(30, 6)),
    )
    first = spawn_worker()  # type: ignore[operator]
    handle = await start(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: agent-crash
        defaults:
          model: small
          retry: {{initial_interval: 100ms, max_attempts: 5}}
        tools:
          lookup: {{url: "{tool_server.url}/lookup", description: Look a company up}}
        steps:
          - id: ask
            kind: agent
            prompt: What does Acme make?
            tools: [lookup]
            timeout: 3s
        """,
    )
    await wait_until(lambda: len(openai_server.requests) == 2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    spawn_worker()  # type: ignore[operator]

    result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result == {
        "ask": {
            "text": "Acme makes anvils.",
            "data": None,
            "turns": 2,
            "usage": {"input_tokens": 40, "output_tokens": 9},
            "cost_usd": 0.0,
        }
    }
    # Turn 1 ran once; turn 2 twice (the attempt on the killed worker, then the retry).
    turns = [len(r.body["messages"]) for r in openai_server.requests]
    assert turns == [1, 3, 3]
    # The tool call finished before the kill and was not repeated.
    lookups = [r for r in tool_server.requests if r.path == "/lookup"]
    assert len(lookups) == 1
    assert json.loads(lookups[0].body) == {"company": "Acme"}
    assert lookups[0].headers["idempotency-key"] == f"{handle.id}/ask/ask.turn1.call_1"
