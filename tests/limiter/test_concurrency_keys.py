"""A step's ``concurrency: {key, limit}``: runs of one tenant with the same key take turns,
another key or another tenant's same key does not wait, lint locates a bad key, and a key that
fails to evaluate fails its step clearly."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from typing import Any

from temporalio.client import Client, WorkflowFailureError

from interpreter.lint import lint_text
from tests.limiter.test_quota import start_request, worker_for
from tests.support.concurrency_server import ConcurrencyServer, concurrency_server  # noqa: F401
from tests.support.runs import result

KEYED = """
kworkflow: 1
name: keyed
tools:
  slow: {url: "URL", method: POST}
steps:
  - id: call
    kind: tool
    tool: slow
    args: {c: "${ input.customer }"}
    concurrency: {key: "input.customer", limit: 1}
"""


def keyed(server: ConcurrencyServer, label: str) -> str:
    return KEYED.replace("URL", f"{server.url}/t/{label}")


def overlap(a: Any, b: Any) -> bool:
    return a.start < b.end and b.start < a.end


async def test_runs_with_the_same_key_take_turns_and_other_keys_and_tenants_do_not_wait(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    concurrency_server.delay = 0.5
    t, u = f"t-{task_queue}", f"u-{task_queue}"
    runs = [
        (keyed(concurrency_server, "t-a"), {"customer": "a"}, t),
        (keyed(concurrency_server, "t-a"), {"customer": "a"}, t),
        (keyed(concurrency_server, "t-a"), {"customer": "a"}, t),
        (keyed(concurrency_server, "t-b"), {"customer": "b"}, t),
        (keyed(concurrency_server, "u-a"), {"customer": "a"}, u),
    ]
    async with worker_for(client, task_queue):
        handles = [
            await start_request(client, task_queue, text, value, tenant)
            for text, value, tenant in runs
        ]
        outs = await asyncio.gather(*(result(h, 60) for h in handles))
    assert [o["call"] for o in outs] == [
        {"tenant": label} for label in ("t-a", "t-a", "t-a", "t-b", "u-a")
    ]
    assert concurrency_server.peak["t-a"] == 1
    t_a = concurrency_server.of("t-a")
    assert any(overlap(x, y) for x in t_a for y in concurrency_server.of("t-b"))
    assert any(overlap(x, y) for x in t_a for y in concurrency_server.of("u-a"))


async def test_a_key_that_fails_to_evaluate_fails_its_step(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    async with worker_for(client, task_queue):
        text = keyed(concurrency_server, "x").replace(
            'args: {c: "${ input.customer }"}', "args: {}"
        )
        handle = await start_request(client, task_queue, text, {}, "t")
        with contextlib.suppress(WorkflowFailureError):
            await result(handle, 30)
        state = await handle.query("status")
    error = state["steps"]["call"]["error"]
    assert error["type"] == "ConcurrencyKey"
    assert "concurrency.key" in error["message"] and "customer" in error["message"]
    assert concurrency_server.calls == []


async def test_a_huge_key_fails_its_step_with_its_length(
    client: Client,
    task_queue: str,
    concurrency_server: ConcurrencyServer,  # noqa: F811
) -> None:
    text = keyed(concurrency_server, "x").replace('"input.customer"', '"input.customer * 1000"')
    text = text.replace('args: {c: "${ input.customer }"}', "args: {}")
    text = text.replace("input.customer * 1000", "[input.customer, input.customer]")
    async with worker_for(client, task_queue):
        handle = await start_request(client, task_queue, text, {"customer": "x" * 400}, "t")
        with contextlib.suppress(WorkflowFailureError):
            await result(handle, 30)
        state = await handle.query("status")
    assert state["steps"]["call"]["error"] == {
        "type": "ConcurrencyKey",
        "message": "concurrency.key is 807 characters long; at most 500",
    }


def test_lint_locates_a_key_that_does_not_compile_or_names_no_step() -> None:
    text = textwrap.dedent(
        """\
        kworkflow: 1
        name: keyed
        steps:
          - id: a
            kind: llm
            prompt: hi
            concurrency: {key: "input.model ==", limit: 2}
          - id: b
            kind: code
            source: "output = 1"
            concurrency: {key: "steps.nope.output", limit: 1}
        """
    )
    _, found = lint_text(text, "keyed.yaml")
    assert [(p.code, p.path, p.line) for p in found] == [
        ("cel", "steps[0].concurrency.key", 7),
        ("unknown_reference", "steps[1].concurrency.key", 11),
    ]
    assert str(found[0]).startswith("7:")


def test_a_limit_out_of_bounds_is_a_located_load_error() -> None:
    step = "{id: a, kind: tool, tool: t, concurrency: {key: '1', limit: 100000}}"
    text = f"kworkflow: 1\nname: k\nsteps:\n  - {step}\n"
    _, found = lint_text(text, "k.yaml")
    assert [(p.path, p.line) for p in found] == [("steps[0].concurrency.limit", 4)]
