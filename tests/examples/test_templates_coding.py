"""The coding templates end to end on the real stack: the sandbox runs the checks against the
code the model wrote, people gate through the API, and the merge tool records the change."""

from __future__ import annotations

import hashlib

from tests.examples.cases import answer, as_json, script, start, succeeded
from tests.examples.stack import Stack, inbox, load_tools, stack
from tests.support.openai_server import openai_server

__all__ = ["inbox", "openai_server", "stack"]  # fixtures used by name

CODE = {
    "slug": "def slug(s):\n    return '-'.join(s.lower().split())\n",
    "double": "def double(x):\n    return x * 2\n",
}


def implementer(text: str) -> str:
    name = text.split("Implement ")[1].split(" ")[0]
    return CODE[name]


async def test_coding_sprint_merges_what_passes(stack: Stack) -> None:
    tasks = [
        {"function": "slug", "check": "slug('A b') == 'a-b'"},
        {"function": "double", "check": "double(21) == 42"},
    ]
    script(
        stack,
        ("You plan sprints", as_json({"tasks": tasks})),
        ("You implement one Python function", implementer),
        ("strict code reviewer", as_json({"approve": True, "comments": ["small and clear"]})),
    )
    async with stack.http() as http:
        run = await start(stack, http, "coding-sprint", {"goal": "text helpers", "branch": "s1"})
        pending = await answer(http, run, "gate", {"ship": True})
        view = await succeeded(http, run)
    assert "Ship 2 functions to s1? The reviewer approves" in pending["prompt"]
    commit = hashlib.sha256("\0".join(["s1", CODE["slug"], CODE["double"]]).encode()).hexdigest()
    assert view["result"] == {"status": "merged", "commit": commit[:12]}
    assert view["steps"]["test"]["output"]["results"] == [
        {"function": "slug", "passed": True, "error": None},
        {"function": "double", "passed": True, "error": None},
    ]
    tools = load_tools("coding-sprint")
    assert tools is not None and commit[:12] in tools.LEDGER["s1"]


async def test_coding_sprint_does_not_merge_failing_code(stack: Stack) -> None:
    tasks = [{"function": "double", "check": "double(2) == 5"}]
    script(
        stack,
        ("You plan sprints", as_json({"tasks": tasks})),
        ("You implement one Python function", implementer),
        ("strict code reviewer", as_json({"approve": False, "comments": ["check looks off"]})),
    )
    async with stack.http() as http:
        run = await start(stack, http, "coding-sprint", {"goal": "doubling"})
        await answer(http, run, "gate", {"ship": True})
        view = await succeeded(http, run)
    assert view["result"] == {
        "status": "tests failed",
        "results": [{"function": "double", "passed": False, "error": None}],
    }
    assert view["steps"]["merge"]["status"] == "skipped"
