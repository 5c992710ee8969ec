"""The ``tool`` activity end to end: interpreter runs on the dev server, tools on real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

import activities.base
from activities.contract import RunRef, StepCall
from activities.errors import ConfigError
from activities.registry import describe, load_tool_modules, registered_tool, tool
from activities.tool import tool as tool_activity
from interpreter.registration import new_worker
from interpreter.schemas import cache_stats
from tests.support import sample_tools
from tests.support import tool_server as servers
from tests.support.runs import new_run_id, run, run_failure, start, status
from tests.support.tool_server import Reply, ToolServer, failing
from tests.support.worker_config import config_file

tool_server = servers.tool_server  # the fixture, used by name

TOKEN = "s3cret-token"
FAST_RETRY = "{max_attempts: 3, initial_interval: 100ms, backoff_coefficient: 1.0}"


@pytest.fixture
def worker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A worker config with secrets from the environment, and the sample tool modules."""
    monkeypatch.setenv("KWORKFLOW_TOOL_MODULES", "tests.support.sample_tools")
    monkeypatch.setenv("KW_TEST_CRM_TOKEN", TOKEN)
    monkeypatch.delenv("KW_TEST_UNSET", raising=False)
    text = "secrets:\n  CRM_TOKEN: env:KW_TEST_CRM_TOKEN\n  GONE: env:KW_TEST_UNSET\n"
    with config_file(tmp_path / "worker.yaml", text, monkeypatch):
        yield


@pytest.fixture
async def tool_worker(
    client: Client, task_queue: str, worker_config: None
) -> AsyncIterator[Worker]:
    """A worker on this test's task queue running the real ``tool`` activity."""
    async with new_worker(client, task_queue, [tool_activity]) as w:
        yield w


def flow(server: ToolServer, steps: str, *, tools: str = "", retry: str = FAST_RETRY) -> str:
    """A definition with an HTTP tool ``crm`` (POST /crm, with a secret) plus ``tools``."""
    return f"""
kworkflow: 1
name: tools
defaults: {{retry: {retry}}}
tools:
  crm:
    url: {server.url}/crm
    headers: {{Authorization: "Bearer ${{ secrets.CRM_TOKEN }}", X-Team: research}}
    input_schema:
      type: object
      required: [company]
      properties: {{company: {{type: string}}, limit: {{type: integer, default: 5}}}}
{tools}
steps:
{steps}
edges: []
"""


def step_failure(err: ApplicationError) -> tuple[int, dict[str, Any]]:
    """The failed step's attempts and ``{type, message}`` from a run's StepFailed error."""
    assert err.type == "StepFailed", err
    return err.details[0]["attempts"], err.details[0]["error"]


# ---------------------------------------------------------------------------- HTTP tools


async def test_http_tool_sends_the_exact_request(client, task_queue, tool_worker, tool_server):
    tool_server.route("/crm", Reply(json={"id": 7, "seen": f"Bearer {TOKEN}"}))
    run_id = new_run_id()
    steps = '  - {id: lookup, kind: tool, tool: crm, args: {company: "${ input.company }"}}'
    out = await run(
        client, task_queue, flow(tool_server, steps), {"company": "acme"}, run_id=run_id
    )
    assert out == {"lookup": {"id": 7, "seen": "Bearer ***"}}  # the secret never comes back
    [request] = tool_server.calls()
    assert (request.method, request.path, request.query) == ("POST", "/crm", {})
    assert request.json == {"company": "acme", "limit": 5}  # the schema's default applied
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-team"] == "research"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == f"{run_id}/lookup"


async def test_get_tool_sends_args_as_query_parameters(
    client, task_queue, tool_worker, tool_server
):
    tools = f"  search: {{url: {tool_server.url}/search, method: GET, timeout: 5s}}"
    steps = "  - {id: find, kind: tool, tool: search, args: {q: a b, n: 3, tags: [x, y], on: true}}"
    out = await run(client, task_queue, flow(tool_server, steps, tools=tools))
    query = {"q": ["a b"], "n": ["3"], "tags": ["x", "y"], "on": ["true"]}
    assert out["find"]["method"] == "GET" and out["find"]["query"] == query
    [request] = tool_server.calls("/search")
    assert request.body == b"" and "authorization" not in request.headers


async def test_idempotency_key_is_stable_across_retries_and_differs_between_steps(
    client, task_queue, tool_worker, tool_server
):
    tools = f"  flaky: {{url: {tool_server.url}/flaky}}\n  fine: {{url: {tool_server.url}/fine}}"
    tool_server.route("/flaky", *failing(2, Reply(503, text="busy"), Reply(json={"ok": True})))
    steps = (
        "  - {id: first, kind: tool, tool: flaky, args: {}}\n"
        "  - {id: second, kind: tool, tool: fine, args: {}}"
    )
    run_id = new_run_id()
    handle = await start(client, task_queue, flow(tool_server, steps, tools=tools), run_id=run_id)
    out = await handle.result()
    assert out["first"] == {"ok": True}
    assert tool_server.keys("/flaky") == {f"{run_id}/first": 3}
    assert tool_server.keys("/fine") == {f"{run_id}/second": 1}
    state = await status(handle)
    assert (state["steps"]["first"]["attempts"], state["steps"]["second"]["attempts"]) == (3, 1)


async def test_429_retry_after_is_honoured(client, task_queue, tool_worker, tool_server):
    reply = Reply(429, json={"message": "slow down"}, headers={"Retry-After": "2"})
    tool_server.route("/crm", *failing(1, reply, Reply(json={"done": 1})))
    steps = "  - {id: call, kind: tool, tool: crm, args: {company: acme}}"
    assert await run(client, task_queue, flow(tool_server, steps)) == {"call": {"done": 1}}
    first, second = tool_server.calls("/crm")
    assert second.at - first.at >= 1.9  # not the 100 ms initial_interval


async def test_400_is_not_retried_and_carries_the_message_without_secrets(
    client, task_queue, tool_worker, tool_server
):
    tool_server.route("/crm", Reply(400, json={"error": {"message": f"bad token {TOKEN}"}}))
    steps = "  - {id: call, kind: tool, tool: crm, args: {company: acme}}"
    err, _ = await run_failure(client, task_queue, flow(tool_server, steps))
    message = "tool 'crm' answered HTTP 400: bad token ***"
    assert step_failure(err) == (1, {"type": "HTTP400", "message": message})
    assert TOKEN not in str(err.message) and len(tool_server.calls()) == 1


async def test_args_breaking_the_input_schema_never_reach_the_server(
    client, task_queue, tool_worker, tool_server
):
    steps = '  - {id: call, kind: tool, tool: crm, args: {company: "${ input.company }"}}'
    err, _ = await run_failure(client, task_queue, flow(tool_server, steps), {"company": 5})
    message = "tool 'crm': args.company: 5 is not of type 'string'"
    assert step_failure(err) == (1, {"type": "InvalidToolArguments", "message": message})
    assert tool_server.calls() == []


async def test_a_slow_response_times_out_and_is_retried(
    client, task_queue, tool_worker, tool_server
):
    tools = f"  slow: {{url: {tool_server.url}/slow, timeout: 300ms}}"
    tool_server.route("/slow", Reply(delay=1.0), Reply(json={"fast": True}))
    handle = await start(
        client, task_queue, flow(tool_server, "  - {id: s, kind: tool, tool: slow}", tools=tools)
    )
    assert await handle.result() == {"s": {"fast": True}}
    assert (await status(handle))["steps"]["s"]["attempts"] == 2


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("${ secrets.GONE }", "its environment variable KW_TEST_UNSET is not set"),
        ("x ${ secrets['NEVER'] }", "it is not under `secrets:` in the worker configuration"),
    ],
)
async def test_a_missing_secret_is_named_and_not_retried(
    client, task_queue, tool_worker, tool_server, header, why
):
    tools = f'  other: {{url: {tool_server.url}/other, headers: {{X-Key: "{header}"}}}}'
    err, _ = await run_failure(
        client, task_queue, flow(tool_server, "  - {id: s, kind: tool, tool: other}", tools=tools)
    )
    name = "GONE" if "GONE" in header else "NEVER"
    message = f"tool 'other': header 'X-Key' needs secret '{name}' and {why}"
    assert step_failure(err) == (1, {"type": "MissingSecret", "message": message})
    assert tool_server.calls() == []


# ------------------------------------------------- Python tools, the builtin http, unknown


async def test_registered_python_tools(client, task_queue, tool_worker, tool_server):
    steps = (
        "  - {id: hi, kind: tool, tool: greet, args: {name: Ann}}\n"
        "  - {id: ship, kind: tool, tool: ship, args: {to: {city: Oslo}, items: [a, b]}}"
    )
    out = await run(client, task_queue, flow(tool_server, steps))
    assert out == {
        "hi": "Hello, Ann!",
        "ship": {"city": "Oslo", "zip": None, "count": 2, "weight_kg": 1.0},
    }
    assert sample_tools.CALLS[-1] != "greet:MainThread"  # a sync tool runs in a thread


@pytest.mark.parametrize(
    ("tool_name", "args", "message"),
    [
        (
            "greet",
            "{name: Ann, punctuation: '?'}",
            "args.punctuation: '?' is not one of ['!', '.']",
        ),
        ("ship", "{to: {}, items: []}", "args.to.city: is required"),
        (
            "ship",
            "{to: {city: X}, items: [], weight_kg: 0}",
            "args.weight_kg: 0 is less than or equal to the minimum of 0",
        ),
        ("greet", "{name: Ann, extra: 1}", "args.extra: is not allowed"),
    ],
)
async def test_python_tool_arguments_are_validated(
    client, task_queue, tool_worker, tool_server, tool_name, args, message
):
    steps = f"  - {{id: s, kind: tool, tool: {tool_name}, args: {args}}}"
    err, _ = await run_failure(client, task_queue, flow(tool_server, steps))
    expected = {"type": "InvalidToolArguments", "message": f"tool '{tool_name}': {message}"}
    assert step_failure(err) == (1, expected)


async def test_a_raising_python_tool_is_retried_then_fails(
    client, task_queue, tool_worker, tool_server
):
    steps = "  - {id: s, kind: tool, tool: explode, args: {reason: gravity}}"
    retry = "{max_attempts: 2, initial_interval: 100ms}"
    err, _ = await run_failure(client, task_queue, flow(tool_server, steps, retry=retry))
    expected = {"type": "LookupError", "message": "LookupError: no luck: gravity"}
    assert step_failure(err) == (2, expected)


async def test_builtin_http_tool(client, task_queue, tool_worker, tool_server):
    tool_server.route("/plain", Reply(text="hi there"))
    steps = (
        f"  - {{id: post, kind: tool, tool: http, args: {{url: '{tool_server.url}/echo', "
        "method: POST, json: {a: 1}, headers: {X-A: b}, params: {p: 1}}}\n"
        f"  - {{id: plain, kind: tool, tool: http, args: {{url: '{tool_server.url}/plain'}}}}"
    )
    run_id = new_run_id()
    out = await run(client, task_queue, flow(tool_server, steps), run_id=run_id)
    post, plain = out["post"], out["plain"]
    assert (post["status"], post["headers"]["content-type"]) == (200, "application/json")
    assert post["json"]["method"] == "POST" and post["json"]["json"] == {"a": 1}
    assert post["json"]["query"] == {"p": ["1"]} and post["json"]["headers"]["x-a"] == "b"
    assert post["json"]["headers"]["idempotency-key"] == f"{run_id}/post"
    assert (plain["status"], plain["text"], "json" in plain) == (200, "hi there", False)


async def test_builtin_http_arguments_are_checked(client, task_queue, tool_worker, tool_server):
    steps = "  - {id: s, kind: tool, tool: http, args: {url: 'ftp://x'}}"
    err, _ = await run_failure(client, task_queue, flow(tool_server, steps))
    attempts, error = step_failure(err)
    assert (attempts, error["type"]) == (1, "InvalidToolArguments")
    assert error["message"].startswith("tool 'http': args.url: 'ftp://x' does not match")


async def test_an_unknown_tool_is_not_retried_and_names_the_tools(
    client, task_queue, tool_worker, tool_server
):
    err, _ = await run_failure(
        client, task_queue, flow(tool_server, "  - {id: s, kind: tool, tool: nope}")
    )
    attempts, error = step_failure(err)
    assert (attempts, error["type"]) == (1, "UnknownTool")
    assert error["message"].startswith("unknown tool 'nope': it is not in the definition's")
    for known in ("explode", "greet", "ship", "http"):
        assert known in error["message"]


# ------------------------------------------------------------ units: schemas, heartbeats


def test_schema_is_derived_from_hints_and_docstring() -> None:
    load_tool_modules(["tests.support.sample_tools"])
    greet = registered_tool("greet")
    assert greet is not None and greet.description == "Greet someone by name."
    assert greet.input_schema == {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"title": "Name", "type": "string", "description": "Who to greet."},
            "punctuation": {
                "default": "!",
                "enum": ["!", "."],
                "title": "Punctuation",
                "type": "string",
                "description": "How to end the greeting.",
            },
        },
    }
    ship = registered_tool("ship")
    assert ship is not None and ship.description == "Plan a shipment to an address."
    assert ship.input_schema["properties"]["to"] == {"$ref": "#/$defs/Address"}
    assert ship.input_schema["$defs"]["Address"]["required"] == ["city"]
    assert ship.input_schema["properties"]["weight_kg"]["exclusiveMinimum"] == 0


def test_tools_that_cannot_be_registered() -> None:
    def spread(*values: int) -> int:
        return sum(values)

    with pytest.raises(ConfigError, match=r"parameter 'values' is \*args"):
        describe(spread)
    with pytest.raises(ConfigError, match="must match"):
        describe(spread, name="has space")
    load_tool_modules(["tests.support.sample_tools"])
    with pytest.raises(ConfigError, match="registered twice"):
        tool(name="greet")(lambda name: name)
    with pytest.raises(
        ConfigError, match=r"tool module 'tests\.support\.absent' cannot be imported"
    ):
        load_tool_modules(["tests.support.absent"])


async def test_long_calls_heartbeat(tool_server, worker_config, monkeypatch) -> None:
    monkeypatch.setattr(activities.base, "HEARTBEAT_SECONDS", 0.1)
    tool_server.route("/slow", Reply(delay=0.45, json={"ok": 1}))
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    ref = RunRef(run_id="r", workflow="w", step="s")
    call = StepCall(
        ref=ref,
        kind="tool",
        params={"tool": "slow", "args": {}},
        tools={"slow": {"url": f"{tool_server.url}/slow"}},
    )
    result = await env.run(tool_activity, call)
    assert result.output == {"ok": 1} and len(beats) >= 3


async def test_the_urls_own_query_string_is_kept(client, task_queue, tool_worker, tool_server):
    """`params` (builtin http) and a GET tool's args are added to the URL's query, not
    instead of it."""
    url = f"{tool_server.url}/echo?key=k1&a=1"
    tools = f"  search: {{url: '{tool_server.url}/search?api=v2', method: GET}}"
    steps = (
        f"  - {{id: both, kind: tool, tool: http, args: {{url: '{url}', params: {{a: 2, b: x}}}}}}"
        "\n"
        f"  - {{id: own, kind: tool, tool: http, args: {{url: '{url}'}}}}\n"
        "  - {id: find, kind: tool, tool: search, args: {q: owls}}"
    )
    out = await run(client, task_queue, flow(tool_server, steps, tools=tools))
    assert out["both"]["json"]["query"] == {"key": ["k1"], "a": ["1", "2"], "b": ["x"]}
    assert out["own"]["json"]["query"] == {"key": ["k1"], "a": ["1"]}
    assert out["find"]["query"] == {"api": ["v2"], "q": ["owls"]}


async def test_tool_args_against_an_evil_pattern_are_checked_at_once(
    client, task_queue, tool_worker, tool_server
):
    """`^(a|a)+$` against 33 characters took Python's re minutes, blocking the worker."""
    evil, long = "^(a|a)+$", "a" * 32 + "!"
    tools = (
        f"  evil:\n    url: {tool_server.url}/evil\n"
        f"    input_schema: {{type: object, properties: {{s: {{pattern: '{evil}'}}}}}}"
    )
    steps = '  - {id: call, kind: tool, tool: evil, args: {s: "${ input.s }"}}'
    began = time.monotonic()
    err, _ = await run_failure(
        client, task_queue, flow(tool_server, steps, tools=tools), {"s": long}
    )
    assert time.monotonic() - began < 5.0
    message = f"tool 'evil': args.s: {long!r} does not match {evil!r}"
    assert step_failure(err) == (1, {"type": "InvalidToolArguments", "message": message})
    assert tool_server.calls() == []


async def test_a_tool_schema_is_compiled_once_for_every_call(tool_server, worker_config) -> None:
    """Each call decodes the definition's tools anew: the schema is looked up by content."""
    env = ActivityEnvironment()
    schema = {
        "type": "object",
        "description": "compiled once (test_tool)",
        "required": ["company"],
        "properties": {"company": {"type": "string"}, "limit": {"type": "integer", "default": 5}},
    }
    tools = json.dumps({"crm": {"url": f"{tool_server.url}/crm", "input_schema": schema}})

    def call(args: Any) -> StepCall:
        ref = RunRef(run_id="r", workflow="w", step="s")
        params = {"tool": "crm", "args": args}
        return StepCall(ref=ref, kind="tool", params=params, tools=json.loads(tools))

    before = cache_stats()
    outputs = [await env.run(tool_activity, call({"company": c})) for c in ("a", "b", "c")]
    with pytest.raises(ApplicationError) as caught:
        await env.run(tool_activity, call({"company": 7}))
    after = cache_stats()
    assert (after.builds - before.builds, after.hits - before.hits) == (1, 3)
    assert [o.output["json"] for o in outputs] == [
        {"company": c, "limit": 5} for c in ("a", "b", "c")
    ]
    assert (caught.value.type, caught.value.message) == (
        "InvalidToolArguments",
        "tool 'crm': args.company: 7 is not of type 'string'",
    )
