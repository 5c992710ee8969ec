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


async def test_coding_waterfall_runs_its_phases_in_order(stack: Stack) -> None:
    script(
        stack,
        ("You turn a request", as_json({"function": "double", "checks": ["double(2) == 4"]})),
        ("technical design", "double(x) returns x * 2."),
        ("from its design", CODE["double"]),
        ("release notes", "double() now doubles."),
    )
    async with stack.http() as http:
        run = await start(stack, http, "coding-waterfall", {"request": "a doubling helper"})
        pending = await answer(http, run, "sign_off", {"approved": True})
        view = await succeeded(http, run)
    assert pending["prompt"] == "Sign off this design for double?\ndouble(x) returns x * 2."
    assert view["result"] == {
        "function": "double",
        "verification": {"passed": True, "failed": []},
        "release_notes": "double() now doubles.",
    }
    asked = [r.body["messages"][0]["content"].split(" ")[1] for r in stack.model.requests]
    assert asked == ["turn", "write", "implement", "write"]  # one phase after the other


async def test_swarm_spike_judges_and_polishes_after_the_gate(stack: Stack) -> None:
    def spike(text: str) -> str:
        approach = text.split("Approach: ")[1]
        risk = {"cache": "low", "rewrite": "high"}[approach]
        return as_json(
            {
                "approach": approach,
                "findings": f"{approach} works",
                "risk": risk,
                "effort_days": 2 if approach == "cache" else 20,
            }
        )

    script(
        stack,
        ("You frame engineering problems", as_json({"approaches": ["cache", "rewrite"]})),
        ("You spike one approach", spike),
        ("You judge spikes", as_json({"winner": "cache", "why": "low risk, two days"})),
        ("one-page proposal", "Proposal: add a cache."),
    )
    async with stack.http() as http:
        run = await start(stack, http, "swarm-spike", {"problem": "slow pages", "spikes": 2})
        pending = await answer(http, run, "gate", {"go": True})
        view = await succeeded(http, run)
    assert pending["prompt"] == "The judge picks cache: low risk, two days. Go?"
    assert view["result"] == {
        "spikes": [
            {"approach": "cache", "findings": "cache works", "risk": "low", "effort_days": 2},
            {"approach": "rewrite", "findings": "rewrite works", "risk": "high", "effort_days": 20},
        ],
        "winner": "cache",
        "proposal": "Proposal: add a cache.",
    }
    judge = next(r for r in stack.model.requests if r.body["model"] == "gpt-4o")
    assert "You judge spikes" in judge.body["messages"][0]["content"]


async def test_code_review_loop_revises_until_approved(stack: Stack) -> None:
    verdicts = iter(
        [
            {"verdict": "changes", "comments": ["rename x"]},
            {"verdict": "approve", "comments": []},
        ]
    )
    script(
        stack,
        ("You review diffs", lambda _: as_json(next(verdicts))),
        ("You are the author.", "+def double(value): return value * 2"),
    )
    async with stack.http() as http:
        run = await start(stack, http, "code-review-loop", {"diff": "+def double(x): return x*2"})
        view = await succeeded(http, run)
    assert view["result"] == {
        "approved": True,
        "rounds": 2,
        "diff": "+def double(value): return value * 2",
        "comments": [],
    }
    second_review = stack.model.requests[2].body["messages"][-1]["content"]
    assert second_review == "Diff:\n+def double(value): return value * 2"


BUGGY = "def average(xs):\n    return sum(xs) / len(xs) + 1\n"
FIXED = "def average(xs):\n    return sum(xs) / len(xs)\n"


async def test_bug_fix_reproduces_verifies_and_lands(stack: Stack) -> None:
    script(
        stack,
        ("You fix Python bugs.", as_json({"cause": "an off-by-one", "fixed_code": FIXED})),
    )
    bug = {"report": "average is one too high", "code": BUGGY, "check": "average([2, 4]) == 3"}
    async with stack.http() as http:
        run = await start(stack, http, "bug-fix", bug)
        pending = await answer(http, run, "approve", {"land": True})
        view = await succeeded(http, run)
    change = hashlib.sha256(FIXED.encode()).hexdigest()[:12]
    assert pending["prompt"] == "Land this fix? Cause: an off-by-one"
    assert view["result"] == {
        "result": {"status": "landed", "change": change},
        "cause": "an off-by-one",
    }
    assert view["steps"]["reproduce"]["output"] == {"holds": False, "error": None}
    tools = load_tools("bug-fix")
    assert tools is not None and tools.LANDED[change] == "Fix: an off-by-one"


async def test_bug_fix_stops_when_the_bug_does_not_reproduce(stack: Stack) -> None:
    bug = {"report": "average is wrong", "code": FIXED, "check": "average([2, 4]) == 3"}
    async with stack.http() as http:
        run = await start(stack, http, "bug-fix", bug)
        view = await succeeded(http, run)
    assert view["result"] == {"result": {"status": "not reproduced"}, "cause": None}
    assert stack.model.requests == []  # no model was asked
