"""The `status` query, resolved step input, `${}` templates and the names in scope."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowFailureError

from tests.support.runs import (
    new_run_id,
    result,
    run,
    run_failure,
    start,
    status,
    wait_for,
    wait_for_step,
)
from tests.support.standins import COST_PER_CALL

RUN_KEYS = {
    "run_id",
    "workflow",
    "version",
    "tenant",
    "pending_events",
    "status",
    "started_at",
    "ended_at",
    "steps",
    "pending_human",
    "events",
    "last_seq",
    "paused",
    "result",
    "error",
}
STEP_KEYS = {
    "id",
    "kind",
    "status",
    "attempts",
    "iterations",
    "started_at",
    "ended_at",
    "input",
    "output",
    "error",
}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_status_of_a_finished_run(client, task_queue, worker):
    """Every field of the status query, for a run that succeeded."""
    run_id = new_run_id()
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: status-demo
        steps:
          - {id: a, kind: tool, tool: add, args: {x: "${ input.x }", y: 1}}
          - {id: b, kind: tool, tool: echo, args: {sum: "${ steps.a.output }"}}
        """,
        {"x": 2},
        run_id=run_id,
        version=4,
        tenant="acme",
    )
    got = await result(handle)
    assert got == {"b": {"sum": 3}}
    state = await status(handle)
    assert set(state) == RUN_KEYS
    assert state["run_id"] == run_id
    assert state["workflow"] == "status-demo"
    assert state["version"] == 4
    assert state["tenant"] == "acme"
    assert state["status"] == "succeeded"
    assert state["result"] == got
    assert state["error"] is None
    assert state["pending_human"] == []
    assert _at(state["started_at"]) <= _at(state["ended_at"])
    assert list(state["steps"]) == ["a", "b"]
    for sid, step in state["steps"].items():
        assert set(step) == STEP_KEYS
        assert (step["id"], step["kind"], step["status"]) == (sid, "tool", "succeeded")
        assert (step["attempts"], step["error"]) == (1, None)
        assert _at(state["started_at"]) <= _at(step["started_at"]) <= _at(step["ended_at"])
    assert state["steps"]["a"]["output"] == 3
    assert state["steps"]["b"]["output"] == {"sum": 3}
    assert _at(state["steps"]["a"]["ended_at"]) <= _at(state["steps"]["b"]["started_at"])
    for event in state["events"]:
        assert set(event) == {"at", "type", "step", "message"}
        _at(event["at"])


async def test_status_of_a_failed_run(client, task_queue, worker):
    """A failed run: status `failed`, `error` `{type, message}`, no result."""
    _, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: status-failed
        steps:
          - {id: a, kind: tool, tool: fail, args: {type: Bad, message: nope, retryable: false}}
        """,
    )
    state = await status(handle)
    assert state["status"] == "failed"
    assert state["result"] is None
    assert set(state["error"]) == {"type", "message"}
    assert state["error"]["type"] == "StepFailed"
    assert "nope" in state["error"]["message"]
    step = state["steps"]["a"]
    assert (step["status"], step["attempts"]) == ("failed", 1)
    assert step["error"] == {"type": "Bad", "message": "nope"}
    assert step["output"] is None
    assert state["ended_at"] is not None


async def test_status_records_the_resolved_input(client, task_queue, worker):
    """'the resolved step input is in the run's history' and in the status `input`."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: resolved
        steps:
          - {id: a, kind: tool, tool: echo, args: {who: "${ input.who }", n: "${ 1 + 2 }"}}
          - {id: m, kind: llm, model: m1, prompt: "Hi ${ steps.a.output.who }", temperature: 0.5}
        """,
        {"who": "ann"},
    )
    await result(handle)
    steps = (await status(handle))["steps"]
    assert steps["a"]["input"] == {"tool": "echo", "args": {"who": "ann", "n": 3}}
    llm_input = steps["m"]["input"]
    assert (llm_input["model"], llm_input["prompt"]) == ("m1", "Hi ann")
    assert llm_input["temperature"] == 0.5


TEMPLATES = r"""
kworkflow: 1
name: templates
steps:
  - id: t
    kind: tool
    tool: echo
    args:
      int: "${ input.n }"
      spaced: "  ${ input.n }  "
      list: "${ [1, 'a'] }"
      map: "${ input.m }"
      bool: "${ true }"
      nil: "${ null }"
      double: "${ 1.5 }"
      int_div: "${ 7 / 2 }"
      text: "n=${ input.n } l=${ [1, 'a'] } m=${ input.m } b=${ true } z=${ null } s=${ 'x' }"
      unicode: "u=${ ['é'] } ${ 'ü' }"
      literal: "$${ not evaluated }"
      brace: "${ '}' + 'x' }"
      brace_text: "<${ '{}' }>"
      plain: "no template"
      number: 7
"""


async def test_templates_keep_types_and_render_text(client, task_queue, worker):
    """A lone `${}` keeps its type; embedded ones render strings as themselves, the rest as
    compact JSON; `$${` writes a literal `${`; a `}` inside a CEL string does not end it."""
    handle = await start(client, task_queue, TEMPLATES, {"n": 3, "m": {"b": 1, "a": True}})
    got = (await result(handle))["t"]
    expected = {
        "int": 3,
        "spaced": 3,
        "list": [1, "a"],
        "map": {"b": 1, "a": True},
        "bool": True,
        "nil": None,
        "double": 1.5,
        "int_div": 3,
        "text": 'n=3 l=[1,"a"] m={"b":1,"a":true} b=true z=null s=x',
        "unicode": 'u=["é"] ü',
        "literal": "${ not evaluated }",
        "brace": "}x",
        "brace_text": "<{}>",
        "plain": "no template",
        "number": 7,
    }
    assert got == expected
    assert got["bool"] is True
    assert type(got["int"]) is int
    assert type(got["int_div"]) is int
    resolved = (await status(handle))["steps"]["t"]["input"]["args"]
    assert resolved == expected
    assert resolved["bool"] is True
    assert list(resolved["map"]) == ["b", "a"]


async def test_template_with_a_cel_map_literal(client, task_queue, worker):
    """The braces of a CEL map literal inside `${ }` are the expression's, not its end."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: map-literal
        output: {lone: "${ {'k': [1]} }", text: "m=${ {'k': 1, 'j': 'x'} }"}
        steps:
          - {id: a, kind: aggregate, expr: "1"}
        """,
    )
    assert got == {"lone": {"k": [1]}, "text": 'm={"k":1,"j":"x"}'}


async def test_run_names_in_scope(client, task_queue, worker):
    """`run.id`, `run.workflow`, `run.version`, `run.tenant`, `run.started_at`."""
    run_id = new_run_id()
    before = datetime.now(UTC)
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: run-scope
        output: ${ steps.a.output }
        steps:
          - id: a
            kind: tool
            tool: echo
            args:
              id: ${ run.id }
              workflow: ${ run.workflow }
              version: ${ run.version }
              tenant: ${ run.tenant }
              started_at: ${ run.started_at }
        """,
        run_id=run_id,
        tenant="acme",
    )
    assert {k: v for k, v in got.items() if k != "started_at"} == {
        "id": run_id,
        "workflow": "run-scope",
        "version": 0,
        "tenant": "acme",
    }
    assert isinstance(got["started_at"], str)
    started = _at(got["started_at"])
    assert started.tzinfo is not None
    assert before - timedelta(seconds=5) <= started <= datetime.now(UTC)


async def test_run_version_in_scope(client, task_queue, worker):
    """`version` is the published version given when the run starts."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: run-version
        output: ${ run.version + 1 }
        steps:
          - {id: a, kind: aggregate, expr: "run.version"}
        """,
        version=7,
    )
    assert got == 8


async def test_steps_status_error_attempts_in_scope(client, task_queue, worker):
    """`steps.<id>.output` / `.status` / `.error` / `.attempts`, for every step from the start."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: steps-scope
        defaults: {retry: {max_attempts: 2, initial_interval: 100ms}}
        steps:
          - {id: a, kind: tool, tool: fail, args: {type: Boom}, on_error: continue}
          - {id: s, kind: tool, tool: echo, args: {}}
          - id: look
            kind: tool
            tool: echo
            args:
              status: ${ steps.a.status }
              error: ${ steps.a.error }
              attempts: ${ steps.a.attempts }
              output: ${ steps.a.output }
              skipped: ${ steps.s.status }
              later: ${ steps.z.status }
              later_output: ${ steps.z.output }
          - {id: z, kind: tool, tool: echo, args: {}}
        edges:
          - {from: a, to: s}
          - {from: [a, s], to: look, "on": always}
          - {from: look, to: z}
        """,
    )
    assert await result(handle) == {"z": {}}
    look = (await status(handle))["steps"]["look"]["output"]
    assert look == {
        "status": "failed",
        "error": {"type": "Boom", "message": "boom"},
        "attempts": 2,
        "output": None,
        "skipped": "skipped",
        "later": "pending",
        "later_output": None,
    }


async def test_steps_output_used_in_when(client, task_queue, worker):
    """`steps.<id>.status` can be tested in an edge `when`."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: status-when
        steps:
          - {id: a, kind: tool, tool: fail, args: {retryable: false}, on_error: continue}
          - {id: match, kind: tool, tool: echo, args: {v: 1}}
          - {id: nomatch, kind: tool, tool: echo, args: {v: 2}}
        edges:
          - {from: a, to: match, "on": always, when: "steps.a.status == 'failed'"}
          - {from: a, to: nomatch, "on": always, when: "steps.a.status == 'succeeded'"}
        """,
    )
    assert got == {"match": {"v": 1}}


async def test_cancelled_run_status(client, task_queue, worker):
    """Cancelling a run cancels its running steps; the run's status is `cancelled`."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: cancel-me
        steps:
          - {id: slow, kind: tool, tool: sleep, args: {seconds: 8}}
          - {id: next, kind: tool, tool: echo, args: {}}
        """,
    )
    await wait_for_step(handle, "slow", "running")
    loop = asyncio.get_running_loop()
    began = loop.time()
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await result(handle)
    assert loop.time() - began < 5
    state = await wait_for(handle, lambda s: s["status"] != "running", what="the run to end")
    assert state["status"] == "cancelled"
    assert state["steps"]["slow"]["status"] == "cancelled"
    assert state["steps"]["next"]["status"] in {"pending", "cancelled"}
    assert state["ended_at"] is not None


async def test_llm_and_code_steps_get_their_resolved_fields(client, task_queue, worker):
    """llm: `model` from `defaults` unless the step sets one; code: `source` sees `input`."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: llm-code
        defaults: {model: default-model}
        steps:
          - {id: plain, kind: llm, prompt: "json: [1, 2]"}
          - {id: own, kind: llm, model: own-model, prompt: "say ${ input.word }"}
          - {id: chat, kind: llm, messages: [{role: user, content: "${ input.word } there"}]}
          - {id: calc, kind: code, source: "output = [sum(input['xs']), input['model']]",
             input: {xs: "${ steps.plain.output.data }", model: "${ steps.plain.output.model }"}}
        edges:
          - {from: plain, to: calc}
        """,
        {"word": "hi"},
    )
    assert got == {
        "own": {
            "text": "echo: say hi",
            "data": None,
            "model": "own-model",
            "finish_reason": "stop",
            "usage": {"input_tokens": 2, "output_tokens": 3},
            "cost_usd": COST_PER_CALL,
        },
        "calc": [3, "default-model"],
        "chat": {
            "text": "echo: hi there",
            "data": None,
            "model": "default-model",
            "finish_reason": "stop",
            "usage": {"input_tokens": 2, "output_tokens": 3},
            "cost_usd": COST_PER_CALL,
        },
    }


async def test_aggregate_expr_without_sources_computes_a_value(client, task_queue, worker):
    """'An aggregate with only `expr` and no sources is how a workflow computes a value'; CEL
    results are plain JSON values (`true` is a boolean, an int stays an int)."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: compute
        steps:
          - {id: calc, kind: aggregate, expr: "{'k': [1, true, null, 2.5, 'é'], 'n': input.n + 1}"}
        """,
        {"n": 41},
    )
    assert got == {"calc": {"k": [1, True, None, 2.5, "é"], "n": 42}}
    assert got["calc"]["k"][1] is True
    assert type(got["calc"]["k"][0]) is int
    assert type(got["calc"]["n"]) is int


async def test_running_step_is_reported_running(client, task_queue, worker):
    """Live state while a step runs: the step is `running`, the run `running`."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: running
        steps:
          - {id: slow, kind: tool, tool: sleep, args: {seconds: 1}}
          - {id: next, kind: tool, tool: echo, args: {}}
        """,
    )
    state = await wait_for_step(handle, "slow", "running")
    assert state["status"] == "running"
    assert state["steps"]["next"]["status"] == "pending"
    assert state["ended_at"] is None
    assert await result(handle) == {"next": {}}
