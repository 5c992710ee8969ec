"""Traces end to end: API request → workflow → one span per step attempt, on the dev server."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from activities.config import current_config
from activities.llm import llm
from activities.tool import tool
from interpreter.registration import new_worker
from interpreter.request import STATUS_QUERY
from telemetry.tracing import disable_tracing, setup_tracing, tracing_interceptors
from tests.api.support import Api, serving_api, wait_status
from tests.support import openai_server as models
from tests.support import tool_server as servers
from tests.support.openai_server import OpenAIServer, completion
from tests.support.runs import run_failure
from tests.support.standins import STANDIN_ACTIVITIES
from tests.support.tool_server import Reply, ToolServer

OK_TIER = Reply(json={"tier": "gold"})

tool_server = servers.tool_server  # fixtures, used by name
openai_server = models.openai_server


def definition(name: str, tools_url: str) -> str:
    """aggregate → tool (fails once, then answers) → llm."""
    return f"""
kworkflow: 1
name: {name}
defaults: {{retry: {{max_attempts: 3, initial_interval: 100ms, backoff_coefficient: 1.0}}}}
tools:
  crm: {{url: "{tools_url}/crm"}}
steps:
  - {{id: prep, kind: aggregate, expr: '"ACME"'}}
  - {{id: lookup, kind: tool, tool: crm, args: {{company: "${{ steps.prep.output }}"}}}}
  - {{id: ask, kind: llm, model: gpt-test, prompt: "Hello ${{ steps.lookup.output.tier }}"}}
edges:
  - {{from: prep, to: lookup}}
  - {{from: lookup, to: ask}}
output: ${{ steps.ask.output.text }}
"""


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory, for this test only."""
    spans = InMemorySpanExporter()
    setup_tracing("kworkflow-test", exporter=spans)
    yield spans
    disable_tracing()
    spans.shutdown()  # later spans of the session are dropped


@pytest.fixture
def model_env(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{openai_server.url}/v1")
    monkeypatch.delenv("KWORKFLOW_CONFIG", raising=False)
    monkeypatch.delenv("KWORKFLOW_TOOL_MODULES", raising=False)
    current_config.cache_clear()
    yield
    current_config.cache_clear()


@pytest.fixture
async def traced_api(
    exporter: InMemorySpanExporter,
    client: Client,
    task_queue: str,
    tmp_path: Path,
    model_env: None,
) -> AsyncIterator[Api]:
    """The API and a worker (no workflow cache: every task replays) on a traced client."""
    traced = Client(**{**client.config(), "interceptors": tracing_interceptors()})
    async with (
        serving_api(
            traced, task_queue, f"sqlite:///{tmp_path / 'r.db'}", single_tenant=True
        ) as api,
        new_worker(traced, task_queue, [tool, llm], max_cached_workflows=0),
    ):
        yield api


def tree(spans: tuple[ReadableSpan, ...]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans if s.context is not None}


def parent_name(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> str | None:
    if span.parent is None:
        return None
    parent = by_id.get(span.parent.span_id)
    return parent.name if parent else "<missing>"


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def spans_of(spans: tuple[ReadableSpan, ...], run_id: str) -> list[ReadableSpan]:
    """The spans naming the run (but the queries of status requests)."""
    keys = ("temporalWorkflowID", "kworkflow.run.id")
    return [
        s
        for s in spans
        if run_id in {(s.attributes or {}).get(k) for k in keys} and "Query" not in s.name
    ]


def expected_counts(name: str) -> Counter[str]:
    """Each span of a run of :func:`definition`: the tool step fails once, then answers."""
    return Counter(
        {
            "StartWorkflow:kworkflow": 1,
            f"run {name}": 1,
            "RunActivity:tool": 2,
            "step lookup": 2,
            "SignalWorkflow:kworkflow.attempt": 1,
            "RunActivity:llm": 1,
            "step ask": 1,
            "RunActivity:kworkflow.run_finished": 1,
        }
    )


async def run_traced(api: Api, tool_server: ToolServer, openai_server: OpenAIServer) -> Any:
    name = f"traced-{uuid.uuid4().hex[:8]}"
    tool_server.route("/crm", Reply(503, json={"error": "busy"}), Reply(json={"tier": "gold"}))
    openai_server.reply(completion("Hi gold", model="gpt-test-2024", usage=(12, 5)))
    api.publish(definition(name, tool_server.url), tenant="default")
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        response = await http.post("/v1/runs", json={"workflow": name, "input": {}})
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        view = await wait_status(http, run_id, "succeeded")
    return name, run_id, view


async def test_one_trace_from_request_to_each_attempt(
    traced_api: Api,
    exporter: InMemorySpanExporter,
    tool_server: ToolServer,
    openai_server: OpenAIServer,
) -> None:
    name, run_id, view = await run_traced(traced_api, tool_server, openai_server)
    assert view["result"] == "Hi gold"
    spans = exporter.get_finished_spans()
    by_id = tree(spans)

    (request,) = [s for s in spans if s.name == "POST /v1/runs"]
    (start,) = named(spans, "StartWorkflow:kworkflow")
    assert start.attributes is not None and start.attributes["temporalWorkflowID"] == run_id
    assert parent_name(start, by_id) == "fastapi.endpoint"
    assert parent_name(by_id[start.parent.span_id], by_id) == "POST /v1/runs"  # type: ignore[union-attr]
    # every span of the run (but the status queries of GET requests) is in the request's trace
    trace_id = request.context.trace_id  # type: ignore[union-attr]
    of_run = spans_of(spans, run_id)
    # Exactly once each, though the worker has no cache (every task replays) and the test
    # polls the run's status while it runs.
    assert Counter(s.name for s in of_run) == expected_counts(name), of_run
    assert {s.context.trace_id for s in of_run} == {trace_id}  # type: ignore[union-attr]

    (run_span,) = named(spans, f"run {name}")
    assert parent_name(run_span, by_id) == "StartWorkflow:kworkflow"
    for kind, runs in (("tool", 2), ("llm", 1), ("kworkflow.run_finished", 1)):
        executions = named(spans, f"RunActivity:{kind}")
        assert len(executions) == runs
        assert {parent_name(s, by_id) for s in executions} == {f"run {name}"}
    (signal,) = named(spans, "SignalWorkflow:kworkflow.attempt")
    assert parent_name(signal, by_id) == "RunActivity:tool"  # attempt 2 reports itself
    # the run span covers the run: it starts before its first step and ends after its last
    steps = [s for s in of_run if s.name.startswith("step ")]
    assert run_span.start_time <= min(s.start_time for s in steps)  # type: ignore[operator,type-var]
    assert run_span.end_time >= max(s.end_time for s in steps)  # type: ignore[operator,type-var]

    attempts = named(spans, "step lookup")
    assert [parent_name(s, by_id) for s in attempts] == ["RunActivity:tool"] * 2
    assert [dict(s.attributes or {}) for s in attempts] == [
        {
            "kworkflow.run.id": run_id,
            "kworkflow.workflow": name,
            "kworkflow.tenant": "default",
            "kworkflow.step.id": "lookup",
            "kworkflow.step.path": "lookup",
            "kworkflow.step.kind": "tool",
            "kworkflow.step.attempt": attempt,
            "kworkflow.status": status,
            **extra,
        }
        for attempt, status, extra in (
            (
                1,
                "failed",
                {
                    "error.type": "HTTP503",
                    "kworkflow.error.message": "HTTP503: tool 'crm' answered HTTP 503: busy",
                },
            ),
            (2, "succeeded", {}),
        )
    ]
    assert [s.status.status_code.name for s in attempts] == ["ERROR", "UNSET"]

    (ask,) = named(spans, "step ask")
    assert parent_name(ask, by_id) == "RunActivity:llm"
    assert dict(ask.attributes or {}) == {
        "kworkflow.run.id": run_id,
        "kworkflow.workflow": name,
        "kworkflow.tenant": "default",
        "kworkflow.step.id": "ask",
        "kworkflow.step.path": "ask",
        "kworkflow.step.kind": "llm",
        "kworkflow.step.attempt": 1,
        "kworkflow.status": "succeeded",
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-test",
        "gen_ai.response.model": "gpt-test-2024",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.response.finish_reasons": ("stop",),
    }

    attributes = dict(run_span.attributes or {})
    assert {k: v for k, v in attributes.items() if k.startswith("kworkflow.")} == {
        "kworkflow.run.id": run_id,
        "kworkflow.workflow": name,
        "kworkflow.workflow.version": 1,
        "kworkflow.tenant": "default",
        "kworkflow.status": "succeeded",
    }
    assert named(spans, "step prep") == []  # workflow-side kinds have no spans of their own


async def test_queries_to_uncached_runs_add_no_spans(
    traced_api: Api,
    exporter: InMemorySpanExporter,
    tool_server: ToolServer,
    openai_server: OpenAIServer,
    client: Client,
) -> None:
    """A query that reaches a run no worker has cached, while a workflow task is pending, makes
    the SDK run the newest events outside replay and throw the work away. Without a cache every
    query does so; querying without pause catches those windows in most runs (in about half of
    them when this test was written, before the fix). No span may show twice."""

    async def hammer(run_id: str, done: asyncio.Event) -> int:
        handle, answered = client.get_workflow_handle(run_id), 0
        while not done.is_set():
            with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                await handle.query(STATUS_QUERY)
                answered += 1
            await asyncio.sleep(0.002)
        return answered

    async def one_run() -> tuple[str, str, int]:
        done = asyncio.Event()
        queries: asyncio.Task[int] | None = None
        name = f"traced-{uuid.uuid4().hex[:8]}"
        api = traced_api
        api.publish(definition(name, tool_server.url), tenant="default")
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
            response = await http.post("/v1/runs", json={"workflow": name, "input": {}})
            run_id = response.json()["id"]
            queries = asyncio.create_task(hammer(run_id, done))
            await client.get_workflow_handle(run_id).result()
        done.set()
        return name, run_id, await queries

    tool_server.route(
        "/crm", *[r for _ in range(6) for r in (Reply(503, json={"error": "busy"}), OK_TIER)]
    )
    for _ in range(6):
        openai_server.reply(completion("Hi gold", model="gpt-test-2024", usage=(12, 5)))
    finished = [await one_run() for _ in range(6)]
    spans = exporter.get_finished_spans()
    for name, run_id, answered in finished:
        assert answered > 0  # the queries did reach the run while it ran
        counts = Counter(s.name for s in spans_of(spans, run_id))
        # The SDK's own span of the end-of-run local activity shows each execution of it, and a
        # local activity runs at least once: an uncached run's query may run it again. The run's
        # span (from its report) and every other span stay single.
        local = "RunActivity:kworkflow.run_finished"
        assert counts.pop(local, 0) in (1, 2), (run_id, counts)
        expected = expected_counts(name)
        expected.pop(local, None)
        assert counts == expected, (run_id, counts)


async def test_a_run_started_without_tracing_is_one_trace_with_its_subflow(
    exporter: InMemorySpanExporter, client: Client, task_queue: str
) -> None:
    """The Temporal CLI or a plain client starts a run without a trace context: the run span is
    the root of a trace of its own; a subflow's run span hangs under it; a failed run's span
    says why."""
    traced = Client(**{**client.config(), "interceptors": tracing_interceptors()})
    async with new_worker(traced, task_queue, STANDIN_ACTIVITIES, max_cached_workflows=0):
        error, handle = await run_failure(  # started by the untraced client
            client,
            task_queue,
            """
            kworkflow: 1
            name: nested
            defaults: {retry: {max_attempts: 1}}
            steps:
              - {id: first, kind: tool, tool: echo, args: {n: 1}}
              - id: sub
                kind: subflow
                steps:
                  - {id: x, kind: tool, tool: fail, args: {message: deep trouble}}
            edges:
              - {from: first, to: sub}
            """,
        )
        assert error.type == "StepFailed"
    spans = exporter.get_finished_spans()
    by_id = tree(spans)
    (root,) = named(spans, "run nested")
    (child,) = [s for s in spans if s.name.startswith("run ") and s is not root]
    assert root.parent is None
    assert parent_name(child, by_id) == "run nested"
    assert (child.attributes or {})["kworkflow.run.id"] == f"{handle.id}/sub"
    # the stand-in tools have no step spans of their own: their RunActivity spans show where
    attempts = named(spans, "RunActivity:tool")
    assert sorted(parent_name(s, by_id) or "" for s in attempts) == sorted([root.name, child.name])
    for span, message in ((child, "deep trouble"), (root, "step 'sub'")):
        attributes = dict(span.attributes or {})
        assert attributes["kworkflow.status"] == "failed"
        assert message in str(attributes["kworkflow.error.message"])
        assert span.status.status_code.name == "ERROR"
    trace_ids = {s.context.trace_id for s in spans if s.context is not None}
    assert trace_ids == {root.context.trace_id}  # type: ignore[union-attr]


async def test_pause_resume_and_retry_are_in_the_runs_traces(
    traced_api: Api, exporter: InMemorySpanExporter
) -> None:
    """Each action through the API is a span naming the run: pause and resume are updates of
    the run, a retry starts the new run."""
    name = f"acted-{uuid.uuid4().hex[:8]}"
    traced_api.publish(
        f"""
        kworkflow: 1
        name: {name}
        steps:
          - {{id: ask, kind: human, prompt: Go?}}
        """,
        tenant="default",
    )
    async with httpx.AsyncClient(base_url=traced_api.url, timeout=30) as http:
        run_id = (await http.post("/v1/runs", json={"workflow": name, "input": {}})).json()["id"]
        await wait_status(http, run_id, "running")
        for action in ("pause", "resume"):
            answer = await http.post(f"/v1/runs/{run_id}/{action}", json={})
            assert answer.status_code == 200, answer.text
        assert (await http.post(f"/v1/runs/{run_id}/cancel")).status_code == 202
        await wait_status(http, run_id, "cancelled")
        retry = await http.post(f"/v1/runs/{run_id}/retry", json={})
        assert retry.status_code == 201, retry.text
        retried = retry.json()["run_id"]
    spans = exporter.get_finished_spans()
    names = Counter(s.name for s in spans_of(spans, run_id))
    assert (names["StartWorkflowUpdate:pause"], names["StartWorkflowUpdate:resume"]) == (1, 1)
    assert Counter(s.name for s in spans_of(spans, retried))["StartWorkflow:kworkflow"] == 1
