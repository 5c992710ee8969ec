"""Pausing and resuming a run (interpreter.pausing): updates, signals, validators, timeouts."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.tool import tool
from interpreter.registration import new_worker
from interpreter.request import RunRequest
from tests.conftest import temporal_binary
from tests.support.runs import load, new_run_id, result, start, status, wait_for, wait_for_step
from tests.support.standins import STANDIN_ACTIVITIES
from tests.support.tool_server import Reply, ToolServer, tool_server

__all__ = ["tool_server"]  # the fixture used below


def kinds(transitions: list[dict]) -> list[tuple]:
    return [(t["type"], t["step"]) for t in transitions]


async def test_a_running_step_finishes_and_no_next_step_starts_until_resumed(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """Paused while `first` runs at a real tool server: `first` finishes and its output is
    recorded, `second` (ready) does not start and the server sees no second call; resume starts
    it and the run completes."""
    hold = threading.Event()
    first = tool_server.route("/first", Reply(json={"n": 1}, hold=hold))
    second = tool_server.route("/second", Reply(json={"n": 2}))
    async with new_worker(client, task_queue, [tool]):
        handle = await start(
            client,
            task_queue,
            f"""
            kworkflow: 1
            name: pause-running
            tools:
              first: {{url: "{first}"}}
              second: {{url: "{second}"}}
            steps:
              - {{id: one, kind: tool, tool: first, args: {{}}}}
              - {{id: two, kind: tool, tool: second, args: {{n: "${{ steps.one.output.n }}"}}}}
            """,
        )
        await wait_for_step(handle, "one", "running")
        while not tool_server.calls("/first"):
            await asyncio.sleep(0.02)
        answer = await handle.execute_update("pause", {"by": "ops", "reason": "deploy"})
        assert answer["status"] == "running"
        assert answer["changed"] is True
        assert (answer["paused"]["by"], answer["paused"]["reason"]) == ("ops", "deploy")
        hold.set()
        state = await wait_for_step(handle, "one", "succeeded")
        assert state["steps"]["one"]["output"] == {"n": 1}
        await asyncio.sleep(1.0)  # time for a wrongly started step to reach the server
        state = await status(handle)
        assert state["steps"]["two"]["status"] == "pending"
        assert state["paused"]["by"] == "ops"
        assert [r.path for r in tool_server.calls()] == ["/first"]
        again = await handle.execute_update("pause", {"by": "someone else"})
        assert (again["changed"], again["paused"]["by"]) == (False, "ops")  # idempotent

        resumed = await handle.execute_update("resume", {"by": "ops"})
        assert (resumed["changed"], resumed["paused"]) == (True, None)
        assert await result(handle) == {"two": {"n": 2}}
        assert [r.path for r in tool_server.calls()] == ["/first", "/second"]
        assert tool_server.calls("/second")[0].json == {"n": 1}
        log = (await handle.query("transitions", 0))["transitions"]
        assert kinds(log) == [
            ("step_started", "one"),
            ("run_paused", None),
            ("step_succeeded", "one"),
            ("run_resumed", None),
            ("step_started", "two"),
            ("step_succeeded", "two"),
            ("run_succeeded", None),
        ]
        assert {k: log[1][k] for k in ("by", "reason")} == {"by": "ops", "reason": "deploy"}
        assert "reason" not in log[3]
        assert (await status(handle))["paused"] is None


async def test_a_paused_run_starts_no_new_item_of_a_running_parallel(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """A bounded `for_each` (one item at a time) paused while its first item is held open at
    a real tool server: that item finishes, the server sees no other call while the run is
    paused, and resume runs the rest in order."""
    hold = threading.Event()
    url = tool_server.route("/item", Reply(echo=True, hold=hold))
    async with new_worker(client, task_queue, [tool]):
        handle = await start(
            client,
            task_queue,
            f"""
            kworkflow: 1
            name: pause-items
            tools: {{item: {{url: "{url}"}}}}
            steps:
              - id: fan
                kind: parallel
                for_each: "${{ [1, 2, 3] }}"
                max_concurrency: 1
                step: {{kind: tool, tool: item, args: {{i: "${{ item }}"}}}}
            """,
        )
        while not tool_server.calls("/item"):
            await asyncio.sleep(0.02)
        await handle.execute_update("pause", {"by": "ops"})
        hold.set()
        await wait_for(
            handle, lambda s: s["steps"]["fan"]["progress"]["succeeded"] == 1, what="one item done"
        )
        await asyncio.sleep(1.0)  # time for a wrongly started item to reach the server
        assert [r.json for r in tool_server.calls("/item")] == [{"i": 1}]
        assert (await status(handle))["steps"]["fan"]["status"] == "running"
        await handle.execute_update("resume", {"by": "ops"})
        out = await result(handle)
        assert [r.json for r in tool_server.calls("/item")] == [{"i": 1}, {"i": 2}, {"i": 3}]
        assert [o["json"] for o in out["fan"]] == [{"i": 1}, {"i": 2}, {"i": 3}]


async def test_a_human_step_takes_its_answer_while_paused(
    client: Client, task_queue: str, worker
) -> None:
    """A waiting human step is answered while paused (update); the step after it waits for
    the resume signal; signals pause as updates do."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: pause-human
        steps:
          - {id: ask, kind: human, prompt: OK?}
          - {id: after, kind: aggregate, expr: "steps.ask.output.data.ok"}
        """,
    )
    await wait_for_step(handle, "ask", "waiting")
    await handle.signal("pause", {"by": "ops"})
    await wait_for(handle, lambda s: s["paused"] is not None, what="paused")
    answer = await handle.execute_update("respond", {"step": "ask", "data": {"ok": True}})
    assert answer["data"] == {"ok": True}
    state = await wait_for_step(handle, "ask", "succeeded")
    assert state["steps"]["after"]["status"] == "pending"
    await asyncio.sleep(0.5)
    assert (await status(handle))["steps"]["after"]["status"] == "pending"
    await handle.signal("resume")
    assert await result(handle) == {"after": True}
    log = (await handle.query("transitions", 0))["transitions"]
    assert kinds(log) == [
        ("step_started", "ask"),
        ("step_waiting", "ask"),
        ("run_paused", None),
        ("step_succeeded", "ask"),
        ("run_resumed", None),
        ("step_started", "after"),
        ("step_succeeded", "after"),
        ("run_succeeded", None),
    ]


async def test_a_refused_update_leaves_no_trace_in_history(
    client: Client, task_queue: str, worker
) -> None:
    """The validator refuses a too long reason: the update fails with ActionRefused, the
    history has no accepted update, the run is not paused; a refused signal is an event."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: pause-refused
        steps:
          - {id: ask, kind: human, prompt: OK?}
        """,
    )
    await wait_for_step(handle, "ask", "waiting")
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update("pause", {"reason": "x" * 1001})
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    message = "reason: at most 1000 characters (got 1001)"
    assert (cause.type, cause.message) == ("ActionRefused", message)
    assert cause.details == ({"reason": "invalid"},)
    await handle.signal("resume", {"by": "y" * 201})
    state = await wait_for(handle, lambda s: s["events"], what="an event")
    assert state["paused"] is None
    assert [(e["type"], e["message"]) for e in state["events"]] == [
        ("resume_rejected", "by: at most 200 characters (got 201)")
    ]
    history = await handle.fetch_history()
    types = {event.event_type for event in history.events}
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in types
    log = (await handle.query("transitions", 0))["transitions"]
    assert kinds(log) == [("step_started", "ask"), ("step_waiting", "ask")]
    await handle.execute_update("respond", {"step": "ask", "data": 1})
    await result(handle)


async def test_the_run_timeout_keeps_counting_while_paused(
    client: Client, task_queue: str, worker
) -> None:
    """A paused run still times out at its `timeout`, with the step it held back unstarted."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: pause-timeout
        timeout: 2s
        steps:
          - {id: ask, kind: human, prompt: OK?}
          - {id: after, kind: aggregate, expr: "1"}
        """,
    )
    await wait_for_step(handle, "ask", "waiting")
    await handle.execute_update("pause")
    await handle.execute_update("respond", {"step": "ask", "data": 1})
    with pytest.raises(WorkflowFailureError) as caught:
        await result(handle)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == ("RunTimeout", "run timed out after 2s")
    state = await status(handle)
    assert state["steps"]["after"]["status"] == "pending"
    assert state["paused"]["by"] is None


async def test_pause_is_carried_across_continue_as_new(client: Client, task_queue: str) -> None:
    """Paused while a wide `parallel` runs (all its 60 items started at once, under the default
    bound): the items finish, the history is past the event limit, so the paused run continues
    as new; the next run is still paused (`total` waits), and a resume there completes it."""
    text = """
    kworkflow: 1
    name: pause-carried
    steps:
      - id: each
        kind: parallel
        for_each: "${ input.items }"
        step: {kind: tool, tool: sleep, args: {seconds: 1.0}}
      - {id: total, kind: aggregate, expr: "size(steps.each.output)"}
    edges: [{from: each, to: total}]
    output: ${ steps.total.output }
    """
    request = RunRequest(definition=load(text), input={"items": list(range(60))}, event_limit=100)
    async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
        handle = await client.start_workflow(
            "kworkflow", request, id=new_run_id(), task_queue=task_queue
        )
        await wait_for_step(handle, "each", "running")
        await handle.execute_update("pause", {"reason": "carried"})
        state = await wait_for_step(handle, "each", "succeeded", timeout=60.0)
        await asyncio.sleep(0.5)
        state = await status(handle)
        assert state["steps"]["total"]["status"] == "pending"
        assert state["paused"]["reason"] == "carried"
        described = await handle.describe()
        assert described.run_id != handle.first_execution_run_id  # it continued as new
        await handle.execute_update("resume")
        assert await result(handle, 60.0) == 60


async def test_temporal_cli_pauses_and_resumes(client: Client, task_queue: str, worker) -> None:
    """`temporal workflow update execute --name pause` (with and without input) and the
    `resume` signal through Temporal's own CLI; a refused update exits non-zero."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: pause-temporal-cli
        steps:
          - {id: ask, kind: human, prompt: OK?}
          - {id: after, kind: aggregate, expr: "1"}
        """,
    )
    await wait_for_step(handle, "ask", "waiting")
    target = client.service_client.config.target_host
    base = [temporal_binary(), "-o", "json", "--address", target, "--namespace", client.namespace]

    async def temporal(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            *base, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    update = ["workflow", "update", "execute", "--workflow-id", handle.id, "--name"]
    code, out, err = await temporal(*update, "pause", "--input", '{"by": "cli", "reason": "r"}')
    assert code == 0, err
    answer = json.loads(out)["result"]
    assert (answer["changed"], answer["paused"]["reason"]) == (True, "r")
    assert (await status(handle))["paused"]["by"] == "cli"
    code, out, err = await temporal(*update, "pause")
    assert (code, json.loads(out)["result"]["changed"]) == (0, False), err
    code, out, err = await temporal(
        *update, "resume", "--input", '{"reason": "' + "x" * 1001 + '"}'
    )
    assert code != 0
    assert "reason: at most 1000 characters (got 1001)" in out + err
    assert (await status(handle))["paused"]["by"] == "cli"
    signal = ["workflow", "signal", "--workflow-id", handle.id, "--name", "resume"]
    code, out, err = await temporal(*signal)
    assert code == 0, err
    await wait_for(handle, lambda s: s["paused"] is None, what="resumed")
    await handle.execute_update("respond", {"step": "ask", "data": 1})
    assert await result(handle) == {"after": 1}
