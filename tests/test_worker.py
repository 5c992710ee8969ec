"""worker.py as users run it: several processes on one task queue share the work, and a
worker that dies mid-run leaves nothing lost: another worker finishes the run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.support.runs import start

ROOT = Path(__file__).resolve().parent.parent

CHAIN = """
kworkflow: 1
name: shared-work
steps:
  - {id: a, kind: aggregate, expr: "input.n + 1"}
  - {id: b, kind: aggregate, expr: "steps.a.output * 2"}
  - {id: c, kind: aggregate, expr: "steps.b.output - 1"}
"""


class Workers:
    """``python worker.py`` processes on one task queue."""

    def __init__(self, address: str, task_queue: str) -> None:
        self.env = {
            **os.environ,
            "TEMPORAL_ADDRESS": address,
            "KWORKFLOW_TASK_QUEUE": task_queue,
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(client: Client, task_queue: str) -> Iterator[Workers]:
    pool = Workers(client.service_client.config.target_host, task_queue)
    yield pool
    pool.stop()


async def wait_for_pollers(client: Client, task_queue: str, count: int) -> None:
    """Until ``count`` distinct workers poll the task queue for workflow tasks."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    for _ in range(300):
        response = await client.workflow_service.describe_task_queue(request)
        if len({p.identity for p in response.pollers}) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} workers never polled {task_queue}")


async def identities(client: Client, run_id: str) -> set[str]:
    """Who completed the run's workflow tasks, from its history."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    return {
        e.workflow_task_started_event_attributes.identity
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    }


async def test_two_worker_processes_share_one_task_queue(
    client: Client, task_queue: str, workers: Workers
) -> None:
    first, second = workers.spawn(), workers.spawn()
    await wait_for_pollers(client, task_queue, 2)
    handles = []
    for n in range(24):
        handles.append(await start(client, task_queue, CHAIN, {"n": n}))
    results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [{"c": (n + 1) * 2 - 1} for n in range(24)]
    seen: set[str] = set()
    for handle in handles:
        seen |= await identities(client, handle.id)
    pids = {identity.split("@")[0].rsplit("-", 1)[-1] for identity in seen}
    assert pids == {str(first.pid), str(second.pid)}


@pytest.mark.parametrize("via", ["update", "signal"])
async def test_a_killed_worker_loses_nothing(
    client: Client, task_queue: str, workers: Workers, via: str
) -> None:
    """A worker killed (SIGKILL) while a run waits for a person: a new worker picks the run
    up cold from its history, and the answer (update or signal) completes it."""
    doomed = workers.spawn()
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: survive
        steps:
          - {id: before, kind: aggregate, expr: "'before'"}
          - {id: ask, kind: human, prompt: "ok?"}
          - {id: after, kind: aggregate, expr: "steps.ask.output.data.ok"}
        """,
        run_id=f"survive-{uuid.uuid4()}",
    )
    for _ in range(200):
        state = await handle.query("status")
        if state["pending_human"]:
            break
        await asyncio.sleep(0.05)
    assert state["steps"]["before"]["status"] == "succeeded"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    workers.spawn()
    payload = {"step": "ask", "data": {"ok": True}, "actor": "ada"}
    if via == "update":
        answer = await handle.execute_update("respond", payload)
        assert (answer["data"], answer["actor"]) == ({"ok": True}, "ada")
    else:
        await handle.signal("respond", payload)
    assert await handle.result() == {"after": True}
