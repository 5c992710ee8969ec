"""examples/triage.yaml end to end as a user runs it: ``kworkflow dev`` with a local
OpenAI-compatible endpoint and the example's tool module, then ``kworkflow run``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import EXAMPLES, cli_env, kworkflow
from tests.cli.devstack import STARTUP_TIMEOUT, running_dev_stack, wait_for_text
from tests.support.openai_server import (
    OpenAIServer,
    completion,
    openai_server,
    tool_call,
    tool_call_reply,
)

__all__ = ["openai_server"]  # the fixture used below


def test_triage_uses_all_four_kinds(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.reply(
        completion('{"label": "bug"}', model="local-model", usage=(40, 5)),
        tool_call_reply(tool_call("c1", "account_lookup", {"customer": "ACME"}), usage=(60, 8)),
        completion("Sorry about that: a fix is on its way.", usage=(90, 12)),
    )
    with running_dev_stack(
        tmp_path,
        OPENAI_BASE_URL=f"{openai_server.url}/v1",
        OPENAI_API_KEY="sk-local",
        KWORKFLOW_TOOL_MODULES="examples.tools",
    ) as (process, address, cwd):
        wait_for_text(cwd / "dev.out", "Try: ", process, STARTUP_TIMEOUT)
        run_input = {"ticket": "The export button crashes", "customer": "ACME", "model": "m1"}
        done = kworkflow(
            "run",
            str(EXAMPLES / "triage.yaml"),
            "--input",
            json.dumps(run_input),
            env=cli_env(TEMPORAL_ADDRESS=address),
            timeout=120,
        )
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout) == {
        "label": "bug",
        "priority": 6,  # a bug (3) for an enterprise customer (x2), computed in the sandbox
        "reply": "Sorry about that: a fix is on its way.",
        "tokens": 40 + 5 + (60 + 90) + (8 + 12),
    }
    classify, first_turn, second_turn = (r.body for r in openai_server.requests)
    assert classify["model"] == "m1"
    assert classify["response_format"]["type"] == "json_schema"
    assert [t["function"]["name"] for t in first_turn["tools"]] == ["account_lookup"]
    assert first_turn["tools"][0]["function"]["parameters"]["required"] == ["customer"]
    assert second_turn["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": '{"customer":"ACME","plan":"enterprise","open_tickets":2}',
    }
    assert all(r.headers["authorization"] == "Bearer sk-local" for r in openai_server.requests)
