"""The doc-review shape of issue 11, whole, on the real activities: llm (a loopback
OpenAI-compatible server) -> code (the sandbox) -> human -> branch -> tool (a loopback server).
The run fails at the tool (a tool the worker does not have yet) after the person answered; once
the worker has it, a retry from the tool asks nobody, calls no model, and the tool's server sees
exactly one call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from activities.code import code
from activities.llm import llm
from activities.registry import tool as register_tool
from activities.tool import tool
from interpreter.registration import new_worker
from tests.api.support import Api, serving_api, start_run, wait_status, wait_waiting
from tests.api.test_retry import retry, statuses, unregister
from tests.support.openai_server import OpenAIServer, completion, openai_server
from tests.support.tool_server import Reply, ToolServer, tool_server
from tests.telemetry.test_tracing import model_env

__all__ = ["model_env", "openai_server", "tool_server"]

DOC_REVIEW = """\
kworkflow: 1
name: doc-review-full
steps:
  - {{id: draft, kind: llm, model: writer, prompt: "Draft a note"}}
  - id: tidy
    kind: code
    language: python
    input: {{text: "${{ steps.draft.output.text }}"}}
    source: |
      text = input['text']
      output = {{'text': text.strip().upper(), 'words': len(text.split())}}
  - id: review
    kind: human
    prompt: "Send ${{ steps.tidy.output.text }}?"
    form: {{type: object, required: [ok], properties: {{ok: {{type: boolean}}}}}}
  - {{id: pick, kind: branch, cases: [{{when: "steps.review.output.data.ok", to: send}}],
     default: hold}}
  - {{id: send, kind: tool, tool: {tool}, args: {{text: "${{ steps.tidy.output.text }}"}}}}
  - {{id: hold, kind: aggregate, expr: "'held'"}}
edges:
  - {{from: draft, to: tidy}}
  - {{from: tidy, to: review}}
  - {{from: review, to: pick}}
  - {{from: pick, to: [send, hold]}}
output: ${{ steps.send.output }}
"""


@pytest.fixture
async def api(
    client: Client, task_queue: str, tmp_path: Path, model_env: None
) -> AsyncIterator[Api]:
    """The API over SQLite with a worker running the real llm, tool and code activities."""
    async with (
        new_worker(client, task_queue, [llm, tool, code]),
        serving_api(client, task_queue, f"sqlite:///{tmp_path / 'registry.db'}") as api,
    ):
        yield api


async def test_retry_from_the_tool_once_the_worker_has_it(
    api: Api, tool_server: ToolServer, openai_server: OpenAIServer
) -> None:
    """UnknownTool after the answer; the worker gains a tool that posts to a real server; the
    retry from `send` reuses draft, tidy, review and pick (nobody asked, the code not run
    again) and the server sees one call, with the code step's output."""
    name = f"deliver_{uuid.uuid4().hex[:8]}"
    tool_server.route("/deliver", Reply(json={"delivered": True}))
    openai_server.reply(completion("  ship the release notes  "))
    api.publish(DOC_REVIEW.format(tool=name))
    async with api.http() as http:
        run_id = (await start_run(http, "doc-review-full"))["id"]
        waiting = await wait_waiting(http, run_id, "review")
        tidy = waiting["steps"]["tidy"]["output"]
        assert tidy == {"text": "SHIP THE RELEASE NOTES", "words": 4}
        assert waiting["pending_human"][0]["prompt"] == "Send SHIP THE RELEASE NOTES?"
        answered = await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"ok": True}}
        )
        assert answered.status_code == 200, answered.text
        failed = await wait_status(http, run_id, "failed")
        assert failed["steps"]["send"]["error"]["type"] == "UnknownTool"
        assert statuses(failed) == {
            "draft": "succeeded",
            "tidy": "succeeded",
            "review": "succeeded",
            "pick": "succeeded",
            "send": "failed",
            "hold": "skipped",
        }

        def deliver(text: str) -> dict[str, object]:
            reply = httpx.post(f"{tool_server.url}/deliver", json={"text": text}, timeout=10)
            reply.raise_for_status()
            return dict(reply.json())

        register_tool(name=name)(deliver)  # the worker gains the tool
        try:
            out = await retry(http, run_id, **{"from": "send"})
            assert (out["reused"], out["retried"]) == (
                ["draft", "tidy", "review", "pick"],
                ["send", "hold"],  # hold was skipped: it is decided again, skipped again
            )
            done = await wait_status(http, out["run_id"], "succeeded")
        finally:
            unregister(name)
        assert (done["result"], done["pending_human"]) == ({"delivered": True}, [])
        assert [c.json for c in tool_server.calls("/deliver")] == [{"text": tidy["text"]}]
        assert len(openai_server.requests) == 1  # the draft was not asked for again
        for sid in ("draft", "tidy", "review"):
            assert done["steps"][sid]["output"] == failed["steps"][sid]["output"]
            assert done["steps"][sid]["ended_at"] == failed["steps"][sid]["ended_at"]
        assert (done["steps"]["send"]["attempts"], statuses(done)["hold"]) == (1, "skipped")
