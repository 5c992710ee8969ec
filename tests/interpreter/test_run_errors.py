"""Failures, retries, timeouts and bad input (`on_error`, `retry`, `timeout`, CEL errors)."""

from __future__ import annotations

import asyncio
import json

from tests.support.runs import (
    new_run_id,
    run,
    run_and_status,
    run_failure,
    status,
    step_statuses,
)
from tests.support.standins import records

FAST_RETRY = "{max_attempts: 3, initial_interval: 100ms, backoff_coefficient: 1.0}"


def _assert_step_failed(err, step: str, kind: str, attempts: int, error: dict) -> None:
    """The run's error is StepFailed naming the step, its kind, the attempts and the last error."""
    assert err.type == "StepFailed", err
    assert err.details[0] == {"step": step, "kind": kind, "attempts": attempts, "error": error}
    message = str(err.message)
    for part in (step, kind, str(attempts), error["message"]):
        assert part in message, f"{part!r} not in {message!r}"


# ------------------------------------------------------------------------------------ on_error


async def test_on_error_fail_fails_the_run_and_cancels_running_steps(client, task_queue, worker):
    """`on_error: fail` (the default): 'the run fails, running steps are cancelled'."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: fail-fast
        defaults: {retry: {max_attempts: 1}}
        steps:
          - {id: slow, kind: tool, tool: sleep, args: {seconds: 8}}
          - {id: broken, kind: tool, tool: fail, args: {type: Boom, message: it broke}}
          - {id: after, kind: tool, tool: echo, args: {}}
        edges:
          - {from: slow, to: after}
        """,
    )
    assert loop.time() - began < 5, "the run waited for the running sibling"
    _assert_step_failed(err, "broken", "tool", 1, {"type": "Boom", "message": "it broke"})
    state = await status(handle)
    assert state["status"] == "failed"
    assert state["steps"]["broken"]["status"] == "failed"
    assert state["steps"]["broken"]["error"] == {"type": "Boom", "message": "it broke"}
    assert state["steps"]["slow"]["status"] == "cancelled"
    assert state["steps"]["after"]["status"] in {"pending", "cancelled", "skipped"}
    assert state["error"]["type"] == "StepFailed"


async def test_on_error_continue_lets_the_run_go_on(client, task_queue, worker):
    """`on_error: continue`: 'the step ends `failed`'; its default edges are not taken."""
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: continue
        defaults: {retry: {max_attempts: 1}}
        steps:
          - {id: broken, kind: tool, tool: fail, args: {retryable: false}, on_error: continue}
          - {id: after, kind: tool, tool: echo, args: {v: 1}}
          - {id: other, kind: tool, tool: echo, args: {v: 2}}
        edges:
          - {from: broken, to: after}
        """,
    )
    assert got == {"other": {"v": 2}}
    assert state["status"] == "succeeded"
    assert step_statuses(state) == {"broken": "failed", "after": "skipped", "other": "succeeded"}
    assert state["steps"]["broken"]["error"] == {"type": "Boom", "message": "boom"}
    assert state["steps"]["broken"]["attempts"] == 1
    assert state["steps"]["broken"]["output"] is None


# --------------------------------------------------------------------------------------- retry


async def test_retry_until_success_counts_attempts(client, task_queue, worker):
    """`retry` maps onto Temporal's RetryPolicy; the step's attempts are counted."""
    got, state = await run_and_status(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: flaky
        steps:
          - {{id: f, kind: tool, tool: flaky, args: {{succeed_on: 3}}, retry: {FAST_RETRY}}}
        """,
    )
    assert got == {"f": {"attempt": 3}}
    step = state["steps"]["f"]
    assert step["status"] == "succeeded"
    assert step["attempts"] == 3
    assert step["error"] is None


async def test_retry_exhausted_fails_with_the_attempt_count(client, task_queue, worker):
    """'A failed run's error names the step, its kind, the attempt count and the last error.'"""
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: flaky-out
        steps:
          - id: f
            kind: tool
            tool: flaky
            args: {succeed_on: 3}
            retry: {max_attempts: 2, initial_interval: 100ms}
        """,
    )
    _assert_step_failed(err, "f", "tool", 2, {"type": "Flaky", "message": "flaky attempt 2"})
    step = (await status(handle))["steps"]["f"]
    assert step["status"] == "failed"
    assert step["attempts"] == 2


async def test_non_retryable_errors_are_not_retried(client, task_queue, worker):
    """`non_retryable_errors` lists error types that fail the step on the first attempt."""
    err, _ = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: nope
        steps:
          - id: f
            kind: tool
            tool: fail
            args: {type: Nope, message: no way}
            retry: {max_attempts: 5, initial_interval: 100ms, non_retryable_errors: [Nope]}
        """,
    )
    _assert_step_failed(err, "f", "tool", 1, {"type": "Nope", "message": "no way"})


async def test_step_retry_is_merged_over_defaults_retry(client, task_queue, worker):
    """'defaults: merged under every step': unset retry fields come from `defaults.retry`."""
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: merged
        defaults:
          retry: {max_attempts: 4, initial_interval: 100ms, non_retryable_errors: [Nope]}
        steps:
          - {id: own, kind: tool, tool: flaky, args: {succeed_on: 9}, on_error: continue,
             retry: {max_attempts: 2}}
          - {id: inherited, kind: tool, tool: fail, args: {type: Nope}, on_error: continue,
             retry: {max_attempts: 3}}
          - {id: plain, kind: tool, tool: flaky, args: {succeed_on: 4}}
        edges: []
        """,
    )
    assert got == {"plain": {"attempt": 4}}
    steps = state["steps"]
    assert (steps["own"]["status"], steps["own"]["attempts"]) == ("failed", 2)
    assert (steps["inherited"]["status"], steps["inherited"]["attempts"]) == ("failed", 1)
    assert (steps["plain"]["status"], steps["plain"]["attempts"]) == ("succeeded", 4)


async def test_non_retryable_application_error_is_not_retried(client, task_queue, worker):
    """An activity error raised non-retryable ends the step on that attempt."""
    err, _ = await run_failure(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: fatal
        defaults: {{retry: {FAST_RETRY}}}
        steps:
          - {{id: f, kind: tool, tool: fail, args: {{type: Fatal, retryable: false}}}}
        """,
    )
    _assert_step_failed(err, "f", "tool", 1, {"type": "Fatal", "message": "boom"})


# ------------------------------------------------------------------------------------ timeouts


async def test_step_timeout_limits_one_attempt(client, task_queue, worker):
    """'`timeout`: one attempt's limit'; each timed-out attempt counts."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: step-timeout
        steps:
          - id: slow
            kind: tool
            tool: sleep
            args: {seconds: 10}
            timeout: 300ms
            retry: {max_attempts: 2, initial_interval: 100ms}
        """,
    )
    assert loop.time() - began < 5
    assert err.type == "StepFailed"
    details = err.details[0]
    assert (details["step"], details["kind"], details["attempts"]) == ("slow", "tool", 2)
    assert "timeout" in (details["error"]["type"] + details["error"]["message"]).lower()
    step = (await status(handle))["steps"]["slow"]
    assert (step["status"], step["attempts"]) == ("failed", 2)


async def test_defaults_timeout_is_merged_under_steps(client, task_queue, worker):
    """`defaults.timeout` applies to a step without its own `timeout`."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    err, _ = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: default-timeout
        defaults: {timeout: 300ms, retry: {max_attempts: 1}}
        steps:
          - {id: slow, kind: tool, tool: sleep, args: {seconds: 10}}
        """,
    )
    assert loop.time() - began < 5
    assert err.type == "StepFailed"
    assert (err.details[0]["step"], err.details[0]["attempts"]) == ("slow", 1)


async def test_retry_max_duration_bounds_all_attempts(client, task_queue, worker):
    """'`max_duration` bounds all attempts' (here with unlimited `max_attempts: 0`).

    The dev server spaces activity retries at least ~1 s apart whatever `initial_interval` says,
    so a 2.5 s budget allows two or three attempts (four were seen on a loaded machine, where
    the server's spacing varies); unlimited attempts without the budget would never end.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: max-duration
        steps:
          - id: f
            kind: tool
            tool: flaky
            args: {succeed_on: 1000}
            retry: {max_attempts: 0, initial_interval: 100ms, backoff_coefficient: 1.0,
                    max_duration: 2500ms}
        """,
    )
    assert loop.time() - began < 20
    assert err.type == "StepFailed"
    assert (err.details[0]["step"], err.details[0]["kind"]) == ("f", "tool")
    assert 2 <= err.details[0]["attempts"] <= 4
    assert (await status(handle))["steps"]["f"]["status"] == "failed"


async def test_run_timeout_fails_the_run(client, task_queue, worker):
    """The definition's `timeout` is the whole-run limit."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: run-timeout
        timeout: 1s
        steps:
          - {id: slow, kind: tool, tool: sleep, args: {seconds: 8}}
        """,
    )
    assert loop.time() - began < 5
    assert err.type == "RunTimeout"
    state = await status(handle)
    assert state["status"] == "failed"
    assert state["steps"]["slow"]["status"] == "cancelled"


# ---------------------------------------------------------------------------------- CEL errors


async def test_expression_error_fails_the_step_without_retry(client, task_queue, worker):
    """'A CEL error while resolving a step's fields fails that step (`ExpressionError`, never
    retried; `on_error` applies).'"""
    run_id = new_run_id()
    err, handle = await run_failure(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: expr-error
        defaults: {{retry: {FAST_RETRY}}}
        steps:
          - {{id: bad, kind: tool, tool: record, args: {{label: "${{ input.n / 0 }}"}}}}
        """,
        {"n": 1},
        run_id=run_id,
    )
    assert err.type == "StepFailed"
    details = err.details[0]
    assert (details["step"], details["kind"]) == ("bad", "tool")
    assert details["error"]["type"] == "ExpressionError"
    assert details["attempts"] <= 1
    assert records(run_id) == []  # the activity never ran
    step = (await status(handle))["steps"]["bad"]
    assert step["status"] == "failed"
    assert step["error"]["type"] == "ExpressionError"


async def test_expression_error_with_on_error_continue(client, task_queue, worker):
    """`on_error: continue` applies to an ExpressionError: its `on: failed` edge is taken."""
    run_id = new_run_id()
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: expr-continue
        steps:
          - {id: bad, kind: tool, tool: record, args: {label: "${ input.missing.x }"},
             on_error: continue}
          - {id: rescue, kind: tool, tool: echo, args: {why: "${ steps.bad.error.type }"}}
        edges:
          - {from: bad, to: rescue, "on": failed}
        """,
        run_id=run_id,
    )
    assert got == {"rescue": {"why": "ExpressionError"}}
    assert records(run_id) == []
    assert step_statuses(state) == {"bad": "failed", "rescue": "succeeded"}


async def test_cel_error_in_edge_when_fails_the_run_naming_the_edge(client, task_queue, worker):
    """'A CEL error in an edge's `when` ... fails the run and names the edge.'"""
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: edge-error
        steps:
          - {id: source_step, kind: tool, tool: echo, args: {n: 1}}
          - {id: target_step, kind: tool, tool: echo, args: {n: 2}}
        edges:
          - {from: source_step, to: target_step, when: "steps.source_step.output.nothing > 1"}
        """,
    )
    assert err.type == "EdgeConditionError"
    assert "source_step" in str(err.message)
    assert "target_step" in str(err.message)
    state = await status(handle)
    assert state["status"] == "failed"
    assert state["steps"]["source_step"]["status"] == "succeeded"
    assert state["steps"]["target_step"]["status"] != "succeeded"


async def test_run_output_expression_error(client, task_queue, worker):
    """A run `output` that fails to evaluate fails the run with ExpressionError."""
    err, _ = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: output-error
        output: ${ steps.a.output.missing }
        steps:
          - {id: a, kind: tool, tool: echo, args: {n: 1}}
        """,
    )
    assert err.type == "ExpressionError"


# --------------------------------------------------------------------------------------- input


INPUT_SCHEMA_DEF = """
kworkflow: 1
name: with-input
input:
  type: object
  required: [topic]
  properties:
    topic: {type: string}
    depth: {type: string, enum: [shallow, deep], default: shallow}
    count: {type: integer, default: 2}
steps:
  - {id: a, kind: tool, tool: echo, args: {all: "${ input }", depth: "${ input.depth }"}}
"""


async def test_input_schema_defaults_are_applied(client, task_queue, worker):
    """'`input`: the run input, defaults applied.'"""
    got = await run(client, task_queue, INPUT_SCHEMA_DEF, {"topic": "cats"})
    assert got == {
        "a": {"all": {"topic": "cats", "depth": "shallow", "count": 2}, "depth": "shallow"}
    }
    got = await run(client, task_queue, INPUT_SCHEMA_DEF, {"topic": "dogs", "depth": "deep"})
    assert got["a"]["depth"] == "deep"


async def test_input_missing_required_property_is_refused(client, task_queue, worker):
    """'Input that breaks the `input` schema is refused before the run starts, naming the
    property.'"""
    run_id = new_run_id()
    err, handle = await run_failure(
        client, task_queue, INPUT_SCHEMA_DEF, {"depth": "deep"}, run_id=run_id
    )
    assert err.type == "InvalidInput"
    assert "topic" in str(err.message)
    state = await status(handle)
    assert state["steps"]["a"]["status"] in {"pending", "cancelled"}
    assert state["steps"]["a"]["attempts"] == 0


async def test_input_with_a_wrong_type_is_refused(client, task_queue, worker):
    """A property of the wrong type or outside its enum fails with InvalidInput naming it."""
    err, _ = await run_failure(client, task_queue, INPUT_SCHEMA_DEF, {"topic": 3})
    assert err.type == "InvalidInput"
    assert "topic" in str(err.message)
    err, _ = await run_failure(
        client, task_queue, INPUT_SCHEMA_DEF, {"topic": "x", "depth": "very"}
    )
    assert err.type == "InvalidInput"
    assert "depth" in str(err.message)


# ------------------------------------------------------------------------ failures inside kinds


async def test_repeat_until_error_fails_the_step(client, task_queue, worker):
    """A CEL error in `repeat.until` fails the step with ExpressionError; `on_error` applies."""
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: until-error
        steps:
          - id: loop
            kind: tool
            tool: echo
            args: {i: "${ iteration }"}
            on_error: continue
            repeat: {until: "output.nothing == 1", max_iterations: 3}
          - {id: after, kind: tool, tool: echo, args: {why: "${ steps.loop.error.type }"}}
        edges:
          - {from: loop, to: after, "on": failed}
        """,
    )
    assert got == {"after": {"why": "ExpressionError"}}
    assert state["steps"]["loop"]["status"] == "failed"


async def test_subflow_failure_fails_the_subflow_step(client, task_queue, worker):
    """A child run's failure fails the subflow step; the run's error says why."""
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: sub-fail
        defaults: {retry: {max_attempts: 1}}
        steps:
          - id: sub
            kind: subflow
            steps:
              - {id: x, kind: tool, tool: fail, args: {message: deep trouble}}
        """,
    )
    assert err.type == "StepFailed"
    details = err.details[0]
    assert (details["step"], details["kind"]) == ("sub", "subflow")
    assert "deep trouble" in details["error"]["message"]
    assert (await status(handle))["steps"]["sub"]["status"] == "failed"


async def test_retry_applies_to_each_agent_turn(client, task_queue, worker):
    """`retry` 'applies to llm, tool, code and each agent turn'."""
    definition = """
    kworkflow: 1
    name: agent-retry
    steps:
      - {id: ask, kind: agent, model: m, prompt: "flaky one", tools: [echo], max_turns: 3,
         retry: {max_attempts: MAX, initial_interval: 100ms}}
    """
    got = await run(client, task_queue, definition.replace("MAX", "2"))
    assert got["ask"]["turns"] == 2
    assert json.loads(got["ask"]["text"].removeprefix("done: ")) == {"q": "flaky one"}
    err, _ = await run_failure(client, task_queue, definition.replace("MAX", "1"))
    assert err.type == "StepFailed"
    assert (err.details[0]["step"], err.details[0]["kind"]) == ("ask", "agent")
    assert "the model hiccuped" in err.details[0]["error"]["message"]
