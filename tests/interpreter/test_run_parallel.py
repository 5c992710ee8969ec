"""Runs of `parallel` steps: `for_each` (order, scope, `max_concurrency`, a failing item)
and `branches` (dsl.md: "The nine kinds")."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.runs import new_run_id, run, run_failure, status
from tests.support.standins import records


def max_running(log: list[str]) -> int:
    """The most ``sleep`` calls running at once, from the record's start:/end: entries."""
    running = peak = 0
    for entry in log:
        if entry.startswith("start:"):
            running += 1
            peak = max(peak, running)
        elif entry.startswith("end:"):
            running -= 1
    return peak


async def test_for_each_returns_a_list_in_input_order(client, task_queue, worker):
    """`for_each` output: 'a list in input order' (here, the items finish out of order)."""
    run_id = new_run_id()
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: fan
        steps:
          - id: fan
            kind: parallel
            for_each: ${ input.xs }
            step: {kind: tool, tool: sleep, args: {seconds: "${ item }", label: "${ index }"}}
        """,
        {"xs": [0.9, 0.1, 0.5]},
        run_id=run_id,
    )
    assert got == {"fan": [{"slept": 0}, {"slept": 1}, {"slept": 2}]}
    assert [e for e in records(run_id) if e.startswith("end:")] == ["end:1", "end:2", "end:0"]


async def test_for_each_item_and_index_in_scope(client, task_queue, worker):
    """`item` and `index` are in scope inside a `for_each`; an empty list gives []."""
    definition = """
    kworkflow: 1
    name: fan-scope
    steps:
      - id: fan
        kind: parallel
        for_each: ${ input.people }
        step:
          kind: tool
          tool: echo
          args: {item: "${ item }", index: "${ index }", text: "${ index }:${ item.name }"}
    """
    got = await run(client, task_queue, definition, {"people": [{"name": "ann"}, {"name": "bo"}]})
    assert got == {
        "fan": [
            {"item": {"name": "ann"}, "index": 0, "text": "0:ann"},
            {"item": {"name": "bo"}, "index": 1, "text": "1:bo"},
        ]
    }
    assert await run(client, task_queue, definition, {"people": []}) == {"fan": []}


async def test_for_each_over_a_literal_list(client, task_queue, worker):
    """`for_each` takes a list value: a YAML list works as well as a `${}`."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: fan-literal
        steps:
          - id: fan
            kind: parallel
            for_each: [1, "${ input.two }", [3]]
            step: {kind: tool, tool: echo, args: {v: "${ item }"}}
        """,
        {"two": 2},
    )
    assert got == {"fan": [{"v": 1}, {"v": 2}, {"v": [3]}]}


@pytest.mark.parametrize(("limit", "peak"), [("max_concurrency: 2", 2), ("", 5)])
async def test_for_each_max_concurrency(client, task_queue, worker, limit, peak):
    """`max_concurrency` bounds the items running at once (default: no limit)."""
    run_id = new_run_id()
    got = await run(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: fan-limit
        steps:
          - id: fan
            kind: parallel
            for_each: ${{ [0, 1, 2, 3, 4] }}
            {limit}
            step: {{kind: tool, tool: sleep, args: {{seconds: 0.4, label: "${{ item }}"}}}}
        """,
        run_id=run_id,
    )
    assert got == {"fan": [{"slept": i} for i in range(5)]}
    log = records(run_id)
    assert len(log) == 10
    assert max_running(log) == peak, log


async def test_for_each_item_failure_fails_the_step_and_cancels_the_rest(
    client, task_queue, worker
):
    """'One failed item fails the step and cancels the rest.'"""
    loop = asyncio.get_running_loop()
    began = loop.time()
    run_id = new_run_id()
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: fan-fail
        steps:
          - id: fan
            kind: parallel
            for_each: ${ input.xs }
            step:
              kind: tool
              tool: sleep
              args: {seconds: "${ item.s }", fail: "${ item.f }", label: "${ index }"}
          - {id: after, kind: tool, tool: echo, args: {}}
        """,
        {"xs": [{"s": 8, "f": False}, {"s": 0.3, "f": True}, {"s": 8, "f": False}]},
        run_id=run_id,
    )
    assert loop.time() - began < 5, "the failed item did not cancel the others"
    assert err.type == "StepFailed"
    details = err.details[0]
    assert (details["step"], details["kind"]) == ("fan", "parallel")
    assert details["error"]["type"] == "Woke"
    assert "woke up failing: 1" in details["error"]["message"]
    assert sorted(records(run_id)[:3]) == ["start:0", "start:1", "start:2"]
    state = await status(handle)
    assert state["steps"]["fan"]["status"] == "failed"
    assert state["steps"]["after"]["status"] != "succeeded"


async def test_for_each_inner_on_error_continue_gives_null(client, task_queue, worker):
    """'...unless the inner spec has `on_error: continue`: then that item's result is null.'"""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: fan-continue
        steps:
          - id: fan
            kind: parallel
            for_each: ${ input.xs }
            step:
              kind: tool
              tool: sleep
              on_error: continue
              args: {seconds: 0.1, fail: "${ item }", label: "${ index }"}
          - {id: after, kind: tool, tool: echo, args: {got: "${ steps.fan.output }"}}
        """,
        {"xs": [False, True, False]},
    )
    assert got == {"after": {"got": [{"slept": 0}, None, {"slept": 2}]}}


async def test_parallel_branches_give_a_map(client, task_queue, worker):
    """`branches: {name: step spec}` output: 'a map by branch name'."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: branches
        steps:
          - id: both
            kind: parallel
            branches:
              left: {kind: tool, tool: echo, args: {side: left}}
              right: {kind: tool, tool: add, args: {x: 1, y: "${ input.y }"}}
              model: {kind: llm, model: m, prompt: "hi ${ input.y }"}
              broken: {kind: tool, tool: fail, args: {retryable: false}, on_error: continue}
        """,
        {"y": 2},
    )
    assert got["both"]["left"] == {"side": "left"}
    assert got["both"]["right"] == 3
    assert got["both"]["model"]["text"] == "echo: hi 2"
    assert got["both"]["broken"] is None
    assert set(got["both"]) == {"left", "right", "model", "broken"}
