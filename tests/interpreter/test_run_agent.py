"""Agent steps: tools called and usage summed over turns, a fan-out of agents, the transcript
each turn sees, and what happens at max_turns (dsl.md: "The nine kinds")."""

from __future__ import annotations

import json

import pytest
from temporalio.client import Client

from tests.support.runs import run, run_failure, start, status
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


async def test_agent_calls_tools_and_sums_usage(client, task_queue, worker):
    """Agent: every model turn and tool call is its own activity; output `{text, data, turns,
    usage, cost_usd}` summed over turns."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agent
        defaults: {model: m1}
        steps:
          - id: ask
            kind: agent
            instructions: Answer briefly.
            prompt: "find ${ input.what }"
            tools: [echo]
            max_turns: 4
        """,
        {"what": "cats"},
    )
    out = got["ask"]
    assert set(out) == {"text", "data", "turns", "usage", "cost_usd"}
    assert out["text"].startswith("done: ")
    assert json.loads(out["text"].removeprefix("done: ")) == {"q": "find cats"}
    assert out["data"] is None
    assert out["turns"] == 2
    # turn 1: 10 in, 1 call + 1 out; turn 2: 20 in, 1 out
    assert out["usage"] == {"input_tokens": 30, "output_tokens": 3}
    assert out["cost_usd"] == pytest.approx(2 * COST_PER_CALL)


async def test_agent_calls_several_tools_in_one_turn(client, task_queue, worker):
    """Each tool call of a turn is answered by a tool message, in call order."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agent-two
        steps:
          - {id: ask, kind: agent, model: m, prompt: "go", tools: [echo, tools], max_turns: 3}
        """,
    )
    out = got["ask"]
    first, second = out["text"].removeprefix("done: ").split(" | ")
    assert json.loads(first) == {"q": "go"}
    assert isinstance(json.loads(second), list)
    assert out["turns"] == 2
    assert out["usage"] == {"input_tokens": 30, "output_tokens": 4}


async def test_for_each_over_agents(client, task_queue, worker):
    """The dsl.md example's fan-out: a `parallel` whose inner step is an agent."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agents
        steps:
          - id: gather
            kind: parallel
            for_each: ${ input.questions }
            max_concurrency: 4
            step: {kind: agent, model: m, instructions: "Answer.", prompt: "${ item }",
                   tools: [echo], max_turns: 6}
        """,
        {"questions": ["q one", "q two"]},
    )
    answers = got["gather"]
    assert [json.loads(a["text"].removeprefix("done: ")) for a in answers] == [
        {"q": "q one"},
        {"q": "q two"},
    ]
    assert [a["turns"] for a in answers] == [2, 2]


async def test_agent_max_turns(client, task_queue, worker):
    """An agent that never stops asking for tools fails with AgentMaxTurns."""
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agent-loop
        steps:
          - {id: ask, kind: agent, model: m, prompt: "loop forever", tools: [echo], max_turns: 3}
        """,
    )
    assert err.type == "StepFailed"
    details = err.details[0]
    assert (details["step"], details["kind"]) == ("ask", "agent")
    assert details["error"]["type"] == "AgentMaxTurns"
    step = (await status(handle))["steps"]["ask"]
    assert step["status"] == "failed"
    assert step["error"]["type"] == "AgentMaxTurns"
