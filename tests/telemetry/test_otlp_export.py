"""Spans leave a real worker process over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set:
a loopback HTTP server plays the collector and decodes what it receives."""

from __future__ import annotations

import asyncio
import os
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from temporalio.client import Client

from tests.support import tool_server as servers
from tests.support.processes import ROOT, start_process, stop
from tests.support.runs import result, start
from tests.support.tool_server import Reply, ToolServer

tool_server = servers.tool_server  # the fixture, used by name


def received(server: ToolServer) -> list[Span]:
    """Every span the collector has received so far."""
    spans: list[Span] = []
    for call in server.calls("/v1/traces"):
        export = ExportTraceServiceRequest.FromString(call.body)
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                spans.extend(scope.spans)
    return spans


async def test_a_worker_exports_its_spans_over_otlp(
    client: Client, task_queue: str, tool_server: ToolServer
) -> None:
    tool_server.route("/v1/traces", Reply(text=""))
    tool_server.route("/crm", Reply(json={"tier": "gold"}))
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KWORKFLOW_TASK_QUEUE": task_queue,
        "OTEL_EXPORTER_OTLP_ENDPOINT": tool_server.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s, not 5 s
    }
    process = start_process([sys.executable, str(ROOT / "worker.py")], env)
    try:
        handle = await start(
            client,
            task_queue,
            f"""
            kworkflow: 1
            name: exported
            tools:
              crm: {{url: "{tool_server.url}/crm"}}
            steps:
              - {{id: lookup, kind: tool, tool: crm, args: {{company: ACME}}}}
            output: ${{ steps.lookup.output.tier }}
            """,
        )
        assert await result(handle) == "gold"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while loop.time() < deadline and "run exported" not in {
            s.name for s in received(tool_server)
        }:
            await asyncio.sleep(0.1)
    finally:
        errors = stop(process)
    assert process.returncode == 0, errors
    spans = {s.name: s for s in received(tool_server)}
    assert {"run exported", "RunActivity:tool", "step lookup"} <= set(spans), sorted(spans)
    run, activity, step = spans["run exported"], spans["RunActivity:tool"], spans["step lookup"]
    assert run.parent_span_id == b""  # started by a client without tracing: a trace of its own
    assert activity.parent_span_id == run.span_id
    assert step.parent_span_id == activity.span_id
    assert run.trace_id == activity.trace_id == step.trace_id
    assert run.start_time_unix_nano <= step.start_time_unix_nano
    assert run.end_time_unix_nano >= step.end_time_unix_nano
    attributes = {a.key: a.value.string_value for a in step.attributes}
    assert attributes["kworkflow.step.kind"] == "tool"
    assert attributes["kworkflow.run.id"] == handle.id
