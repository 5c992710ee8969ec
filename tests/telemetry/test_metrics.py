"""Prometheus metrics: the API's /metrics after real runs, the human steps gauge, a worker's
port; and when spans are exported."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from temporalio import activity
from temporalio.client import Client

from activities.llm import llm
from activities.tool import tool
from interpreter.registration import new_worker
from telemetry.metrics import REGISTRY, start_metrics_server
from telemetry.run_report import ACTIVITY as REPORT_ACTIVITY
from telemetry.run_report import RunReport
from telemetry.tracing import build_provider
from tests.api.support import APPROVAL, Api, serving_api, wait_status, wait_waiting
from tests.support.openai_server import OpenAIServer
from tests.support.runs import result
from tests.support.standins import STANDIN_ACTIVITIES
from tests.support.tool_server import ToolServer
from tests.telemetry.test_tracing import model_env, openai_server, run_traced, tool_server

__all__ = ["model_env", "openai_server", "tool_server"]  # fixtures, used by name


@pytest.fixture
async def plain_api(
    client: Client, task_queue: str, tmp_path: Path, model_env: None
) -> AsyncIterator[Api]:
    """The API and a worker without a workflow cache (every task replays), no tracing."""
    async with (
        serving_api(
            client, task_queue, f"sqlite:///{tmp_path / 'r.db'}", single_tenant=True
        ) as api,
        new_worker(client, task_queue, [tool, llm], max_cached_workflows=0),
    ):
        yield api


MODEL = "gpt-test-2024"
"""The model the scripted server says answered."""


def value(name: str, **labels: str) -> float:
    """A sample of kworkflow's registry (0 when absent)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def counts() -> dict[str, float]:
    """The kind-labelled samples other tests of the session may move too (compared as deltas)."""
    return {
        "tool failed": value("kworkflow_step_attempts_total", kind="tool", status="failed"),
        "tool succeeded": value("kworkflow_step_attempts_total", kind="tool", status="succeeded"),
        "llm succeeded": value("kworkflow_step_attempts_total", kind="llm", status="succeeded"),
        "tool durations": value("kworkflow_step_attempt_duration_seconds_count", kind="tool"),
        "llm durations": value("kworkflow_step_attempt_duration_seconds_count", kind="llm"),
        "tool dispatch": value("kworkflow_step_dispatch_latency_seconds_count", kind="tool"),
        "llm dispatch": value("kworkflow_step_dispatch_latency_seconds_count", kind="llm"),
        "input tokens": value("kworkflow_llm_tokens_total", model=MODEL, direction="input"),
        "output tokens": value("kworkflow_llm_tokens_total", model=MODEL, direction="output"),
        "cost": value("kworkflow_llm_cost_usd_total", model=MODEL),
    }


async def eventually(read: Callable[[], float], timeout: float = 10) -> float:
    """``read()`` once it is non-zero (or at the deadline)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (current := read()) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return current


async def test_metrics_count_runs_attempts_and_tokens(
    plain_api: Api, tool_server: ToolServer, openai_server: OpenAIServer
) -> None:
    before = counts()
    name, _, view = await run_traced(plain_api, tool_server, openai_server)
    assert view["status"] == "succeeded"
    after = counts()
    assert {k: after[k] - before[k] for k in after} == {
        "tool failed": 1,
        "tool succeeded": 1,
        "llm succeeded": 1,
        "tool durations": 2,
        "llm durations": 1,
        "tool dispatch": 2,
        "llm dispatch": 1,
        "input tokens": 12,
        "output tokens": 5,
        "cost": 0,  # the default provider has no prices
    }
    async with httpx.AsyncClient(base_url=plain_api.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = set(response.text.splitlines())
    # one run, counted once although every workflow task replayed it
    assert f'kworkflow_runs_started_total{{workflow="{name}"}} 1.0' in lines
    # counted once, by the run's last activity (it may still run when the status says so)
    finished = await eventually(
        lambda: value("kworkflow_runs_finished_total", workflow=name, status="succeeded")
    )
    assert finished == 1.0
    assert value("kworkflow_runs_finished_total", workflow=name, status="failed") == 0
    assert "# TYPE kworkflow_step_dispatch_latency_seconds histogram" in lines
    assert "# TYPE kworkflow_human_steps_waiting gauge" in lines


async def test_human_steps_waiting_gauge(plain_api: Api) -> None:
    name = f"approval-{uuid.uuid4().hex[:8]}"
    plain_api.publish(APPROVAL.replace("name: approval", f"name: {name}"), tenant="default")
    before = value("kworkflow_human_steps_waiting")
    async with httpx.AsyncClient(base_url=plain_api.url, timeout=30) as http:
        response = await http.post("/v1/runs", json={"workflow": name, "input": {}})
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        await wait_waiting(http, run_id, "review")
        await asyncio.sleep(0.3)  # more workflow tasks (queries do not replay it upward)
        assert value("kworkflow_human_steps_waiting") - before == 1
        answer = await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
        )
        assert answer.status_code == 200, answer.text
        await wait_status(http, run_id, "succeeded")
    assert value("kworkflow_human_steps_waiting") - before == 0


async def test_worker_metrics_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start_metrics_server(port, addr="127.0.0.1")
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert "# TYPE kworkflow_runs_started_total counter" in response.text.splitlines()


def test_spans_are_exported_over_otlp_only_when_an_endpoint_is_set() -> None:
    assert build_provider("kworkflow-test", env={}) is None
    provider = build_provider(
        "kworkflow-test", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    )
    assert provider is not None
    try:
        assert provider.resource.attributes["service.name"] == "kworkflow-test"
        processors = provider._active_span_processor._span_processors
        assert [type(p.span_exporter).__name__ for p in processors] == ["OTLPSpanExporter"]  # type: ignore[attr-defined]
    finally:
        provider.shutdown()


async def test_a_run_that_reports_its_end_has_ended(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    """The run has succeeded and reports its end (slowly, inside its last workflow task): the
    API shows it ended once that task is done, a cancel request then leaves its end alone, and
    the report went out once (a cancel during the report: tests/telemetry/test_run_report.py)."""
    reports: list[str] = []
    reporting = asyncio.Event()

    @activity.defn(name=REPORT_ACTIVITY)
    async def slow_report(report: RunReport) -> None:
        reporting.set()
        await asyncio.sleep(1.0)
        reports.append(report.status)

    async with (
        serving_api(
            client, task_queue, f"sqlite:///{tmp_path / 'r.db'}", single_tenant=True
        ) as api,
        new_worker(client, task_queue, STANDIN_ACTIVITIES, run_report=slow_report),
        httpx.AsyncClient(base_url=api.url, timeout=30) as http,
    ):
        api.publish("kworkflow: 1\nname: quick\nsteps: [{id: a, kind: aggregate, expr: '1'}]")
        run_id = (await http.post("/v1/runs", json={"workflow": "quick"})).json()["id"]
        await asyncio.wait_for(reporting.wait(), 10)
        await result(client.get_workflow_handle(run_id))  # its last workflow task is done
        view = (await http.get(f"/v1/runs/{run_id}")).json()
        assert (view["status"], view["result"]) == ("succeeded", {"a": 1})
        assert view["ended_at"] is not None
        await client.get_workflow_handle(run_id).cancel()
        assert await result(client.get_workflow_handle(run_id)) == {"a": 1}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not reports and loop.time() < deadline:
            await asyncio.sleep(0.05)
    assert reports == ["succeeded"]
