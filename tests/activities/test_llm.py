"""The real ``llm`` activity against a scripted OpenAI-compatible server, via the interpreter."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import _openai, registry
from activities.config import Price, current_config
from activities.contract import RunRef, StepCall
from activities.llm import llm, registered_tool
from interpreter.registration import new_worker
from interpreter.schemas import cache_stats
from tests.support import standins
from tests.support.openai_server import (  # noqa: F401 (openai_server is a fixture)
    OpenAIServer,
    completion,
    malformed,
    openai_server,
    rate_limited,
    server_error,
    tool_call,
    tool_call_reply,
    unauthorized,
)
from tests.support.runs import run, run_failure, start, status

API_KEY = "sk-test-SECRET-4242"
FAST = "{max_attempts: 3, initial_interval: 100ms, backoff_coefficient: 1.0}"
QUESTIONS = {
    "type": "object",
    "required": ["questions"],
    "properties": {"questions": {"type": "array", "items": {"type": "string"}}},
}


@pytest.fixture
def provider_env(
    openai_server: OpenAIServer,  # noqa: F811 (the imported fixture)
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[OpenAIServer]:
    """The default provider is the scripted server; no worker config file is read."""
    monkeypatch.chdir(tmp_path)  # no kworkflow.worker.yaml from the real working directory
    monkeypatch.delenv("KWORKFLOW_CONFIG", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{openai_server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    current_config.cache_clear()
    yield openai_server
    current_config.cache_clear()


@pytest.fixture
async def server(client: Any, task_queue: str, provider_env: OpenAIServer) -> AsyncIterator[Any]:
    """The scripted server, with a worker running the real ``llm`` (and stand-in tools)."""
    async with new_worker(client, task_queue, [llm, standins.tool, standins.code]):
        yield provider_env


def local_provider(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A worker config with provider ``local`` (extra header, prices) pointing at ``server``."""
    config = tmp_path / "worker.yaml"
    config.write_text(
        f"""
providers:
  local:
    base_url: {server.url}/v1/
    api_key_env: LOCAL_KEY
    headers: {{X-Team: research}}
    prices:
      small-v2: {{input: 2.5, output: 10.0}}
      small: {{input: 1.0, output: 2.0}}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("KWORKFLOW_CONFIG", str(config))
    monkeypatch.setenv("LOCAL_KEY", "local-key-77")
    current_config.cache_clear()


def failed_step(err: ApplicationError) -> dict[str, Any]:
    """The StepFailed details of a failed run."""
    assert err.type == "StepFailed", err
    return dict(err.details[0])


# ------------------------------------------------------------------------------ plain llm steps


async def test_prompt_and_system_are_sent_and_the_reply_is_the_output(client, task_queue, server):
    server.reply(completion("A cat.", usage=(12, 5)))
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: llm-prompt
        defaults: {model: gpt-test}
        steps:
          - {id: ask, kind: llm, system: "Be brief.", prompt: "Name a ${ input.thing }."}
        """,
        {"thing": "pet"},
    )
    assert got == {
        "ask": {
            "text": "A cat.",
            "data": None,
            "model": "gpt-test-2024",
            "finish_reason": "stop",
            "usage": {"input_tokens": 12, "output_tokens": 5},
            "cost_usd": 0.0,
        }
    }
    [sent] = server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a pet."},
        ],
    }


async def test_messages_temperature_and_max_tokens_are_passed(client, task_queue, server):
    server.reply(completion("Fine.", finish_reason="length"))
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: llm-messages
        steps:
          - id: ask
            kind: llm
            model: m1
            temperature: 0.2
            max_tokens: 64
            messages:
              - {role: user, content: hi}
              - {role: assistant, content: hello}
              - {role: user, content: "${ input.q }"}
        """,
        {"q": "how are you?"},
    )
    assert got["ask"]["finish_reason"] == "length"
    assert server.requests[0].body == {
        "model": "m1",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "how are you?"},
        ],
        "temperature": 0.2,
        "max_tokens": 64,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            "model: m, messages: [{role: robot, content: x}]",
            "messages[0].role must be one of assistant, developer, system, tool, user, not 'robot'",
        ),
        ("model: m, messages: hello", "`messages` must be a non-empty list, not text"),
        ("prompt: hi", "no model: set the step's `model` or the definition's `defaults.model`"),
        ("model: m, prompt: hi, temperature: warm", "`temperature` must be a number, not text"),
    ],
)
async def test_bad_step_fields_fail_once_without_a_request(
    client, task_queue, server, fields, message
):
    err, _ = await run_failure(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: llm-bad
        defaults: {{retry: {FAST}}}
        steps:
          - {{id: ask, kind: llm, {fields}}}
        """,
    )
    details = failed_step(err)
    assert details["attempts"] == 1
    assert details["error"] == {"type": "InvalidInput", "message": message}
    assert server.requests == []


# -------------------------------------------------------------------------------- output_schema


async def test_output_schema_asks_for_json_and_parses_it(client, task_queue, server):
    server.reply(completion('```json\n{"questions": ["why?", "how?"]}\n```'))
    got = await run(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: llm-json
        steps:
          - {{id: plan, kind: llm, model: m, prompt: plan, output_schema: {json.dumps(QUESTIONS)}}}
        """,
    )
    assert got["plan"]["data"] == {"questions": ["why?", "how?"]}
    assert server.requests[0].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": QUESTIONS, "strict": False},
    }


async def test_invalid_json_is_retried(client, task_queue, server):
    server.reply(completion("Sure! Here it is."), completion('{"questions": ["a"]}'))
    handle = await start(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: llm-json-retry
        defaults: {{retry: {FAST}}}
        steps:
          - {{id: plan, kind: llm, model: m, prompt: plan, output_schema: {json.dumps(QUESTIONS)}}}
        """,
    )
    assert (await handle.result())["plan"]["data"] == {"questions": ["a"]}
    assert (await status(handle))["steps"]["plan"]["attempts"] == 2
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Sure! Here it is.",
            "the model's answer is not JSON: Expecting value: line 1 column 1 (char 0); "
            "got 'Sure! Here it is.'",
        ),
        (
            '{"questions": ["a", 7]}',
            "the model's answer does not match output_schema at $.questions[1]: "
            "7 is not of type 'string'",
        ),
    ],
)
async def test_invalid_output_fails_with_what_was_wrong(client, task_queue, server, text, message):
    server.reply(completion(text))
    err, _ = await run_failure(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: llm-json-bad
        defaults: {{retry: {{max_attempts: 1}}}}
        steps:
          - {{id: plan, kind: llm, model: m, prompt: plan, output_schema: {json.dumps(QUESTIONS)}}}
        """,
    )
    details = failed_step(err)
    assert details["attempts"] == 1
    assert details["error"] == {"type": "LLMOutputInvalid", "message": message}


# ------------------------------------------------------------------------------------- failures

ONE_STEP = f"""
kworkflow: 1
name: llm-retry
defaults: {{model: m, retry: {FAST}}}
steps:
  - {{id: ask, kind: llm, prompt: hi}}
"""


async def test_429_waits_for_retry_after(client, task_queue, server):
    server.reply(rate_limited("2"), completion("ok"))
    handle = await start(client, task_queue, ONE_STEP)
    assert (await handle.result())["ask"]["text"] == "ok"
    assert (await status(handle))["steps"]["ask"]["attempts"] == 2
    first, second = server.requests
    assert second.at - first.at >= 1.9  # Retry-After, not the 100 ms retry interval


async def test_5xx_and_non_json_replies_are_retried(client, task_queue, server):
    server.reply(server_error(), malformed(), completion("ok"))
    handle = await start(client, task_queue, ONE_STEP)
    assert (await handle.result())["ask"]["text"] == "ok"
    assert (await status(handle))["steps"]["ask"]["attempts"] == 3


async def test_401_is_final_and_never_shows_the_key(client, task_queue, server):
    server.reply(unauthorized(f"Incorrect API key provided: {API_KEY}."))
    err, handle = await run_failure(client, task_queue, ONE_STEP)
    details = failed_step(err)
    assert details["attempts"] == 1
    assert details["error"] == {
        "type": "HTTP401",
        "message": "provider 'default' answered HTTP 401: Incorrect API key provided: ***.",
    }
    assert len(server.requests) == 1
    failure: BaseException | None = err
    while failure is not None:  # nowhere in the failure chain either
        assert API_KEY not in str(failure) and API_KEY not in repr(getattr(failure, "details", ""))
        failure = failure.__cause__ or getattr(failure, "cause", None)
    assert API_KEY not in json.dumps(await status(handle))


async def test_named_provider_headers_and_prices(client, task_queue, server, monkeypatch, tmp_path):
    local_provider(server, monkeypatch, tmp_path)
    server.reply(completion("hi", model="small-v2", usage=(1200, 300)))
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: llm-provider
        steps:
          - {id: ask, kind: llm, provider: local, model: small, prompt: hi}
        """,
    )
    assert got["ask"]["model"] == "small-v2"
    assert got["ask"]["cost_usd"] == 0.006  # 1200 x 2.5 + 300 x 10.0 per million
    [sent] = server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer local-key-77"
    assert sent.headers["x-team"] == "research"


# ---------------------------------------------------------------------------------------- agent


async def test_agent_turns_carry_tool_calls_and_tool_results(
    client, task_queue, server, monkeypatch, tmp_path
):
    local_provider(server, monkeypatch, tmp_path)
    server.reply(
        tool_call_reply(tool_call("call_1", "crm_lookup", {"company": "Acme"}), usage=(20, 7)),
        completion('{"answer": "anvils"}', model="small", usage=(40, 6)),
    )
    answer = {"type": "object", "properties": {"answer": {"type": "string"}}}
    lookup = {"type": "object", "properties": {"company": {"type": "string"}}}
    got = await run(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: llm-agent
        defaults: {{model: small, provider: local, retry: {FAST}}}
        tools:
          crm_lookup:
            description: Find a company in the CRM
            url: http://crm.invalid/lookup
            input_schema: {json.dumps(lookup)}
          notes: {{url: http://notes.invalid/}}
        steps:
          - id: ask
            kind: agent
            instructions: Answer briefly.
            prompt: "What does ${{ input.company }} make?"
            tools: [crm_lookup, notes]
            output_schema: {json.dumps(answer)}
        """,
        {"company": "Acme"},
    )
    assert got == {
        "ask": {
            "text": '{"answer": "anvils"}',
            "data": {"answer": "anvils"},
            "turns": 2,
            "usage": {"input_tokens": 60, "output_tokens": 13},
            "cost_usd": 0.0 + 34 / 1e6 + 52 / 1e6,  # (20 x 1 + 7 x 2) + (40 x 1 + 6 x 2)
        }
    }
    first, second = (r.body for r in server.requests)
    prompt = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What does Acme make?"},
    ]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "crm_lookup",
                "description": "Find a company in the CRM",
                "parameters": lookup,
            },
        },
        {"type": "function", "function": {"name": "notes", "parameters": {"type": "object"}}},
    ]
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": answer, "strict": False},
    }
    assert first == {
        "model": "small",
        "messages": prompt,
        "tools": tools,
        "response_format": response_format,
    }
    result = {
        "http_tool": "crm_lookup",
        "url": "http://crm.invalid/lookup",
        "args": {"company": "Acme"},
    }
    assert second["messages"] == [
        *prompt,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "crm_lookup", "arguments": '{"company":"Acme"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": json.dumps(result, separators=(",", ":")),
        },
    ]


# ---------------------------------------------------------------------- the activity on its own


async def test_a_slow_reply_heartbeats(provider_env):
    provider_env.reply(
        dataclasses.replace(malformed(), text=json.dumps(completion("ok")), delay=0.5)
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=0.2))
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    call = StepCall(
        ref=RunRef(run_id="r", workflow="w", step="s"),
        kind="llm",
        params={"model": "m", "prompt": "hi"},
    )
    result = await env.run(llm, call)
    assert result.output["text"] == "ok"
    assert len(beats) >= 3  # every 0.1 s (half the heartbeat timeout) for 0.5 s


async def test_an_output_schema_is_compiled_once_for_every_call(provider_env):
    """Checked when the request is built and applied to the answer: one build for all calls."""
    schema = {**QUESTIONS, "description": "compiled once (test_llm)"}
    provider_env.reply(*(completion(json.dumps({"questions": [q]})) for q in ("a", "b", "c")))
    env = ActivityEnvironment()
    before = cache_stats()
    outputs = []
    for _ in range(3):
        params = {"model": "m", "prompt": "hi", "output_schema": json.loads(json.dumps(schema))}
        call = StepCall(ref=RunRef(run_id="r", workflow="w", step="s"), kind="llm", params=params)
        outputs.append((await env.run(llm, call)).output["data"])
    after = cache_stats()
    assert outputs == [{"questions": [q]} for q in ("a", "b", "c")]
    assert (after.builds - before.builds, after.hits - before.hits) == (1, 5)


def test_tool_calls_are_parsed_and_bad_arguments_are_output_errors():
    body = completion(None, tool_calls=[tool_call("c1", "f", {"x": 1}), tool_call("c2", "g", "")])
    reply = _openai.parse_reply(body)
    assert reply.tool_calls == [
        {"id": "c1", "name": "f", "arguments": {"x": 1}},
        {"id": "c2", "name": "g", "arguments": {}},
    ]
    assert reply.text == ""
    for arguments, message in [
        ('{"x": ', "the arguments of tool call 'f' are not JSON: Expecting value: line 1 column 7"),
        ("[1]", "the arguments of tool call 'f' are not a JSON object: '[1]'"),
    ]:
        with pytest.raises(ApplicationError) as caught:
            _openai.parse_reply(completion(None, tool_calls=[tool_call("c", "f", arguments)]))
        assert caught.value.type == "LLMOutputInvalid" and not caught.value.non_retryable
        assert caught.value.message.startswith(message)


@pytest.mark.parametrize("body", [{"error": "x"}, {"choices": []}, {"choices": [{"index": 0}]}, []])
def test_a_reply_without_a_message_is_a_bad_response(body):
    with pytest.raises(ApplicationError) as caught:
        _openai.parse_reply(body)
    assert caught.value.type == "LLMBadResponse" and not caught.value.non_retryable


def test_prices_by_answering_then_requested_model():
    reply = _openai.Reply("", "m-2024", "stop", input_tokens=1_000_000, output_tokens=500_000)
    prices = {"m": Price(input=1.0, output=3.0), "m-2024": Price(input=2.0, output=4.0)}
    assert _openai.cost_usd(prices, ["m-2024", "m"], reply) == 4.0
    assert _openai.cost_usd(prices, [None, "m"], reply) == 2.5
    assert _openai.cost_usd(prices, ["other"], reply) == 0.0


def test_refusals_and_truncated_answers_say_so():
    refused = _openai.Reply("", "m", "stop", refusal="I can't help with that.")
    with pytest.raises(ApplicationError, match="the model refused to answer: \"I can't help"):
        _openai.parse_output(refused, {"type": "object"})
    cut = _openai.Reply('{"a": ', "m", "length")
    with pytest.raises(ApplicationError, match=r"\(cut off: finish_reason length\)$"):
        _openai.parse_output(cut, {"type": "object"})


def test_request_body_fills_tools_from_the_registry_and_renders_values(monkeypatch):
    # register into a copy, so other tests never see this tool
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.tool(name="llm_test_weather")
    def weather(city: str) -> dict[str, Any]:
        """The weather in a city."""
        return {"city": city}

    body = _openai.request_body(
        "m",
        {
            "prompt": {"ask": ["weather", 1]},
            "tools": [{"name": "llm_test_weather", "description": None, "input_schema": None}],
            "output_schema": {"type": "object"},
        },
        lookup=registered_tool,
        response_format="json_object",
    )
    assert body["messages"] == [{"role": "user", "content": '{"ask":["weather",1]}'}]
    [function] = [t["function"] for t in body["tools"]]
    assert function["name"] == "llm_test_weather"
    assert function["description"] == "The weather in a city."
    assert function["parameters"]["properties"]["city"]["type"] == "string"
    assert body["response_format"] == {"type": "json_object"}


def test_an_invalid_output_schema_is_invalid_input():
    with pytest.raises(ApplicationError) as caught:
        _openai.request_body("m", {"prompt": "hi", "output_schema": {"type": "thing"}})
    assert caught.value.type == "InvalidInput" and caught.value.non_retryable
    assert caught.value.message == (
        "`output_schema` is not a valid JSON Schema at $.type: "
        "'thing' is not valid under any of the given schemas"
    )
