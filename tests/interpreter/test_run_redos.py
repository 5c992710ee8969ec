"""Runs on the dev server: tenant regexes never stall the worker, bad forms never stall a run.

See tests/interpreter/test_redos.py for why 32 characters and a 5 s bound.
"""

from __future__ import annotations

import time

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from tests.support.runs import failure, result, start, status, wait_for, wait_for_step

EVIL = "^(a|a)+$"
LONG = "a" * 32 + "!"
BOUND = 5.0

EVIL_INPUT = f"""
kworkflow: 1
name: evil-input
input:
  type: object
  properties: {{s: {{type: string, pattern: "{EVIL}"}}}}
steps:
  - {{id: echo, kind: aggregate, expr: input.s}}
"""


async def test_a_run_input_against_an_evil_pattern_fails_at_once(client, task_queue, worker):
    began = time.monotonic()
    err = await failure(await start(client, task_queue, EVIL_INPUT, {"s": LONG}))
    assert time.monotonic() - began < BOUND
    assert err.type == "InvalidInput"
    assert err.message == f"input.s: {LONG!r} does not match {EVIL!r}"


FORM = """
kworkflow: 1
name: evil-form
input: {type: object, properties: {p: {type: string}}}
steps:
  - id: review
    kind: human
    prompt: Code?
    form:
      type: object
      required: [code]
      properties: {code: {type: string, pattern: "${ input.p }"}}
"""


async def test_answers_against_an_evil_form_pattern_are_checked_at_once(client, task_queue, worker):
    handle = await start(client, task_queue, FORM, {"p": EVIL})
    await wait_for_step(handle, "review", "waiting")
    began = time.monotonic()
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update("respond", {"step": "review", "data": {"code": LONG}})
    assert time.monotonic() - began < BOUND
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == (
        "InvalidAnswer",
        f"data.code: {LONG!r} does not match {EVIL!r}",
    )
    await handle.signal("respond", {"step": "review", "data": {"code": LONG}})
    state = await wait_for(
        handle,
        lambda s: any(e["type"] == "respond_rejected" for e in s["events"]),
        what="a respond_rejected event",
    )
    assert time.monotonic() - began < 2 * BOUND
    [event] = [e for e in state["events"] if e["type"] == "respond_rejected"]
    assert event["message"] == f"data.code: {LONG!r} does not match {EVIL!r}"
    out = await handle.execute_update("respond", {"step": "review", "data": {"code": "aaa"}})
    assert (await result(handle))["review"] == out


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(", "'(' in `pattern` is not a regular expression RE2 accepts: missing ): ("),
        ("(a)\\1", "'(a)\\\\1' in `pattern` is not a regular expression RE2 accepts: "
         "invalid escape sequence: \\1"),
    ],
)  # fmt: skip
async def test_a_form_invalid_after_templating_fails_its_step(
    client, task_queue, worker, pattern, reason
):
    """Before: the step waited, every answer failed, and a signal looped the run in
    workflow-task failures."""
    handle = await start(client, task_queue, FORM, {"p": pattern})
    err = await failure(handle)
    assert err.type == "StepFailed"
    details = err.details[0]
    assert (details["step"], details["kind"]) == ("review", "human")
    message = f"the form is not a valid JSON Schema: properties.code.pattern: {reason}"
    assert details["error"] == {"type": "InvalidForm", "message": message}
    state = await status(handle)
    assert state["steps"]["review"]["status"] == "failed"
    assert state["pending_human"] == []


async def test_a_form_invalid_after_templating_with_on_error_continue(client, task_queue, worker):
    text = FORM.replace("    prompt: Code?", "    prompt: Code?\n    on_error: continue")
    handle = await start(client, task_queue, text, {"p": "(?=a)"})
    assert await result(handle) == {}
    state = await status(handle)
    assert state["steps"]["review"]["status"] == "failed"
    assert state["steps"]["review"]["error"]["type"] == "InvalidForm"


UNRESOLVABLE = """
kworkflow: 1
name: unresolvable-form
steps:
  - id: review
    kind: human
    prompt: Code?
    form: {type: object, properties: {code: {$ref: "#/$defs/nope"}}}
"""


async def test_a_form_that_cannot_be_applied_refuses_answers_without_looping(
    client, task_queue, worker
):
    """A `$ref` that resolves nowhere passes the static check; applying it to an answer fails.
    Before: the signal handler raised and the run looped in workflow-task failures."""
    handle = await start(client, task_queue, UNRESOLVABLE)
    await wait_for_step(handle, "review", "waiting")
    await handle.signal("respond", {"step": "review", "data": {"code": 1}})
    state = await wait_for(
        handle,
        lambda s: any(e["type"] == "respond_rejected" for e in s["events"]),
        what="a respond_rejected event",
    )
    [event] = [e for e in state["events"] if e["type"] == "respond_rejected"]
    assert event["message"].startswith(
        "step 'review' cannot take answers: its form is not usable: "
        "the schema has a `$ref` that cannot be resolved: "
    )
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update("respond", {"step": "review", "data": {"code": 1}})
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.details[0]) == ("InvalidAnswer", {"reason": "invalid_form"})
    state = await status(handle)
    assert state["status"] == "running"
    assert state["steps"]["review"]["status"] == "waiting"
    await handle.terminate("test over")
