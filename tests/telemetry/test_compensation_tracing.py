"""A compensation in the traces: the API starts the compensation run (its own span), each
compensation is a step span of that run, and the run's span says how the compensation ended."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.api.support import Api, wait_status
from tests.support.tool_server import Reply, ToolServer
from tests.telemetry.test_tracing import (
    exporter,
    model_env,
    openai_server,
    spans_of,
    tool_server,
    traced_api,
)

__all__ = ["exporter", "model_env", "openai_server", "tool_server", "traced_api"]


async def test_a_compensation_is_in_the_traces(
    traced_api: Api, exporter: InMemorySpanExporter, tool_server: ToolServer
) -> None:
    name = f"undone-{uuid.uuid4().hex[:8]}"
    tool_server.route("/book", Reply(json={"ref": "H1"}))
    tool_server.route("/pay", Reply(400, json={"error": "declined"}))
    tool_server.route("/unbook", Reply(json={"ok": True}))
    url = tool_server.url
    traced_api.publish(
        f"""
        kworkflow: 1
        name: {name}
        tools:
          book: {{url: "{url}/book"}}
          pay: {{url: "{url}/pay"}}
          unbook: {{url: "{url}/unbook"}}
        steps:
          - {{id: hotel, kind: tool, tool: book, compensate: {{kind: tool, tool: unbook}}}}
          - {{id: charge, kind: tool, tool: pay}}
        """,
        tenant="default",
    )
    async with httpx.AsyncClient(base_url=traced_api.url, timeout=30) as http:
        run_id = (await http.post("/v1/runs", json={"workflow": name, "input": {}})).json()["id"]
        await wait_status(http, run_id, "failed")
        answer = await http.post(f"/v1/runs/{run_id}/compensate")
        assert answer.status_code == 201, answer.text
        new_id = answer.json()["run_id"]
        await wait_status(http, new_id, "succeeded")
    spans = exporter.get_finished_spans()
    mine = spans_of(spans, new_id)
    names = Counter(s.name for s in mine)
    assert (names["StartWorkflow:kworkflow"], names["step hotel.compensate"]) == (1, 1)
    (run_span,) = [s for s in mine if s.name == f"run {name}"]
    assert (run_span.attributes or {})["kworkflow.compensation"] == "compensated"
