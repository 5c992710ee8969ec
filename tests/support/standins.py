"""Scripted, deterministic stand-ins for the step activities ``llm``, ``tool`` and ``code``.

They are real activities (no mocks) whose behaviour the interpreter tests can predict exactly.

Tools (``tool`` activity, chosen by ``params.tool``):
    echo     returns ``args``
    add      returns the sum of ``args``' values
    fail     raises ``ApplicationError`` of type ``args.type`` (default ``Boom``), retryable
             unless ``args.retryable`` is false
    flaky    raises a retryable ``Flaky`` error until ``attempt >= args.succeed_on``, then
             returns ``{"attempt": n}``
    sleep    sleeps ``args.seconds`` (heartbeating, honouring cancellation), appending
             ``"start:<label>"`` and ``"end:<label>"`` to the record; returns ``{"slept": label}``,
             or with ``args.fail`` raises a non-retryable ``Woke`` error after sleeping
    record   appends ``args.label`` to the record and returns the record so far
    tools    returns the sorted names of the definition's ``tools`` passed with the call
    <other>  a tool of the definition's ``tools`` passed with the call returns
             ``{"http_tool": name, "url": url, "args": args}``; any other name fails

The record is a list per key (``args.key``, default the run id), read with :func:`records`.

llm: a plain call answers ``"echo: <prompt>"`` (or the last message's content); a prompt that
contains ``json: <JSON>`` also returns that JSON as ``data``. An agent turn (``params.tools``
offered) calls every offered tool once with ``{"q": <first user message>}`` until a tool message
exists, then answers ``"done: <tool contents joined by ' | '>"``; a prompt that contains
``loop forever`` always calls the first tool; its usage is ``input_tokens`` = 10 x the turn number
(1 + assistant messages so far), ``output_tokens`` = 1 + the number of tool calls. A plain call's
usage is the words of the prompt and of the text. ``cost_usd`` = 0.25 per call. A prompt or
messages containing ``flaky`` fail the first attempt (retryable ``LLMFlaky``); ``fail llm``
fails every attempt (non-retryable ``LLMUnavailable``).

code: ``source`` of the form ``output = <python expression over input>`` is evaluated without
builtins (plus ``len``, ``sum``, ``min``, ``max``, ``sorted``); ``raise <Type>`` raises that
error type, non-retryable. Anything else returns ``{"input": input}``.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contract import StepCall, StepResult, failure_details

RECORDS: dict[str, list[Any]] = defaultdict(list)
"""What ``record`` and ``sleep`` appended, by key (default: the run id)."""

COST_PER_CALL = 0.25


def records(key: str) -> list[Any]:
    """A copy of what was recorded under ``key`` (usually a run id)."""
    return list(RECORDS.get(key, []))


def words(text: Any) -> int:
    """The number of white-space separated words of ``text`` (0 for anything but a string)."""
    return len(text.split()) if isinstance(text, str) else 0


def _attempt() -> int:
    return activity.info().attempt


def _fail(message: str, type_: str, *, retryable: bool = True) -> ApplicationError:
    return ApplicationError(
        message, failure_details(_attempt()), type=type_, non_retryable=not retryable
    )


# ---------------------------------------------------------------------------------------- tool


async def _sleep(seconds: float) -> None:
    """Sleep in small slices, heartbeating, so a cancellation reaches the activity quickly."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        activity.heartbeat()
        await asyncio.sleep(min(0.05, left))


@activity.defn(name="tool")
async def tool(call: StepCall) -> StepResult:
    """The scripted tools listed in the module docstring."""
    name = call.params.get("tool")
    args = call.params.get("args") or {}
    key = args.get("key", call.ref.run_id) if isinstance(args, dict) else call.ref.run_id
    attempt = _attempt()
    if name == "echo":
        return StepResult(output=args, attempt=attempt)
    if name == "add":
        return StepResult(output=sum(args.values()), attempt=attempt)
    if name == "fail":
        raise _fail(
            args.get("message", "boom"),
            args.get("type", "Boom"),
            retryable=args.get("retryable", True),
        )
    if name == "flaky":
        if attempt < args.get("succeed_on", 2):
            raise _fail(f"flaky attempt {attempt}", "Flaky")
        return StepResult(output={"attempt": attempt}, attempt=attempt)
    if name == "sleep":
        label = args.get("label", call.ref.step)
        RECORDS[key].append(f"start:{label}")
        await _sleep(float(args.get("seconds", 0.1)))
        RECORDS[key].append(f"end:{label}")
        if args.get("fail"):
            raise _fail(f"woke up failing: {label}", "Woke", retryable=False)
        return StepResult(output={"slept": label}, attempt=attempt)
    if name == "record":
        RECORDS[key].append(args.get("label", call.ref.step))
        return StepResult(output=list(RECORDS[key]), attempt=attempt)
    if name == "tools":
        return StepResult(output=sorted(call.tools), attempt=attempt)
    if name in call.tools:  # an HTTP tool of the definition: say what would be called
        url = call.tools[name].get("url")
        return StepResult(output={"http_tool": name, "url": url, "args": args}, attempt=attempt)
    raise _fail(f"unknown stand-in tool {name!r}", "UnknownTool", retryable=False)


# ----------------------------------------------------------------------------------------- llm


def _usage(input_text: str, text: str) -> dict[str, int]:
    return {"input_tokens": words(input_text), "output_tokens": words(text)}


def _json_data(prompt: str) -> Any:
    marker = prompt.find("json:")
    return json.loads(prompt[marker + len("json:") :]) if marker >= 0 else None


def _agent_turn(params: dict[str, Any]) -> dict[str, Any]:
    messages = params.get("messages") or []
    offered = [t["name"] for t in params.get("tools") or []]
    user = next((m.get("content") for m in messages if m.get("role") == "user"), "") or ""
    tool_msgs = [m for m in messages if m.get("role") == "tool"]
    turn = sum(1 for m in messages if m.get("role") == "assistant") + 1
    if "loop forever" in user:
        calls = [{"id": f"call_{turn}_0", "name": offered[0], "arguments": {"q": user}}]
        text = ""
    elif not tool_msgs and offered:
        calls = [
            {"id": f"call_{turn}_{i}", "name": name, "arguments": {"q": user}}
            for i, name in enumerate(offered)
        ]
        text = ""
    else:
        calls = []
        text = "done: " + " | ".join(str(m.get("content")) for m in tool_msgs)
    return {
        "text": text,
        "data": None,
        "model": params.get("model") or "stand-in",
        "finish_reason": "tool_calls" if calls else "stop",
        "usage": {"input_tokens": 10 * turn, "output_tokens": len(calls) + 1},
        "cost_usd": COST_PER_CALL,
        "tool_calls": calls,
    }


@activity.defn(name="llm")
async def llm(call: StepCall) -> StepResult:
    """A scripted model: echoes plain prompts, plays agent turns by the script above."""
    params = call.params
    if "flaky" in json.dumps(params.get("prompt") or params.get("messages")) and _attempt() < 2:
        raise _fail("the model hiccuped", "LLMFlaky")
    if "tools" in params and params.get("tools") is not None:
        return StepResult(output=_agent_turn(params), attempt=_attempt())
    if params.get("prompt") is not None:
        prompt = str(params["prompt"])
    else:
        prompt = str((params.get("messages") or [{}])[-1].get("content", ""))
    if "fail llm" in prompt:
        raise _fail("the model is down", "LLMUnavailable", retryable=False)
    text = f"echo: {prompt}"
    output = {
        "text": text,
        "data": _json_data(prompt),
        "model": params.get("model") or "stand-in",
        "finish_reason": "stop",
        "usage": _usage(prompt, text),
        "cost_usd": COST_PER_CALL,
    }
    return StepResult(output=output, attempt=_attempt())


# ---------------------------------------------------------------------------------------- code

_CODE_BUILTINS = {"len": len, "sum": sum, "min": min, "max": max, "sorted": sorted}


@activity.defn(name="code")
async def code(call: StepCall) -> StepResult:
    """Evaluates ``output = <expression>`` over ``input``; a stand-in, not a sandbox."""
    source = str(call.params.get("source", "")).strip()
    value = call.params.get("input")
    if source.startswith("raise "):
        raise _fail("code raised", source.removeprefix("raise ").strip(), retryable=False)
    if source.startswith("output = "):
        namespace = {"__builtins__": _CODE_BUILTINS, "input": value}
        result = eval(source.removeprefix("output = "), namespace)  # test stand-in only
        return StepResult(output=result, attempt=_attempt())
    return StepResult(output={"input": value}, attempt=_attempt())


STANDIN_ACTIVITIES = [llm, tool, code]
