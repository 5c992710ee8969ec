"""A run's ``concurrency: {key, limit, strategy}``: runs with the same key queue, or the oldest
or the newest is cancelled; lint checks the key."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import textwrap
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from interpreter.lint import lint_text
from tests.limiter.test_quota import start_request, worker_for
from tests.support.concurrency_server import ConcurrencyServer, concurrency_server  # noqa: F401
from tests.support.runs import result

RUNS = """
kworkflow: 1
name: per-customer
concurrency: {key: input.customer, limit: 1, strategy: STRATEGY}
tools:
  slow: {url: "URL", method: POST}
steps:
  - {id: one, kind: tool, tool: slow, args: {}}
  - {id: two, kind: tool, tool: slow, args: {}}
"""


def runs(server: ConcurrencyServer, strategy: str) -> str:
    return RUNS.replace("URL", f"{server.url}/t/c").replace("STRATEGY", strategy)


async def test_runs_with_the_same_key_queue_and_run_one_after_the_other(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    concurrency_server.delay = 0.3
    tenant = f"q-{task_queue}"
    async with worker_for(client, task_queue):
        first = await start_request(
            client, task_queue, runs(concurrency_server, "queue"), {"customer": "c"}, tenant
        )
        second = await start_request(
            client, task_queue, runs(concurrency_server, "queue"), {"customer": "c"}, tenant
        )
        outs = await asyncio.gather(result(first, 60), result(second, 60))
    assert [o["two"] for o in outs] == [{"tenant": "c"}] * 2
    calls = sorted(concurrency_server.of("c"), key=lambda c: c.start)
    assert len(calls) == 4
    assert all(a.end <= b.start for a, b in itertools.pairwise(calls))  # never two at once


async def _status(handle: Any) -> WorkflowExecutionStatus | None:
    return (await handle.describe()).status


async def _ended(handle: Any) -> None:
    with contextlib.suppress(WorkflowFailureError):
        await result(handle, 60)


async def test_cancel_oldest_and_cancel_newest(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    concurrency_server.delay = 2.0
    async with worker_for(client, task_queue):
        for strategy, cancelled in (("cancel_oldest", 0), ("cancel_newest", 1)):
            tenant = f"{strategy}-{task_queue}"
            text = runs(concurrency_server, strategy)
            first = await start_request(client, task_queue, text, {"customer": "c"}, tenant)
            while (await first.query("status"))["steps"]["one"]["status"] != "running":
                await asyncio.sleep(0.05)  # the first run holds the key's slot
            second = await start_request(client, task_queue, text, {"customer": "c"}, tenant)
            handles = [first, second]
            await _ended(handles[cancelled])

            await result(handles[1 - cancelled], 60)
            assert await _status(handles[cancelled]) == WorkflowExecutionStatus.CANCELED
            assert await _status(handles[1 - cancelled]) == WorkflowExecutionStatus.COMPLETED


def test_lint_locates_a_run_key_that_reads_a_step() -> None:
    text = textwrap.dedent(
        """\
        kworkflow: 1
        name: k
        concurrency: {key: "steps.a.output", limit: 1}
        steps:
          - {id: a, kind: aggregate, expr: "1"}
        """
    )
    _, found = lint_text(text, "k.yaml")
    assert [(p.code, p.path, p.line) for p in found] == [
        ("unknown_reference", "concurrency.key", 3)
    ]
