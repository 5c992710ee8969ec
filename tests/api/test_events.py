"""GET /v1/runs/{id}/events over a real HTTP server: live streams, reconnects, ended runs."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from tests.api.support import (
    APPROVAL,
    APPROVAL_TRANSITIONS,
    GREET,
    SLOW,
    Api,
    api,
    pairs,
    read_events,
    serving_api,
    start_run,
    wait_status,
    wait_waiting,
)

__all__ = ["api"]

APPROVE = {"data": {"approved": True}}


async def test_a_live_stream_sees_every_transition_and_ends_with_the_run(api: Api) -> None:
    api.publish(APPROVAL)
    async with api.http() as http, api.http() as answering:
        run_id = (await start_run(http, "approval"))["id"]
        async with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.aiter_lines()
            before = await read_events(lines, until=lambda e: e.event == "step_waiting")
            answer = await answering.post(f"/v1/runs/{run_id}/steps/review/respond", json=APPROVE)
            assert answer.status_code == 200
            after = await read_events(lines)  # returns when the server ends the stream
    events = before + after
    assert pairs(events) == APPROVAL_TRANSITIONS
    assert [e.id for e in events] == [str(n) for n in range(1, 9)]
    assert [e.data["seq"] for e in events] == list(range(1, 9))
    assert events[-1].data["type"] == "run_succeeded"


async def test_a_client_that_reconnects_with_last_event_id_sees_every_event_once(
    api: Api,
) -> None:
    api.publish(APPROVAL)
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        url = f"/v1/runs/{run_id}/events"
        async with http.stream("GET", url) as response:
            first = await read_events(
                response.aiter_lines(), until=lambda e: e.event == "step_waiting"
            )
        # disconnected; the run moves on meanwhile
        assert (await http.post(f"/v1/runs/{run_id}/steps/review/respond", json=APPROVE)).is_success
        await wait_status(http, run_id, "succeeded")
        last = first[-1].id
        assert last == "4"
        async with http.stream("GET", url, headers={"Last-Event-ID": last}) as response:
            second = await read_events(response.aiter_lines())
    events = first + second
    assert pairs(events) == APPROVAL_TRANSITIONS
    assert [e.id for e in events] == [str(n) for n in range(1, 9)]


async def test_the_stream_of_an_ended_run_sends_what_is_left_and_ends(api: Api) -> None:
    api.publish(GREET)
    async with api.http() as http:
        run_id = (await start_run(http, "greet", {"name": "Ada"}))["id"]
        await wait_status(http, run_id, "succeeded")
        url = f"/v1/runs/{run_id}/events"
        async with http.stream("GET", url) as response:
            every = await read_events(response.aiter_lines())
        async with http.stream("GET", url, params={"after": 3}) as response:
            rest = await read_events(response.aiter_lines())
        async with http.stream(
            "GET", url, params={"after": 1}, headers={"Last-Event-ID": "4"}
        ) as response:
            header_wins = await read_events(response.aiter_lines())
        bad = await http.get(url, headers={"Last-Event-ID": "four"})
    assert pairs(every) == [
        ("step_started", "hello"),
        ("step_succeeded", "hello"),
        ("step_started", "ask"),
        ("step_succeeded", "ask"),
        ("run_succeeded", None),
    ]
    assert [e.id for e in rest] == ["4", "5"]
    assert [e.id for e in header_wins] == ["5"]
    assert bad.status_code == 422


async def test_a_terminated_run_ends_the_stream_without_a_transition(
    client: Client, task_queue: str, worker: Worker, tmp_path: Path
) -> None:
    async with serving_api(
        client,
        task_queue,
        f"sqlite:///{tmp_path / 'registry.db'}",
        events_keepalive=0.2,
    ) as served_api:
        served_api.publish(SLOW)
        async with served_api.http() as http:
            run_id = (await start_run(http, "slow"))["id"]
            await wait_status(http, run_id, "running")
            async with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
                lines = response.aiter_lines()
                started = await read_events(lines, until=lambda e: e.event == "step_started")
                comments = []
                async for line in lines:  # idle: keep-alive comments
                    if line.startswith(":"):
                        comments.append(line)
                    if len(comments) == 3:
                        break
                await client.get_workflow_handle(run_id).terminate("testing")
                ended = await read_events(lines)
    assert pairs(started) == [("step_started", "nap")]
    assert comments[-2:] == [": keep-alive", ": keep-alive"]
    assert [(e.id, e.event, e.data) for e in ended] == [
        (None, "run_terminated", {"status": "terminated"})
    ]


async def test_waiting_for_a_person_is_an_event(api: Api) -> None:
    api.publish(APPROVAL)
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, run_id, "review")
        async with http.stream("GET", f"/v1/runs/{run_id}/events", params={"after": 3}) as response:
            [waiting] = await read_events(
                response.aiter_lines(), until=lambda e: e.event == "step_waiting"
            )
    assert (waiting.id, waiting.event, waiting.data["step"]) == ("4", "step_waiting", "review")
