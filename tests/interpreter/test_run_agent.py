"""Agent steps: the transcript each turn sees, and what happens at max_turns."""

from __future__ import annotations

from temporalio.client import Client

from tests.support.runs import start, status
from tests.support.standins import COST_PER_CALL


async def test_agent_on_max_turns_continue_returns_the_last_reply(
    client: Client, task_queue: str, worker: object
) -> None:
    """`on_max_turns: continue` succeeds with the last reply instead of AgentMaxTurns."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agent-continue
        steps:
          - id: ask
            kind: agent
            model: m
            prompt: "loop forever"
            tools: [echo]
            max_turns: 2
            on_max_turns: continue
        """,
    )
    result = await handle.result()
    assert result == {
        "ask": {
            "text": "",
            "data": None,
            "turns": 2,
            "usage": {"input_tokens": 10 + 20, "output_tokens": 2 + 2},
            "cost_usd": 2 * COST_PER_CALL,
        }
    }
    assert (await status(handle))["steps"]["ask"]["status"] == "succeeded"


async def test_agent_transcript_is_queryable_on_its_child(
    client: Client, task_queue: str, worker: object
) -> None:
    """The agent's child workflow `<run>/<step>` answers `status` with its transcript."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agent-transcript
        steps:
          - {id: ask, kind: agent, model: m, instructions: be brief, prompt: "q", tools: [echo]}
        """,
    )
    await handle.result()
    child = client.get_workflow_handle(f"{handle.id}/ask")
    transcript = await child.query("status")
    assert transcript["turns"] == 2
    assert [m["role"] for m in transcript["messages"]] == ["system", "user", "assistant", "tool"]
    assert transcript["messages"][2]["tool_calls"] == [
        {"id": "call_1_0", "name": "echo", "arguments": {"q": "q"}}
    ]
    assert transcript["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_1_0",
        "content": '{"q":"q"}',
    }
