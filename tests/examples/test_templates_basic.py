"""The pattern templates end to end on the real stack: single dispatch, chained, fan-out with
aggregation, supervisor/worker, review loop and the long-lived advisor."""

from __future__ import annotations

from tests.examples.cases import USAGE, as_json, script, send_event, start, succeeded, wake
from tests.examples.stack import Stack, inbox, price, stack
from tests.support.openai_server import openai_server

__all__ = ["inbox", "openai_server", "stack"]  # fixtures used by name

MINI = price("gpt-4o-mini", *USAGE)


async def test_single_dispatch(stack: Stack) -> None:
    script(stack, ("Name three prime numbers", "2, 3 and 5."))
    async with stack.http() as http:
        run = await start(stack, http, "single-dispatch", {"task": "Name three prime numbers"})
        view = await succeeded(http, run)
    assert view["result"] == {"answer": "2, 3 and 5.", "cost_usd": MINI}
    [asked] = stack.model.requests
    assert asked.body["model"] == "gpt-4o-mini"


async def test_chained(stack: Stack) -> None:
    script(
        stack,
        ("Outline a short post about retries for managers", "- why\n- how"),
        ("from this outline:\n- why\n- how", "Retries make work durable."),
    )
    async with stack.http() as http:
        run = await start(stack, http, "chained", {"topic": "retries", "audience": "managers"})
        view = await succeeded(http, run)
    assert view["result"] == {"outline": "- why\n- how", "post": "Retries make work durable."}


async def test_fan_out_aggregate(stack: Stack) -> None:
    script(stack, ("Answer in one sentence.", lambda text: "A: " + text.splitlines()[-1]))
    questions = ["What is CEL?", "What is Temporal?", "What is YAML?"]
    async with stack.http() as http:
        run = await start(stack, http, "fan-out-aggregate", {"questions": questions})
        view = await succeeded(http, run)
    assert view["result"] == {
        "answers": [f"A: {q}" for q in questions],  # in the order asked, whatever the timing
        "tokens": [sum(USAGE)] * 3,
    }


async def test_supervisor_worker(stack: Stack) -> None:
    script(
        stack,
        ("You are a supervisor. Split", as_json({"subtasks": ["list risks", "list costs"]})),
        ("You are a worker.", lambda text: "done: " + text.splitlines()[-1].split(": ", 1)[1]),
        ("You are a supervisor. Merge", lambda text: "merged " + text.split("Results: ")[1]),
    )
    async with stack.http() as http:
        run = await start(stack, http, "supervisor-worker", {"goal": "assess a migration"})
        view = await succeeded(http, run)
    assert view["result"]["subtasks"] == ["list risks", "list costs"]
    assert view["result"]["answer"] == 'merged ["done: list risks","done: list costs"]'
    models = sorted(r.body["model"] for r in stack.model.requests)
    assert models == ["gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]


async def test_review_loop_iterates_until_the_review_passes(stack: Stack) -> None:
    drafts = iter(["Draft one.", "Draft two, shorter."])
    verdicts = iter([{"pass": False, "feedback": "too long"}, {"pass": True, "feedback": "good"}])
    script(
        stack,
        ("You write to a brief", lambda _: next(drafts)),
        ("You review drafts", lambda _: as_json(next(verdicts))),
    )
    async with stack.http() as http:
        run = await start(stack, http, "review-loop", {"brief": "Announce v2", "max_words": 20})
        view = await succeeded(http, run)
    assert view["result"] == {"draft": "Draft two, shorter.", "passed": True, "rounds": 2}
    second_write = said_of(stack, 2)
    assert "Your last draft: Draft one." in second_write
    assert "The reviewer's feedback on it: too long" in second_write


def said_of(stack: Stack, n: int) -> str:
    """The text of the ``n``-th request to the model (0-based)."""
    from tests.examples.stack import said

    return said(stack.model.requests[n].body)


async def test_advisor_answers_each_event_until_closed(stack: Stack) -> None:
    script(stack, ("senior advisor on pricing", lambda text: "Advice: " + text.splitlines()[-1]))
    async with stack.http() as http:
        run = await start(stack, http, "advisor", {"topic": "pricing"})
        other = {"topic": "hiring", "question": "Not for this run"}
        await send_event(http, "advisor.question", other)
        question = {"topic": "pricing", "question": "Raise prices?"}
        await wake(http, run, "session", "advisor.question", question)
        closing = {"topic": "pricing", "question": "Annual plans?", "close": True}
        await wake(http, run, "session", "advisor.question", closing)
        view = await succeeded(http, run)
    assert view["result"] == {
        "topic": "pricing",
        "transcript": [
            {"question": "Raise prices?", "answer": "Advice: Raise prices?"},
            {"question": "Annual plans?", "answer": "Advice: Annual plans?"},
        ],
    }
