"""Lifecycle events out: a run's and a publish's CloudEvents reach a real sink on loopback,
signed, once each; replays send nothing; a failing sink never fails the run."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Replayer

from activities.config import load_config
from activities.errors import ConfigError
from api.app import create_app
from api.settings import ApiSettings
from interpreter.registration import DATA_CONVERTER, new_worker, workflow_runner, workflows
from interpreter.request import TRANSITIONS_QUERY, RunRequest
from tests.api.support import serve, start_run, wait_status
from tests.support import tool_server as servers
from tests.support.runs import load, new_run_id, result, status
from tests.support.standins import STANDIN_ACTIVITIES
from tests.support.tool_server import Reply, ToolServer
from tests.support.worker_config import config_file
from tests.telemetry.test_run_report import events

tool_server = servers.tool_server  # the fixture, used by name

SECRET = "s3cret-for-tests"
QUICK = "kworkflow: 1\nname: quick\nsteps: [{id: a, kind: aggregate, expr: '1'}]"
REVIEW = """
kworkflow: 1
name: review
steps:
  - id: ask
    kind: human
    prompt: "ok?"
    timeout: 1h
"""


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool_server: ToolServer) -> Iterator[str]:
    """A worker configuration whose events go to the tool server's /sink, signed."""
    monkeypatch.setenv("EVENTS_SECRET", SECRET)
    text = f"events_out: {{url: '{tool_server.url}/sink', secret_env: EVENTS_SECRET}}\n"
    with config_file(tmp_path / "worker.yaml", text, monkeypatch) as config:
        yield str(config)


async def begin(
    client: Client, task_queue: str, text: str, events_out: bool = True
) -> WorkflowHandle[Any, Any]:
    request = RunRequest(definition=load(text), events_out=events_out, tenant="acme", version=2)
    return await client.start_workflow("kworkflow", request, id=new_run_id(), task_queue=task_queue)


def received(server: ToolServer) -> list[dict[str, Any]]:
    """Every event the sink received, in order, after checking each POST's signature."""
    out: list[dict[str, Any]] = []
    for call in server.calls("/sink"):
        assert call.headers["content-type"] == "application/cloudevents-batch+json; charset=utf-8"
        stamp, mac = call.headers["x-kworkflow-signature"].split(",")
        t = stamp.removeprefix("t=")
        expected = hmac.new(SECRET.encode(), f"{t}.".encode() + call.body, hashlib.sha256)
        assert mac == f"v1={expected.hexdigest()}"
        out.extend(json.loads(call.body))
    return out


async def wait_types(server: ToolServer, wanted: str, timeout: float = 30.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if any(e["type"] == wanted for e in received(server)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {wanted} event; got {[e['type'] for e in received(server)]}")


async def test_a_run_sends_its_events_once_signed_and_a_replay_sends_none(
    client: Client, task_queue: str, sink: str, tool_server: ToolServer
) -> None:
    """started, waiting (while the step waits), then the answer's events: each once, with
    deterministic ids; queries without a cache (replays) and a Replayer send nothing more."""
    async with new_worker(client, task_queue, STANDIN_ACTIVITIES, max_cached_workflows=0):
        handle = await begin(client, task_queue, REVIEW)
        await wait_types(tool_server, "kworkflow.step.waiting")
        waiting = [e["type"] for e in received(tool_server)]
        assert waiting == [
            "kworkflow.run.started",
            "kworkflow.step.started",
            "kworkflow.step.waiting",
        ]
        await handle.execute_update("respond", {"step": "ask", "data": {"ok": True}})
        await result(handle)
        for _ in range(3):
            assert (await status(handle))["status"] == "succeeded"
    sent = received(tool_server)
    assert [e["type"] for e in sent] == [
        "kworkflow.run.started",
        "kworkflow.step.started",
        "kworkflow.step.waiting",
        "kworkflow.step.succeeded",
        "kworkflow.run.succeeded",
    ]
    assert [e["id"] for e in sent] == [f"{handle.id}/{seq}" for seq in range(5)]
    first = sent[0]
    assert first["specversion"] == "1.0"
    assert first["source"] == "kworkflow/acme/review"
    assert first["subject"] == handle.id
    assert first["data"] == {
        "run_id": handle.id,
        "workflow": "review",
        "version": 2,
        "seq": 0,
        "step": None,
    }
    assert sent[2]["data"]["step"] == "ask"
    posts = len(tool_server.calls("/sink"))
    replayer = Replayer(
        workflows=workflows(), workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    replayed = await replayer.replay_workflow(await handle.fetch_history())
    assert replayed.replay_failure is None
    assert len(tool_server.calls("/sink")) == posts


async def test_a_failing_sink_is_retried_and_the_run_succeeds(
    client: Client, task_queue: str, sink: str, tool_server: ToolServer
) -> None:
    tool_server.route("/sink", Reply(503), Reply(503), Reply(204))
    async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
        handle = await begin(client, task_queue, QUICK)
        assert await result(handle) == {"a": 1}
    calls = tool_server.calls("/sink")
    batches = [[e["type"] for e in json.loads(c.body)] for c in calls]
    assert batches == [
        ["kworkflow.run.started", "kworkflow.step.started", "kworkflow.step.succeeded"],
    ] * 3 + [["kworkflow.run.succeeded"]]  # the first batch, retried; then the run's end
    assert len({c.body for c in calls[:3]}) == 1  # the same ids, the same body


async def test_a_sink_that_never_answers_is_recorded_and_the_run_succeeds(
    client: Client, task_queue: str, sink: str, tool_server: ToolServer
) -> None:
    tool_server.route("/sink", Reply(500))
    async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
        handle = await begin(client, task_queue, QUICK)
        assert await result(handle) == {"a": 1}
        view = await handle.query(TRANSITIONS_QUERY, 0)
    # two batches (the run's first block, its end), 4 attempts each (interpreter.events_out.RETRY)
    assert len(tool_server.calls("/sink")) == 8
    failed = [t for t in view["transitions"] if t["type"] == "events_out_failed"]
    error = f"events sink {tool_server.url}/sink answered 500"
    assert [(t["first"], t["last"], t["error"]) for t in failed] == [
        (0, 2, error),  # run_started, step_started, step_succeeded
        (3, 4, error),  # run_succeeded (and the first failure's record)
    ]


async def test_without_a_sink_a_run_has_no_extra_event_in_its_history(
    client: Client, task_queue: str, sink: str, tool_server: ToolServer
) -> None:
    """A run whose request does not ask for events out records exactly what it did before;
    one that does records its patch marker and a local activity per batch, in the same single
    workflow task."""
    async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
        off = await begin(client, task_queue, QUICK, events_out=False)
        await result(off)
        on = await begin(client, task_queue, QUICK)
        await result(on)
    base = [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "MARKER_RECORDED core_patch",
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
        "WORKFLOW_PROPERTIES_MODIFIED",
        "MARKER_RECORDED core_local_activity",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert await events(off) == base
    assert await events(on) == [
        *base[:6],
        "MARKER_RECORDED core_patch",  # events-out (interpreter.patches.EVENTS_OUT)
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
        "WORKFLOW_PROPERTIES_MODIFIED",
        "MARKER_RECORDED core_local_activity",  # the events when the run first blocked
        "MARKER_RECORDED core_local_activity",  # the events at its end
        "MARKER_RECORDED core_local_activity",  # the report
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert [e["subject"] for e in received(tool_server)] == [on.id] * 4


async def test_a_publish_sends_workflow_published_and_api_runs_send_theirs(
    client: Client, task_queue: str, tmp_path: Path, sink: str, tool_server: ToolServer
) -> None:
    """The API posts the publish itself, and marks the runs it starts ``events_out``."""
    env = {
        "KWORKFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "KWORKFLOW_TASK_QUEUE": task_queue,
        "KWORKFLOW_CONFIG": sink,
    }
    settings = ApiSettings.from_env(env)
    served = await serve(create_app(client=client, settings=settings))
    try:
        async with httpx.AsyncClient(base_url=served.url) as http:
            headers = {"Content-Type": "application/yaml"}
            answer = await http.post("/v1/workflows", content=QUICK, headers=headers)
            assert answer.status_code == 201
            await wait_types(tool_server, "kworkflow.workflow.published")
            (call,) = tool_server.calls("/sink")
            async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
                run = await start_run(http, "quick")
                await wait_status(http, run["id"], "succeeded")
                await wait_types(tool_server, "kworkflow.run.succeeded")
    finally:
        await served.stop()
    [event] = json.loads(call.body)
    assert event["type"] == "kworkflow.workflow.published"
    assert event["id"] == "default/quick@1"
    assert event["source"] == "kworkflow/default/quick"
    assert event["subject"] == "quick@1"
    assert event["data"] == {"tenant": "default", "workflow": "quick", "version": 1}
    runs = [e for e in received(tool_server) if e["type"].startswith("kworkflow.run.")]
    assert [(e["type"], e["subject"]) for e in runs] == [
        ("kworkflow.run.started", run["id"]),
        ("kworkflow.run.succeeded", run["id"]),
    ]


async def test_a_cancelled_run_sends_its_cancellation(
    client: Client, task_queue: str, sink: str, tool_server: ToolServer
) -> None:
    async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
        handle = await begin(client, task_queue, REVIEW)
        await wait_types(tool_server, "kworkflow.step.waiting")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await result(handle)
    assert [e["type"] for e in received(tool_server)] == [
        "kworkflow.run.started",
        "kworkflow.step.started",
        "kworkflow.step.waiting",
        "kworkflow.step.cancelled",
        "kworkflow.run.cancelled",
    ]


async def test_types_select_and_batch_false_posts_one_event_each(
    client: Client,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tool_server: ToolServer,
) -> None:
    text = (
        f"events_out: {{url: '{tool_server.url}/sink', types: ['kworkflow.run.*'], batch: false}}\n"
    )
    with config_file(tmp_path / "only-runs.yaml", text, monkeypatch):
        async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
            handle = await begin(client, task_queue, QUICK)
            await result(handle)
    calls = tool_server.calls("/sink")
    assert [c.headers["content-type"] for c in calls] == [
        "application/cloudevents+json; charset=utf-8"
    ] * 2
    assert ["x-kworkflow-signature" in c.headers for c in calls] == [False, False]  # no secret
    assert [json.loads(c.body)["type"] for c in calls] == [
        "kworkflow.run.started",
        "kworkflow.run.succeeded",
    ]


def test_a_wrong_sink_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("events_out: {url: 'ftp://events.example.com', types: []}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(caught.value) == (
        f"worker config {config}: events_out.url: String should match pattern '^https?://'; "
        "events_out.types: List should have at least 1 item after validation, not 0"
    )


HOOKED = """\
kworkflow: 1
name: hooked
triggers:
  - {webhook: ping, secret: PING}
steps: [{id: a, kind: aggregate, expr: '1'}]
"""


async def test_a_run_a_webhook_starts_sends_its_events(
    client: Client, task_queue: str, tmp_path: Path, sink: str, tool_server: ToolServer
) -> None:
    """A webhook delivery starts its run as the API's other starts do: with the sink on."""
    from interpreter.webhook_triggers import sign

    secret = "ping-secret-ping-secret"
    env = {
        "KWORKFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.db'}",
        "KWORKFLOW_TASK_QUEUE": task_queue,
        "KWORKFLOW_CONFIG": sink,
        "KWORKFLOW_WEBHOOK_SECRETS": f"default/PING={secret}",
    }
    served = await serve(create_app(client=client, settings=ApiSettings.from_env(env)))
    try:
        async with httpx.AsyncClient(base_url=served.url) as http:
            headers = {"Content-Type": "application/yaml"}
            published = await http.post("/v1/workflows", content=HOOKED, headers=headers)
            assert published.status_code == 201, published.text
            body = b"{}"
            signed = {"X-Kworkflow-Signature": sign(secret, body, int(time.time()))}
            async with new_worker(client, task_queue, STANDIN_ACTIVITIES):
                hooked = await http.post("/v1/hooks/default/ping", content=body, headers=signed)
                assert hooked.status_code == 201, hooked.text
                run_id = hooked.json()["run_id"]
                await wait_status(http, run_id, "succeeded")
                await wait_types(tool_server, "kworkflow.run.succeeded", timeout=10)
    finally:
        await served.stop()
    runs = [e for e in received(tool_server) if e["type"].startswith("kworkflow.run.")]
    assert [(e["type"], e["subject"]) for e in runs] == [
        ("kworkflow.run.started", run_id),
        ("kworkflow.run.succeeded", run_id),
    ]
