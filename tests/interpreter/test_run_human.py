"""Human steps answered from outside: update and signal `respond`, `form`, timeouts."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from interpreter.registration import new_worker
from tests.support.runs import result, run_failure, start, status, wait_for, wait_for_step
from tests.support.standins import STANDIN_ACTIVITIES

REJECTED = (WorkflowUpdateFailedError, RPCError)

APPROVE = """
kworkflow: 1
name: approve
steps:
  - {id: draft, kind: tool, tool: echo, args: {text: hello}}
  - id: review
    kind: human
    prompt: "Approve ${ steps.draft.output.text }?"
    form:
      type: object
      required: [approved]
      properties: {approved: {type: boolean}, comment: {type: string}}
    assignees: [alice, "${ input.boss }"]
    timeout: 1h
"""
FORM = {
    "type": "object",
    "required": ["approved"],
    "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}},
}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _waiting(client, task_queue):
    handle = await start(client, task_queue, APPROVE, {"boss": "bob"})
    state = await wait_for_step(handle, "review", "waiting")
    return handle, state


async def _assert_unchanged(handle) -> None:
    state = await status(handle)
    assert state["status"] == "running"
    assert state["steps"]["review"]["status"] == "waiting"
    assert state["steps"]["review"]["output"] is None
    assert [p["step"] for p in state["pending_human"]] == ["review"]


# -------------------------------------------------------------------------------- live status


async def test_status_shows_pending_human(client, task_queue, worker):
    """A waiting human step is listed with its resolved prompt, form and assignees."""
    handle, state = await _waiting(client, task_queue)
    assert state["status"] == "running"
    [pending] = state["pending_human"]
    assert set(pending) == {"step", "prompt", "form", "assignees", "since", "timeout_at"}
    assert pending["step"] == "review"
    assert pending["prompt"] == "Approve hello?"
    assert pending["form"] == FORM
    assert pending["assignees"] == ["alice", "bob"]
    assert _at(pending["timeout_at"]) - _at(pending["since"]) == timedelta(hours=1)
    assert state["steps"]["review"]["kind"] == "human"
    await handle.terminate("test over")


# ------------------------------------------------------------------------------------- update


async def test_update_accepted_returns_the_step_output(client, task_queue, worker):
    """Accepted answer: output `{data, actor, responded_at, timed_out}`; the actor from the
    payload."""
    handle, _ = await _waiting(client, task_queue)
    out = await handle.execute_update(
        "respond",
        {"step": "review", "data": {"approved": True, "comment": "ok"}, "actor": "carol"},
    )
    assert set(out) == {"data", "actor", "responded_at", "timed_out"}
    assert out["data"] == {"approved": True, "comment": "ok"}
    assert out["actor"] == "carol"
    assert out["timed_out"] is False
    _at(out["responded_at"])  # an RFC 3339 time
    assert await result(handle) == {"review": out}
    state = await status(handle)
    assert state["steps"]["review"]["status"] == "succeeded"
    assert state["steps"]["review"]["output"] == out
    assert state["pending_human"] == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(
            {"step": "nope", "data": {"approved": True}},
            "there is no human step 'nope' in this run",
            id="unknown-step",
        ),
        pytest.param(
            {"step": "draft", "data": {"approved": True}},
            "there is no human step 'draft' in this run",
            id="not-human",
        ),
        pytest.param(
            {"step": "review", "data": {"approved": "yes"}},
            "data.approved: 'yes' is not of type 'boolean'",
            id="wrong-type",
        ),
        pytest.param(
            {"step": "review", "data": {"comment": "hm"}},
            "data: 'approved' is a required property",
            id="missing-required",
        ),
        pytest.param(
            {"step": "review", "data": None},
            "data: None is not of type 'object'",
            id="no-data",
        ),
    ],
)
async def test_update_rejected_leaves_the_run_unchanged(
    client, task_queue, worker, payload, reason
):
    """'validated: a wrong step or an answer that breaks `form` is rejected, and the run is
    unchanged.'"""
    handle, _ = await _waiting(client, task_queue)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update("respond", payload)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message, cause.non_retryable) == ("InvalidAnswer", reason, True)
    await _assert_unchanged(handle)
    # A good answer afterwards is still accepted.
    out = await handle.execute_update("respond", {"step": "review", "data": {"approved": False}})
    assert out["data"] == {"approved": False}
    assert out["actor"] is None
    assert (await result(handle))["review"] == out


async def test_update_rejected_for_a_step_not_yet_waiting(client, task_queue, worker):
    """A human step that is still pending (not waiting) cannot be answered."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: two-humans
        steps:
          - {id: first, kind: human, prompt: one}
          - {id: second, kind: human, prompt: two}
        """,
    )
    await wait_for_step(handle, "first", "waiting")
    with pytest.raises(REJECTED):
        await handle.execute_update("respond", {"step": "second", "data": {}})
    state = await status(handle)
    assert state["steps"]["second"]["status"] == "pending"
    await handle.execute_update("respond", {"step": "first", "data": {"n": 1}, "actor": "a"})
    await wait_for_step(handle, "second", "waiting")
    # `first` has succeeded: answering it again is rejected.
    with pytest.raises(REJECTED):
        await handle.execute_update("respond", {"step": "first", "data": {"n": 2}})
    await handle.execute_update("respond", {"step": "second", "data": {"n": 3}, "actor": "b"})
    got = await result(handle)
    assert got["second"]["data"] == {"n": 3}
    assert (await status(handle))["steps"]["first"]["output"]["data"] == {"n": 1}


# ------------------------------------------------------------------------------------- signal


async def test_signal_answers_a_waiting_step(client, task_queue, worker):
    """'the signal `respond` with the same payload'."""
    handle, _ = await _waiting(client, task_queue)
    await handle.signal("respond", {"step": "review", "data": {"approved": True}, "actor": "dan"})
    got = await result(handle)
    out = got["review"]
    assert (out["data"], out["actor"], out["timed_out"]) == ({"approved": True}, "dan", False)
    _at(out["responded_at"])


async def test_invalid_signal_is_recorded_and_ignored(client, task_queue, worker):
    """'(fire-and-forget; an invalid answer is recorded as an event and ignored)'."""
    handle, _ = await _waiting(client, task_queue)
    await handle.signal("respond", {"step": "review", "data": {"approved": "yes"}})
    state = await wait_for(
        handle,
        lambda s: any(e["type"] == "respond_rejected" for e in s["events"]),
        what="a respond_rejected event",
    )
    [event] = [e for e in state["events"] if e["type"] == "respond_rejected"]
    assert event["step"] == "review"
    assert event["message"]
    await _assert_unchanged(handle)
    await handle.signal("respond", {"step": "nope", "data": {"approved": True}})
    await wait_for(
        handle,
        lambda s: sum(e["type"] == "respond_rejected" for e in s["events"]) == 2,
        what="a second respond_rejected event",
    )
    await _assert_unchanged(handle)
    await handle.signal("respond", {"step": "review", "data": {"approved": True}, "actor": "e"})
    assert (await result(handle))["review"]["actor"] == "e"


# ------------------------------------------------------------------------------------ timeout

TIMEOUT_DEF = """
kworkflow: 1
name: human-timeout
steps:
  - id: review
    kind: human
    prompt: Approve?
    form: {type: object, properties: {approved: {type: boolean}}}
    timeout: TIMEOUT
    on_timeout: ON_TIMEOUT
    default: {approved: false, why: "${ 'no answer in ' + 'time' }"}
"""


def _timeout_def(timeout: str, on_timeout: str) -> str:
    return TIMEOUT_DEF.replace("TIMEOUT", timeout, 1).replace("ON_TIMEOUT", on_timeout)


async def test_timeout_continue_gives_the_default(client, task_queue, worker):
    """'on a timeout with `continue`: `{data: <default>, actor: null, responded_at: null,
    timed_out: true}`'."""
    handle = await start(client, task_queue, _timeout_def("1s", "continue"))
    assert await result(handle) == {
        "review": {
            "data": {"approved": False, "why": "no answer in time"},
            "actor": None,
            "responded_at": None,
            "timed_out": True,
        }
    }
    assert (await status(handle))["steps"]["review"]["status"] == "succeeded"


async def test_timeout_fail_fails_with_human_timeout(client, task_queue, worker):
    """`on_timeout: fail` (the default): the step fails with HumanTimeout."""
    err, handle = await run_failure(client, task_queue, _timeout_def("1s", "fail"))
    assert err.type == "StepFailed"
    details = err.details[0]
    assert (details["step"], details["kind"]) == ("review", "human")
    assert details["error"]["type"] == "HumanTimeout"
    step = (await status(handle))["steps"]["review"]
    assert step["status"] == "failed"
    assert step["error"]["type"] == "HumanTimeout"


async def test_48h_timeout_with_time_skipping(time_skipping_env):
    """A 48h human timeout, on the time-skipping test server."""
    env = time_skipping_env
    tq = f"test-{uuid.uuid4()}"
    async with new_worker(env.client, tq, STANDIN_ACTIVITIES):
        handle = await start(env.client, tq, _timeout_def("48h", "continue"))
        got = await result(handle)
    assert got["review"]["timed_out"] is True
    assert got["review"]["data"] == {"approved": False, "why": "no answer in time"}


EXAMPLE = """
kworkflow: 1
name: research-and-summarize
input:
  type: object
  required: [topic]
  properties:
    topic: {type: string}
    depth: {type: string, enum: [shallow, deep], default: shallow}
output: ${ steps.review.output }
timeout: 24h
defaults:
  timeout: 2m
  retry: {max_attempts: 3, initial_interval: 1s, backoff_coefficient: 2.0,
          max_interval: 1m, max_duration: 10m, non_retryable_errors: [InvalidInput]}
  model: gpt-4o-mini
tools:
  crm_lookup:
    description: Find a company in the CRM
    url: http://127.0.0.1:9/lookup
    method: POST
    input_schema: {type: object, required: [company], properties: {company: {type: string}}}
steps:
  - id: plan
    kind: llm
    prompt: 'Plan ${ input.topic } (${ input.depth }) json: {"questions": ["a", "b"]}'
    output_schema: {type: object, required: [questions],
                    properties: {questions: {type: array, items: {type: string}}}}
  - id: gather
    kind: parallel
    for_each: ${ steps.plan.output.data.questions }
    max_concurrency: 4
    step: {kind: agent, instructions: "Answer with sources.", prompt: "${ item }",
           tools: [crm_lookup], max_turns: 6}
  - id: synthesize
    kind: llm
    prompt: "Summarize: ${ steps.gather.output.map(g, g.turns) }"
  - id: review
    kind: human
    prompt: "Approve this summary? ${ steps.synthesize.output.text }"
    form: {type: object, required: [approved], properties: {approved: {type: boolean},
           comment: {type: string}}}
    timeout: 48h
edges:
  - {from: plan, to: gather}
  - {from: gather, to: synthesize}
  - {from: synthesize, to: review}
"""


async def test_the_dsl_example_end_to_end(client, task_queue, worker):
    """The whole definition of dsl.md, answered by an update."""
    handle = await start(client, task_queue, EXAMPLE, {"topic": "tea"})
    state = await wait_for_step(handle, "review", "waiting")
    [pending] = state["pending_human"]
    assert pending["prompt"] == "Approve this summary? echo: Summarize: [2,2]"
    steps = state["steps"]
    assert steps["plan"]["output"]["data"] == {"questions": ["a", "b"]}
    assert steps["plan"]["output"]["model"] == "gpt-4o-mini"
    assert steps["plan"]["input"]["prompt"].startswith("Plan tea (shallow) json:")
    gathered = steps["gather"]["output"]
    assert [json.loads(g["text"].removeprefix("done: ")) for g in gathered] == [
        {"http_tool": "crm_lookup", "url": "http://127.0.0.1:9/lookup", "args": {"q": q}}
        for q in ("a", "b")
    ]
    out = await handle.execute_update(
        "respond", {"step": "review", "data": {"approved": True}, "actor": "ann"}
    )
    assert await result(handle) == out
    assert (out["data"], out["actor"], out["timed_out"]) == ({"approved": True}, "ann", False)
