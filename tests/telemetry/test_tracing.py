"""Traces end to end: API request → workflow → one span per step attempt, on the dev server."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from activities.config import current_config
from activities.llm import llm
from activities.tool import tool
from interpreter.registration import new_worker
from telemetry.tracing import disable_tracing, setup_tracing, tracing_interceptors
from tests.api.support import Api, start_api, wait_status
from tests.support import openai_server as models
from tests.support import tool_server as servers
from tests.support.openai_server import OpenAIServer, completion
from tests.support.tool_server import Reply, ToolServer

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
    api, served = await start_api(
        traced, task_queue, f"sqlite:///{tmp_path / 'r.db'}", single_tenant=True
    )
    try:
        async with new_worker(traced, task_queue, [tool, llm], max_cached_workflows=0):
            yield api
    finally:
        await served.stop()
        api.store.close()


def tree(spans: tuple[ReadableSpan, ...]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in spans if s.context is not None}


def parent_name(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> str | None:
    if span.parent is None:
        return None
    parent = by_id.get(span.parent.span_id)
    return parent.name if parent else "<missing>"


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


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
    of_run = [
        s
        for s in spans
        if run_id
        in {(s.attributes or {}).get(k) for k in ("temporalWorkflowID", "kworkflow.run.id")}
        and "Query" not in s.name
    ]
    # Activity-side spans are exact: one per attempt. Workflow-side spans are made once per
    # workflow task, never on replay (the worker has no cache: every task replays the run), but
    # a task whose completion the server refuses runs again: rarely, one shows twice.
    counts = Counter(s.name for s in of_run)
    exact = {"RunActivity:tool": 2, "RunActivity:llm": 1, "step lookup": 2, "step ask": 1}
    assert {k: counts[k] for k in exact} == exact, counts
    at_least_once = {
        "StartWorkflow:kworkflow",
        "RunWorkflow:kworkflow",
        "StartActivity:tool",
        "StartActivity:llm",
        "SignalWorkflow:kworkflow.attempt",
        "HandleSignal:kworkflow.attempt",
        f"run {name}",
        "CompleteWorkflow:kworkflow",
    }
    assert set(counts) == set(exact) | at_least_once, counts
    assert all(counts[k] <= 2 for k in at_least_once), counts
    assert {s.context.trace_id for s in of_run} == {trace_id}  # type: ignore[union-attr]

    for workflow_span in named(spans, "RunWorkflow:kworkflow"):
        assert parent_name(workflow_span, by_id) == "StartWorkflow:kworkflow"
    for kind, runs in (("tool", 2), ("llm", 1)):
        for scheduled in named(spans, f"StartActivity:{kind}"):
            assert parent_name(scheduled, by_id) == "StartWorkflow:kworkflow"
        executions = named(spans, f"RunActivity:{kind}")
        assert len(executions) == runs
        assert {parent_name(s, by_id) for s in executions} == {f"StartActivity:{kind}"}

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

    run_span = named(spans, f"run {name}")[0]
    assert parent_name(run_span, by_id) == "StartWorkflow:kworkflow"
    attributes = dict(run_span.attributes or {})
    assert {k: v for k, v in attributes.items() if k.startswith("kworkflow.")} == {
        "kworkflow.run.id": run_id,
        "kworkflow.workflow": name,
        "kworkflow.workflow.version": 1,
        "kworkflow.tenant": "default",
        "kworkflow.status": "succeeded",
    }
    assert named(spans, "step prep") == []  # workflow-side kinds have no spans of their own
