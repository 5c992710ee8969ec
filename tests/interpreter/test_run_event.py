"""``event`` steps in the interpreter on the real dev server, signalled directly (no API).

A waiting step keeps waiting across continue-as-new (same ``since`` and ``timeout_at``) and takes
the event in the last run; an event the filter fails on is recorded and not taken; a type no
event can have fails the step; runs replay.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from interpreter.event_waits import EVENT_SIGNAL
from tests.interpreter.test_continue_as_new import RESULT_TIMEOUT, replay_all, runs_of, start
from tests.support.runs import wait_for


@pytest.fixture(autouse=True)
def events_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``recent_events`` reads an empty database of this test's."""
    monkeypatch.setenv("KWORKFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'registry.db'}")


WAIT_WHILE_WORKING = """
kworkflow: 1
name: event-while-working
steps:
  - {id: paid, kind: event, type: paid, filter: "event.data.n == 2", timeout: 1h}
  - id: work
    kind: tool
    tool: echo
    args: {i: "${ iteration }"}
    repeat: {until: "output.i >= 119", max_iterations: 200}
  - {id: after, kind: aggregate, expr: "steps.paid.output.data"}
edges: [{from: paid, to: after}]
output: {event: "${ steps.after.output }", worked: "${ steps.work.output.i }"}
"""


def event(n: int, id_: str) -> dict[str, object]:
    return {"specversion": "1.0", "type": "paid", "source": "/t", "id": id_, "data": {"n": n}}


async def test_a_waiting_event_step_keeps_waiting_across_runs(
    client: Client, task_queue: str, worker: Worker
) -> None:
    handle = await start(client, task_queue, WAIT_WHILE_WORKING, limit=100)
    first = await wait_for(handle, lambda s: bool(s["pending_events"]), what="paid waiting")
    since = first["pending_events"][0]["since"]
    done = await wait_for(  # a run that has just continued as new reopens the wait first
        handle,
        lambda s: s["steps"]["work"]["status"] == "succeeded" and bool(s["pending_events"]),
        timeout=60,
        what="work ended, paid waiting",
    )
    assert [p["step"] for p in done["pending_events"]] == ["paid"]
    assert done["pending_events"][0]["since"] == since
    timeout_at = datetime.fromisoformat(done["pending_events"][0]["timeout_at"])
    assert (timeout_at - datetime.fromisoformat(since)).total_seconds() == 3600
    assert len(await runs_of(client, handle)) >= 2
    await handle.signal(EVENT_SIGNAL, event(1, "a"))
    await handle.signal(EVENT_SIGNAL, {"not": "an event"})
    await handle.signal(EVENT_SIGNAL, event(2, "b"))
    assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT) == {
        "event": {"n": 2},
        "worked": 119,
    }
    transitions = (await handle.query("transitions", 0))["transitions"]
    assert [t["type"] for t in transitions if t["step"] == "paid"] == [
        "step_started",
        "step_waiting",
        "step_succeeded",
    ]
    await replay_all(client, handle)


FILTER_FAILS = """
kworkflow: 1
name: filter-fails
steps:
  - {id: paid, kind: event, type: paid, filter: "event.data.n > 1", timeout: 1h}
"""


async def test_an_event_the_filter_fails_on_is_recorded_and_not_taken(
    client: Client, task_queue: str, worker: Worker
) -> None:
    handle = await start(client, task_queue, FILTER_FAILS, limit=10_000)
    await wait_for(handle, lambda s: bool(s["pending_events"]), what="paid waiting")
    bad = event(0, "x")
    bad["data"] = {"n": "many"}
    await handle.signal(EVENT_SIGNAL, bad)
    noted = await wait_for(handle, lambda s: bool(s["events"]), what="the failure noted")
    assert [(e["type"], e["step"], e["message"]) for e in noted["events"]] == [
        (
            "event_filter_failed",
            "paid",
            "event 'x' from '/t' not taken: filter: "
            "no operator `>` for string and int in `event.data.n > 1`",
        )
    ]
    assert noted["steps"]["paid"]["status"] == "waiting"
    await handle.signal(EVENT_SIGNAL, event(5, "y"))
    assert await asyncio.wait_for(handle.result(), RESULT_TIMEOUT) == {"paid": event(5, "y")}
    await replay_all(client, handle)


BAD_TYPE = """
kworkflow: 1
name: bad-type
steps:
  - {id: paid, kind: event, type: "${ input.type }", timeout: 1h}
"""


async def test_a_type_no_event_can_have_fails_the_step(
    client: Client, task_queue: str, worker: Worker
) -> None:
    handle = await start(client, task_queue, BAD_TYPE, limit=10_000, input={"type": "it's"})
    with pytest.raises(WorkflowFailureError) as info:
        await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == (
        "step 'paid' (event) failed after 1 attempt: InvalidEventType: type must be a non-empty "
        'string without quotes, backslashes or control characters, not "it\'s"'
    )
