"""research-summarize and sdr-pipeline end to end on the real stack: a primary model that
fails and its fallback, an escalation a person answers, a governance check in the sandbox,
an approval gate, e-mail through SMTP, a team webhook, a reply event and the run's cost."""

from __future__ import annotations

import pytest

from tests.examples.cases import (
    USAGE,
    answer,
    as_json,
    script,
    send_event,
    start,
    succeeded,
    until,
)
from tests.examples.stack import Stack, inbox, price, stack
from tests.support.openai_server import Reply, error_body, openai_server
from tests.support.tool_server import Reply as ToolReply
from tests.support.tool_server import ToolServer, tool_server

__all__ = ["inbox", "openai_server", "stack", "tool_server"]  # fixtures used by name

MINI = price("gpt-4o-mini", *USAGE)


async def test_research_falls_back_and_escalates_a_weak_summary(stack: Stack) -> None:
    """The primary model refuses (a 400, not retried): the fallback model writes the summary;
    it scores 5 < 7, so a person is asked, and publishes it."""
    script(
        stack,
        ("You are a researcher.", lambda text: "- note on " + text.split("Angle: ")[1]),
        ("You grade summaries", as_json({"score": 5, "issues": ["thin on sources"]})),
        ("model=gpt-4o\n", Reply(400, error_body("This model is not available"))),
        ("You write a summary", lambda text: "Summary of " + text.split("Notes: ")[1]),
    )
    question = {"question": "Is CEL fast enough?", "angles": ["speed", "safety"]}
    async with stack.http() as http:
        run = await start(stack, http, "research-summarize", question)
        pending = await answer(
            http, run, "escalate", {"action": "publish", "note": "fine for a draft"}
        )
        view = await succeeded(http, run)
    assert pending["prompt"].startswith('The summary scored 5/10 (issues: ["thin on sources"]).')
    assert view["result"] == {
        "summary": 'Summary of ["- note on speed","- note on safety"]',
        "written_by": "fallback",
        "score": 5,
        "decision": {"published": True, "reviewed_by": "a person", "note": "fine for a draft"},
    }
    assert view["steps"]["synthesize"]["status"] == "failed"
    assert view["steps"]["accept"]["status"] == "skipped"
    primary = [r for r in stack.model.requests if r.body["model"] == "gpt-4o"]
    assert len(primary) == 1  # a 400 is not retried


async def test_sdr_pipeline_large_deal_approved_sent_and_replied(
    stack: Stack, tool_server: ToolServer
) -> None:
    tool_server.route("/team", ToolReply(text="ok"))
    script(
        stack,
        ("You are a sales researcher.", "Initech makes TPS report software."),
        ("You qualify B2B leads.", as_json({"qualified": True, "reason": "fits the ICP"})),
        ("You write short, specific", "Hi Bill, a thought on your TPS reports."),
    )
    lead = {
        "company": "Initech",
        "contact_name": "Bill",
        "contact_email": "bill@initech.example.com",
        "deal_value": 120000,
        "team_webhook": f"{tool_server.url}/team",
    }
    async with stack.http() as http:
        run = await start(stack, http, "sdr-pipeline", lead)
        pending = await answer(http, run, "approval", {"approved": True})
        await until(
            http, run, lambda v: [e["step"] for e in v["pending_events"]] == ["reply"], "reply"
        )
        await send_event(http, "sdr.reply", {"email": "someone@else.example", "text": "no"})
        reply = {"email": "bill@initech.example.com", "text": "Let's talk."}
        await send_event(http, "sdr.reply", reply)
        view = await succeeded(http, run)
    assert "deal value 120000" in pending["prompt"]
    assert view["result"] == {
        "outcome": {"status": "replied", "reply": "Let's talk."},
        "llm_cost_usd": pytest.approx(3 * MINI, abs=1e-12),
    }
    assert view["cost_usd"] == pytest.approx(3 * MINI, abs=1e-12)  # the run's own total agrees
    [(recipients, mail)] = stack.inbox.mails
    assert recipients == ["bill@initech.example.com"]
    assert mail["Subject"] == "An idea for Initech"
    assert mail.get_payload().strip() == "Hi Bill, a thought on your TPS reports."
    [team] = tool_server.calls("/team")
    assert team.json == {"text": "Outreach sent to bill@initech.example.com (Initech, deal 120000)"}


async def test_sdr_pipeline_governance_blocks_a_role_mailbox(stack: Stack) -> None:
    script(
        stack,
        ("You are a sales researcher.", "Initech makes TPS report software."),
        ("You qualify B2B leads.", as_json({"qualified": True, "reason": "fits"})),
    )
    lead = {
        "company": "Initech",
        "contact_email": "info@initech.example.com",
        "deal_value": 900,
        "team_webhook": "http://127.0.0.1:9/unused",
    }
    async with stack.http() as http:
        run = await start(stack, http, "sdr-pipeline", lead)
        view = await succeeded(http, run)
    assert view["result"] == {
        "outcome": {"status": "blocked", "why": ["role mailbox info"]},
        "llm_cost_usd": pytest.approx(2 * MINI, abs=1e-12),
    }
    assert stack.inbox.mails == []
