"""Breakpoints (interpreter.breakpoints): a run held before and after steps, edited, continued."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError

from activities.tool import tool
from interpreter.registration import new_worker
from interpreter.request import BreakpointSet, RunRequest
from tests.interpreter.test_continue_as_new import chain, replay_all
from tests.support.runs import load, new_run_id, result, start, status, wait_for, wait_for_step
from tests.support.tool_server import Reply, ToolServer, tool_server

__all__ = ["tool_server"]  # the fixture used below


async def start_with(
    client: Client,
    task_queue: str,
    yaml_text: str,
    *,
    before: list[str] | None = None,
    after: list[str] | None = None,
    input: Any = None,
) -> WorkflowHandle[Any, Any]:
    """Start a run of ``yaml_text`` with breakpoints."""
    breakpoints = BreakpointSet(before=before or [], after=after or [])
    request = RunRequest(
        definition=load(yaml_text),
        input={} if input is None else input,
        breakpoints=breakpoints if before or after else None,
    )
    return await client.start_workflow("kworkflow", request, id=new_run_id(), task_queue=task_queue)


def kinds(transitions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(t["type"], t["step"]) for t in transitions]


async def refusal(handle: WorkflowHandle[Any, Any], payload: dict[str, Any]) -> tuple[str, str]:
    """The reason and message of a refused ``continue``."""
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update("continue", payload)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "ActionRefused"
    return cause.details[0]["reason"], cause.message


TWO_TOOLS = """
kworkflow: 1
name: bp-tools
input: {{type: object, properties: {{who: {{type: string}}}}}}
tools:
  greet: {{url: "{greet}"}}
  after: {{url: "{after}"}}
steps:
  - {{id: hello, kind: tool, tool: greet, args: {{name: "${{ input.who }}", n: 1}}}}
  - {{id: bye, kind: tool, tool: after, args: {{got: "${{ steps.hello.output.json }}"}}}}
"""


async def test_a_before_breakpoint_holds_the_resolved_input_and_the_tool_sees_the_edit(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """Held before `hello`: its input is resolved and shown, the step has not started and the
    tool server sees nothing; continuing with an edited `args` makes the server see the edit,
    and the log says who edited it."""
    greet = tool_server.route("/greet", Reply(echo=True))
    after = tool_server.route("/after", Reply(json={"ok": True}))
    async with new_worker(client, task_queue, [tool]):
        handle = await start_with(
            client,
            task_queue,
            TWO_TOOLS.format(greet=greet, after=after),
            before=["hello"],
            input={"who": "ada"},
        )
        state = await wait_for_step(handle, "hello", "at_breakpoint")
        hello = state["steps"]["hello"]
        assert hello["input"] == {"tool": "greet", "args": {"name": "ada", "n": 1}}
        assert hello["started_at"] is None
        assert state["paused"]["reason"] == "breakpoint"
        assert state["paused"]["at"] == {"step": "hello", "when": "before"}
        assert state["breakpoints"] == {"before": ["hello"], "after": []}
        await asyncio.sleep(0.5)  # time for a wrongly started step to reach the server
        assert tool_server.calls() == []

        edited = {"args": {"name": "grace", "n": 2}}
        answer = await handle.execute_update(
            "continue", {"step": "hello", "input": edited, "by": "ops"}
        )
        assert (answer["step"], answer["when"], answer["edited"]) == ("hello", "before", True)
        assert answer["paused"] is None
        out = await result(handle)
        assert out == {"bye": {"ok": True}}
        assert tool_server.calls("/greet")[0].json == {"name": "grace", "n": 2}
        assert tool_server.calls("/after")[0].json["got"] == {"name": "grace", "n": 2}
        final = await status(handle)
        assert final["steps"]["hello"]["input"] == {"tool": "greet", "args": edited["args"]}
        log = (await handle.query("transitions", 0))["transitions"]
        assert kinds(log) == [
            ("breakpoint_hit", "hello"),
            ("breakpoint_continued", "hello"),
            ("step_started", "hello"),
            ("step_succeeded", "hello"),
            ("step_started", "bye"),
            ("step_succeeded", "bye"),
            ("run_succeeded", None),
        ]
        assert log[0]["when"] == "before"
        assert {k: log[1][k] for k in ("when", "edited", "by")} == {
            "when": "before",
            "edited": True,
            "by": "ops",
        }


BRANCHING = """
kworkflow: 1
name: bp-branch
tools:
  classify: {{url: "{classify}"}}
  left: {{url: "{left}"}}
  right: {{url: "{right}"}}
steps:
  - {{id: judge, kind: tool, tool: classify, args: {{}}}}
  - id: route
    kind: branch
    cases:
      - {{when: "steps.judge.output.label == 'spam'", to: drop}}
    default: keep
  - {{id: drop, kind: tool, tool: left, args: {{}}}}
  - {{id: keep, kind: tool, tool: right, args: {{}}}}
edges:
  - {{from: judge, to: route}}
  - {{from: route, to: [drop, keep]}}
"""


async def test_an_after_breakpoint_edit_changes_the_branch_taken(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    """`judge` answers `ham`, and is held after it ran with that output; replaced by `spam`,
    the branch takes `drop` and the server never sees `keep`'s call."""
    urls = {
        "classify": tool_server.route("/classify", Reply(json={"label": "ham"})),
        "left": tool_server.route("/left", Reply(json={"dropped": True})),
        "right": tool_server.route("/right", Reply(json={"kept": True})),
    }
    async with new_worker(client, task_queue, [tool]):
        handle = await start_with(client, task_queue, BRANCHING.format(**urls), after=["judge"])
        state = await wait_for_step(handle, "judge", "at_breakpoint")
        assert state["steps"]["judge"]["output"] == {"label": "ham"}
        assert state["steps"]["route"]["status"] == "pending"
        assert state["paused"]["at"] == {"step": "judge", "when": "after"}
        reason, message = await refusal(handle, {"step": "judge", "input": {"args": {}}})
        assert reason == "invalid"
        assert message == "step 'judge' is held after it ran: give `output`, not `input`"
        await handle.execute_update("continue", {"step": "judge", "output": {"label": "spam"}})
        out = await result(handle)
        assert out == {"drop": {"dropped": True}}
        assert [c.path for c in tool_server.calls()] == ["/classify", "/left"]
        final = await status(handle)
        assert final["steps"]["judge"]["output"] == {"label": "spam"}
        assert final["steps"]["judge"]["status"] == "succeeded"
        assert final["steps"]["keep"]["status"] == "skipped"
        log = (await handle.query("transitions", 0))["transitions"]
        assert kinds(log)[:4] == [
            ("step_started", "judge"),
            ("breakpoint_hit", "judge"),
            ("breakpoint_continued", "judge"),
            ("step_succeeded", "judge"),
        ]


FORM = """
kworkflow: 1
name: bp-form
steps:
  - id: ask
    kind: human
    breakpoint: after
    form:
      type: object
      required: [approved]
      properties: {approved: {type: boolean}}
"""


async def test_bad_edits_are_refused_and_the_run_stays_held(
    client: Client, task_queue: str, worker: Any
) -> None:
    """A declared `breakpoint: after` on a human step holds its answer; an output breaking the
    form, a wrong step, an input for an after breakpoint are refused with the run unchanged; a
    valid edit goes on. A run not at a breakpoint refuses `continue` too."""
    handle = await start_with(client, task_queue, FORM)
    assert (await status(handle))["breakpoints"] == {"before": [], "after": ["ask"]}
    reason, message = await refusal(handle, {"step": "ask"})
    assert reason == "not_at_breakpoint"
    assert message == f"run '{handle.id}' is not at a breakpoint (running)"
    await wait_for_step(handle, "ask", "waiting")
    await handle.execute_update("respond", {"step": "ask", "data": {"approved": False}})
    await wait_for_step(handle, "ask", "at_breakpoint")
    before = await status(handle)
    assert before["steps"]["ask"]["output"]["data"] == {"approved": False}

    reason, message = await refusal(
        handle, {"step": "ask", "output": {"data": {"approved": "yes"}}}
    )
    assert reason == "invalid"
    assert message.startswith("output: ")
    assert "approved" in message
    reason, message = await refusal(handle, {"step": "nope"})
    assert reason == "wrong_step"
    assert message == f"run '{handle.id}' is not held at step 'nope' (held: after 'ask')"
    reason, message = await refusal(handle, {"step": "ask", "output": {"no": "data"}})
    assert (reason, message) == (
        "invalid",
        "output: a human step's output is an object with `data` (what its schema checks)",
    )
    assert await status(handle) == before  # nothing changed

    edited = {**before["steps"]["ask"]["output"], "data": {"approved": True}}
    await handle.execute_update("continue", {"step": "ask", "output": edited})
    assert (await result(handle))["ask"]["data"] == {"approved": True}


async def test_a_plain_resume_continues_and_the_signal_continues_too(
    client: Client, task_queue: str, worker: Any
) -> None:
    """`breakpoint: both` on a code step: `resume` lets the before stop go on unedited; the
    `continue` signal lets the after stop go on with an edited output; a refused signal is an
    event."""
    handle = await start_with(
        client,
        task_queue,
        """
        kworkflow: 1
        name: bp-both
        steps:
          - {id: calc, kind: code, breakpoint: both, source: "output = 6 * 7"}
        """,
    )
    await wait_for_step(handle, "calc", "at_breakpoint")
    resumed = await handle.execute_update("resume", {"by": "ops"})
    assert (resumed["changed"], resumed["paused"]) == (True, None)
    state = await wait_for(
        handle, lambda s: (s["paused"] or {}).get("at", {}).get("when") == "after", what="after"
    )
    held = state["steps"]["calc"]["output"]
    await handle.signal("continue", {"step": "other"})
    await wait_for(handle, lambda s: s["events"], what="a rejected signal")
    await handle.signal("continue", {"step": "calc", "output": {"edited": held}, "by": "me"})
    assert await result(handle) == {"calc": {"edited": held}}
    log = (await handle.query("transitions", 0))["transitions"]
    continued = [t for t in log if t["type"] == "breakpoint_continued"]
    assert [(t["when"], t["edited"], t.get("by")) for t in continued] == [
        ("before", False, "ops"),
        ("after", True, "me"),
    ]
    events = (await status(handle))["events"]
    assert [(e["type"], e["step"]) for e in events] == [("continue_rejected", "other")]


async def test_the_run_timeout_fires_while_held(
    client: Client, task_queue: str, worker: Any
) -> None:
    """A run held before a step still times out: it fails with RunTimeout, the step is
    cancelled, and the run is no longer shown paused."""
    handle = await start_with(
        client,
        task_queue,
        """
        kworkflow: 1
        name: bp-timeout
        timeout: 2s
        steps:
          - {id: calc, kind: code, source: "output = 1"}
        """,
        before=["calc"],
    )
    await wait_for_step(handle, "calc", "at_breakpoint")
    with pytest.raises(WorkflowFailureError) as caught:
        await result(handle)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == (
        "RunTimeout",
        "run timed out after 2s; still running: calc",
    )
    final = await status(handle)
    assert final["steps"]["calc"]["status"] == "cancelled"
    assert final["paused"] is None


async def test_unknown_breakpoint_steps_fail_the_run(
    client: Client, task_queue: str, worker: Any
) -> None:
    """A run started (as with `temporal workflow start`) with breakpoints at steps it does not
    have fails at once, naming them."""
    handle = await start_with(
        client,
        task_queue,
        """
        kworkflow: 1
        name: bp-unknown
        steps:
          - {id: calc, kind: code, source: "output = 1"}
        """,
        before=["nope", "calc"],
        after=["zzz"],
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await result(handle)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == (
        "InvalidBreakpoints",
        "breakpoints: workflow 'bp-unknown' has no step 'nope', 'zzz'",
    )


async def test_breakpoints_hold_after_the_run_continued_as_new(
    client: Client, task_queue: str, worker: Any
) -> None:
    """A 30-step chain with an event limit of 100 continues as new before it reaches `s25`,
    held after it ran: the breakpoint still holds in the new run, is edited, and the chain
    goes on from the edited value; every run of the chain replays."""
    request = RunRequest(
        definition=load(chain(30)),
        breakpoints=BreakpointSet(after=["s25"]),
        event_limit=100,
    )
    handle = await client.start_workflow(
        "kworkflow", request, id=new_run_id(), task_queue=task_queue
    )
    state = await wait_for_step(handle, "s25", "at_breakpoint", timeout=60)
    assert state["steps"]["s25"]["output"] == {"n": 25}
    assert state["paused"]["at"] == {"step": "s25", "when": "after"}
    described = await handle.describe()
    assert described.run_id != handle.first_execution_run_id  # it continued as new meanwhile
    await handle.execute_update("continue", {"step": "s25", "output": {"n": 100}})
    assert await result(handle, timeout=60) == 104
    assert await replay_all(client, handle) >= 2


async def test_a_subflow_child_does_not_stop_at_its_declared_breakpoints(
    client: Client, task_queue: str, worker: Any
) -> None:
    """A published workflow declaring `breakpoint: before` holds when run on its own, and not
    when it runs as another run's subflow."""
    child = """
    kworkflow: 1
    name: child
    steps:
      - {id: calc, kind: code, breakpoint: before, source: "output = 5"}
    """
    alone = await start(client, task_queue, child)
    await wait_for_step(alone, "calc", "at_breakpoint")
    parent = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: parent
        steps:
          - {id: sub, kind: subflow, workflow: child}
        """,
        subflows={"child": child},
    )
    assert await result(parent) == {"sub": {"calc": 5}}
    assert "breakpoints" not in await status(parent)
    await alone.terminate()
