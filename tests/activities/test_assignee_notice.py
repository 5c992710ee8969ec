"""A human step's assignees are told it waits for them (activities.assignees): an e-mail with the
link to answer it, through a real SMTP server on loopback, and the operator's webhook on a real
HTTP server; a failing webhook is reported in the run and never holds the step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from interpreter.registration import new_worker
from tests.support import tool_server as servers
from tests.support.runs import result, start
from tests.support.smtp import Inbox, smtp_server
from tests.support.tool_server import Reply, ToolServer
from tests.support.worker_config import config_file

tool_server = servers.tool_server  # the fixture, used by name

REVIEW = """
kworkflow: 1
name: review
steps:
  - id: approve
    kind: human
    prompt: "Approve ${ input.doc }?"
    assignees: [ann@example.com, "${ input.lead }", ops-team]
    timeout: 1h
    form: {type: object, properties: {ok: {type: boolean}}}
output: ${ steps.approve.output.data.ok }
"""


@pytest.fixture
def inbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tool_server: ToolServer
) -> Iterator[Inbox]:
    """An SMTP server on loopback, and a worker configuration that e-mails assignees through it
    and posts every wait to the tool server's /waits."""
    with smtp_server() as (box, port):
        config = (
            f"smtp: {{host: 127.0.0.1, port: {port}, sender: flows@example.org,"
            " allowed_domains: [example.com]}\n"
            "notifications:\n  ui_url: http://flows.example.org/ui/\n"
            f"  webhook: {{url: '{tool_server.url}/waits', format: json}}\n"
        )
        with config_file(tmp_path / "worker.yaml", config, monkeypatch):
            yield box


@pytest.fixture
async def worker(client: Client, task_queue: str, inbox: Inbox) -> AsyncIterator[Worker]:
    async with new_worker(client, task_queue) as w:  # notify_assignees comes with every worker
        yield w


async def transitions(handle: WorkflowHandle[Any, Any]) -> list[dict[str, Any]]:
    return list((await handle.query("transitions", 0))["transitions"])


async def told(handle: WorkflowHandle[Any, Any], kind: str, count: int = 1) -> list[Any]:
    """Wait for ``count`` transitions of type ``kind``; return them, by channel order."""
    for _ in range(300):
        found = [t for t in await transitions(handle) if t["type"] == kind]
        if len(found) >= count:
            return sorted(found, key=lambda t: t["channel"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} transition: {await transitions(handle)}")


async def test_assignees_get_an_email_and_the_webhook_a_message(
    client: Client, task_queue: str, worker: Worker, inbox: Inbox, tool_server: ToolServer
) -> None:
    """The e-mail goes to the assignees that are addresses of an allowed domain, with the
    prompt and the link; the webhook names every assignee; the answer then ends the run."""
    tool_server.route("/waits", Reply(json={"ok": True}))
    handle = await start(client, task_queue, REVIEW, {"doc": "Q3 plan", "lead": "lee@example.com"})
    email, hook_sent = await told(handle, "step_assignees_notified", 2)
    assert (email["step"], email["channel"], email["to"]) == (
        "approve",
        "email",
        ["ann@example.com", "lee@example.com"],
    )
    assert (hook_sent["channel"], hook_sent["to"]) == (
        "webhook",
        ["ann@example.com", "lee@example.com", "ops-team"],
    )
    [(rcpt, mail)] = inbox.mails
    assert rcpt == ["ann@example.com", "lee@example.com"]
    assert mail["Subject"] == "Waiting for you: approve in review"
    body = mail.get_payload(decode=True).decode()
    assert "Approve Q3 plan?" in body
    assert f"Answer it here: http://flows.example.org/ui/#/runs/{handle.id}" in body
    [hook] = tool_server.calls("/waits")
    assert hook.json["type"] == "kworkflow.human.waiting"
    assert (hook.json["run_id"], hook.json["step"], hook.json["assignees"]) == (
        handle.id,
        "approve",
        ["ann@example.com", "lee@example.com", "ops-team"],
    )
    assert hook.json["link"] == f"http://flows.example.org/ui/#/runs/{handle.id}"
    assert hook.json["timeout_at"].endswith("Z")
    await handle.execute_update("respond", {"step": "approve", "data": {"ok": True}})
    assert await result(handle) is True


async def test_a_failing_webhook_is_reported_and_the_step_still_answered(
    client: Client, task_queue: str, worker: Worker, inbox: Inbox, tool_server: ToolServer
) -> None:
    """The webhook answers 500 three times: `step_notify_failed` names the channel and the
    status, the e-mail went once (not again with the webhook's retries), the step waited
    throughout and its answer ends the run."""
    tool_server.route("/waits", Reply(500, json={"error": "down"}))
    handle = await start(client, task_queue, REVIEW, {"doc": "d", "lead": "x@elsewhere.org"})
    [failed] = await told(handle, "step_notify_failed")
    assert (failed["channel"], failed["error"]) == (
        "webhook",
        "notifications webhook answered HTTP 500",
    )
    assert len(tool_server.calls("/waits")) == 3
    [(rcpt, _)] = inbox.mails
    assert rcpt == ["ann@example.com"]  # elsewhere.org is not an allowed domain
    await handle.execute_update("respond", {"step": "approve", "data": {"ok": False}})
    assert await result(handle) is False


async def test_an_assignee_that_is_not_one_address_is_not_emailed(
    client: Client, task_queue: str, worker: Worker, inbox: Inbox, tool_server: ToolServer
) -> None:
    """An assignee from the run's input that packs a foreign address with an allowed one (its
    last domain is allowed) is not e-mailed: only plain addresses of allowed domains are, as the
    notify tool requires of its recipients."""
    tool_server.route("/waits", Reply(json={"ok": True}))
    smuggled = "mallory@evil.org,lee@example.com"
    handle = await start(client, task_queue, REVIEW, {"doc": "Q3 plan", "lead": smuggled})
    email, _ = await told(handle, "step_assignees_notified", 2)
    assert email["to"] == ["ann@example.com"]
    [(rcpt, mail)] = inbox.mails
    assert rcpt == ["ann@example.com"]
    assert mail["To"] == "ann@example.com"
    await handle.execute_update("respond", {"step": "approve", "data": {"ok": True}})
    assert await result(handle) is True
