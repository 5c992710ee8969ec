"""The builtin ``notify`` tool in runs on the dev server: e-mail to a real SMTP server on
loopback (aiosmtpd), webhooks and Slack-style webhooks to a real HTTP server; a failed
notification does not fail its run unless the step says ``on_error: fail``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.tool import tool as tool_activity
from interpreter.lint import lint_text
from interpreter.registration import new_worker
from tests.support import tool_server as servers
from tests.support.runs import result, run_failure, start, status
from tests.support.smtp import Inbox, smtp_server
from tests.support.tool_server import Reply, ToolServer
from tests.support.worker_config import config_file

tool_server = servers.tool_server  # the fixture, used by name


@pytest.fixture
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """A real SMTP server on loopback and a worker configuration that sends through it."""
    with smtp_server() as (box, port):
        config = (
            "smtp:\n"
            f"  host: 127.0.0.1\n  port: {port}\n  sender: flows@example.org\n"
            "  sender_name: kworkflow\n  allowed_domains: [example.com, '*.example.net']\n"
        )
        with config_file(tmp_path / "worker.yaml", config, monkeypatch):
            yield box


@pytest.fixture
async def worker(client: Client, task_queue: str, inbox: Inbox) -> AsyncIterator[Worker]:
    async with new_worker(client, task_queue, [tool_activity]) as w:
        yield w


def flow(steps: str, edges: str = "edges: []") -> str:
    return f"""
kworkflow: 1
name: notifications
defaults: {{retry: {{max_attempts: 2, initial_interval: 100ms}}}}
steps:
{steps}
{edges}
"""


async def test_an_email_reaches_the_smtp_server(
    client: Client, task_queue: str, worker: Worker, inbox: Inbox
) -> None:
    """To, Cc, subject and text from the step (CEL-rendered); From is the operator's; the
    Message-ID names the run and step, the same for every attempt."""
    text = flow("""
  - {id: mail, kind: tool, tool: notify, args: {channel: email, to: [ann@example.com],
     cc: bob@team.example.net, subject: "Review ${ input.doc }", text: "Please review."}}
""")
    handle = await start(client, task_queue, text, {"doc": "Q3 plan"})
    out = await result(handle)
    assert out == {
        "mail": {
            "channel": "email",
            "delivered": True,
            "recipients": ["ann@example.com", "bob@team.example.net"],
        }
    }
    [(rcpt, mail)] = inbox.mails
    assert rcpt == ["ann@example.com", "bob@team.example.net"]
    assert (mail["From"], mail["To"], mail["Cc"]) == (
        "kworkflow <flows@example.org>",
        "ann@example.com",
        "bob@team.example.net",
    )
    assert mail["Subject"] == "Review Q3 plan"
    assert mail.get_payload().strip() == "Please review."
    assert mail["X-Kworkflow-Run"] == handle.id
    assert mail["Message-ID"].endswith("@example.org>")


async def test_a_message_sent_again_after_a_lost_answer_has_the_same_message_id(
    client: Client, task_queue: str, worker: Worker, inbox: Inbox
) -> None:
    """The server kept the first attempt's message but its answer was a failure: the second
    attempt's copy carries the same Message-ID, so a mail system can drop it."""
    inbox.lose_answers = 1
    text = flow("""
  - {id: mail, kind: tool, tool: notify, args: {channel: email, to: ann@example.com,
     subject: "Twice", text: "Once, really."}}
""")
    handle = await start(client, task_queue, text)
    assert (await result(handle))["mail"]["delivered"] is True
    first, second = (mail["Message-ID"] for _, mail in inbox.mails)
    assert first == second
    assert first.endswith("@example.org>")


async def test_a_refused_or_forbidden_recipient_does_not_fail_the_run(
    client: Client, task_queue: str, worker: Worker, inbox: Inbox
) -> None:
    """A recipient the server refuses (550) and one outside the allowed domains: each notify
    step fails visibly with its error, and the run goes on (notify's default on_error)."""
    inbox.refuse.add("gone@example.com")
    text = flow("""
  - {id: refused, kind: tool, tool: notify,
     args: {channel: email, to: gone@example.com, subject: s, text: t}}
  - {id: elsewhere, kind: tool, tool: notify,
     args: {channel: email, to: eve@evil.example.org, subject: s, text: t}}
  - {id: after, kind: aggregate, expr: "'went on'"}
""")
    handle = await start(client, task_queue, text)
    assert (await result(handle))["after"] == "went on"
    view = await status(handle)
    refused, elsewhere = view["steps"]["refused"], view["steps"]["elsewhere"]
    assert (refused["status"], refused["error"]["type"]) == ("failed", "EmailRefused")
    assert refused["error"]["message"] == "tool 'notify': the mail server refused gone@example.com"
    assert refused["attempts"] == 1  # not retried
    assert (elsewhere["status"], elsewhere["error"]["type"]) == ("failed", "RecipientNotAllowed")
    assert "eve@evil.example.org" in elsewhere["error"]["message"]
    assert inbox.mails == []


async def test_header_injection_is_refused_before_anything_is_sent(
    client: Client, task_queue: str, worker: Worker, inbox: Inbox
) -> None:
    """A subject with a line break (a Bcc smuggled in) or an address list in one string is an
    InvalidToolArguments naming the field; nothing reaches the server."""
    text = flow("""
  - {id: inject, kind: tool, tool: notify, on_error: fail,
     args: {channel: email, to: ann@example.com, subject: "hi\\nBcc: eve@evil.example.org",
            text: t}}
""")
    err, _ = await run_failure(client, task_queue, text)
    assert err.type == "StepFailed"
    assert "after 1 attempt: InvalidToolArguments: tool 'notify': args.subject: " in err.message
    assert inbox.mails == []


async def test_webhook_and_slack_channels_post_to_real_servers(
    client: Client, task_queue: str, worker: Worker, tool_server: ToolServer
) -> None:
    """A webhook POSTs its payload, a Slack-style webhook `{text, blocks}`; both carry the
    step's Idempotency-Key."""
    tool_server.route("/hook", Reply(json={"ok": True}))
    tool_server.route("/slack", Reply(text="ok"))
    url = tool_server.url
    text = flow(f"""
  - {{id: hook, kind: tool, tool: notify,
     args: {{channel: webhook, url: "{url}/hook", payload: {{run: "${{ run.id }}", n: 1}}}}}}
  - {{id: chat, kind: tool, tool: notify,
     args: {{channel: slack, url: "{url}/slack", text: "Run done", blocks: [{{type: divider}}]}}}}
""")
    handle = await start(client, task_queue, text)
    out = await result(handle)
    assert out == {
        "hook": {"channel": "webhook", "delivered": True, "status": 200},
        "chat": {"channel": "slack", "delivered": True, "status": 200},
    }
    [hook] = tool_server.calls("/hook")
    [chat] = tool_server.calls("/slack")
    assert hook.json == {"run": handle.id, "n": 1}
    assert chat.json == {"text": "Run done", "blocks": [{"type": "divider"}]}
    assert hook.headers["idempotency-key"] == f"{handle.id}/hook"


async def test_on_error_fail_makes_a_failed_notification_fail_the_run(
    client: Client, task_queue: str, worker: Worker, tool_server: ToolServer
) -> None:
    """Written explicitly, `on_error: fail` fails the run; without it the `on: failed` edge
    out of a notify step is taken (and lint accepts it)."""
    tool_server.route("/down", Reply(404, json={"error": "no such hook"}))
    url = f"{tool_server.url}/down"
    strict = flow(f"""
  - {{id: hook, kind: tool, tool: notify, on_error: fail,
     args: {{channel: webhook, url: "{url}"}}}}
""")
    err, _ = await run_failure(client, task_queue, strict)
    assert "no such hook" in str(err)

    lenient = flow(
        f"""
  - {{id: hook, kind: tool, tool: notify, args: {{channel: webhook, url: "{url}"}}}}
  - {{id: fallback, kind: aggregate, expr: "'logged'"}}
""",
        "edges: [{from: hook, to: fallback, on: failed}]",
    )
    assert lint_text(lenient)[1] == []
    out: dict[str, Any] = await result(await start(client, task_queue, lenient))
    assert out == {"fallback": "logged"}
