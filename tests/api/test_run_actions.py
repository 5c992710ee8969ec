"""Pause and resume through the API: one run, every run of a workflow, the list, the events."""

from __future__ import annotations

import asyncio

from telemetry.metrics import REGISTRY
from tests.api.support import (
    APPROVAL,
    GREET,
    Api,
    api,
    pairs,
    read_events,
    start_run,
    wait_listed,
    wait_status,
    wait_waiting,
)

__all__ = ["api"]


def paused_count(workflow: str) -> float:
    return REGISTRY.get_sample_value("kworkflow_runs_paused_total", {"workflow": workflow}) or 0.0


async def test_pause_and_resume_one_run(api: Api) -> None:
    """Paused while its human step waits: the run reads `paused`, the answer is taken, the next
    step waits; pausing again changes nothing; resume completes it; the list filters it."""
    api.publish(APPROVAL)
    before = paused_count("approval")
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, run_id, "review")
        response = await http.post(f"/v1/runs/{run_id}/pause", json={"reason": "freeze"})
        assert response.status_code == 200, response.text
        answer = response.json()
        actor = answer["paused"]["by"]
        assert actor.startswith(f"{api.acme}:")
        assert {k: answer[k] for k in ("run_id", "status", "changed")} == {
            "run_id": run_id,
            "status": "paused",
            "changed": True,
        }
        assert answer["paused"]["reason"] == "freeze"
        assert paused_count("approval") == before + 1

        view = (await http.get(f"/v1/runs/{run_id}")).json()
        assert view["status"] == "paused"
        assert view["paused"] == answer["paused"]
        again = await http.post(f"/v1/runs/{run_id}/pause")
        assert again.status_code == 200
        assert (again.json()["changed"], again.json()["paused"]) == (False, answer["paused"])
        assert paused_count("approval") == before + 1

        answered = await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
        )
        assert answered.status_code == 200, answered.text
        view = await wait_status(http, run_id, "paused")
        await asyncio.sleep(0.5)
        view = (await http.get(f"/v1/runs/{run_id}")).json()
        assert (view["steps"]["review"]["status"], view["steps"]["publish"]["status"]) == (
            "succeeded",
            "pending",
        )
        await wait_listed(http, "workflow=approval&status=paused", lambda ids: ids == [run_id])
        running = await http.get("/v1/runs?workflow=approval&status=running")
        assert running.json()["runs"] == []
        listed = (await http.get("/v1/runs?workflow=approval")).json()["runs"]
        assert [(r["id"], r["status"]) for r in listed] == [(run_id, "paused")]

        response = await http.post(f"/v1/runs/{run_id}/resume")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "run_id": run_id,
            "status": "running",
            "paused": None,
            "changed": True,
        }
        done = await wait_status(http, run_id, "succeeded")
        assert (done["result"], done["paused"]) == ("published", None)
        async with http.stream("GET", f"/v1/runs/{run_id}/events") as stream:
            events = await read_events(stream.aiter_lines())
        assert pairs(events) == [
            ("step_started", "prepare"),
            ("step_succeeded", "prepare"),
            ("step_started", "review"),
            ("step_waiting", "review"),
            ("run_paused", None),
            ("step_succeeded", "review"),
            ("run_resumed", None),
            ("step_started", "publish"),
            ("step_succeeded", "publish"),
            ("run_succeeded", None),
        ]
        assert (events[4].data["by"], events[4].data["reason"]) == (actor, "freeze")


async def test_the_event_stream_goes_on_through_a_pause(api: Api) -> None:
    """A stream open while the run is paused and resumed sends both and ends with the run."""
    api.publish(APPROVAL)
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        async with http.stream("GET", f"/v1/runs/{run_id}/events") as stream:
            lines = stream.aiter_lines()
            seen = await read_events(lines, lambda e: e.event == "step_waiting")
            assert (await http.post(f"/v1/runs/{run_id}/pause")).status_code == 200
            seen += await read_events(lines, lambda e: e.event == "run_paused")
            assert (await http.post(f"/v1/runs/{run_id}/resume")).status_code == 200
            seen += await read_events(lines, lambda e: e.event == "run_resumed")
            await http.post(
                f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": False}}
            )
            seen += await read_events(lines)  # to the end of the stream
        assert [e.event for e in seen][-6:] == [
            "run_paused",
            "run_resumed",
            "step_succeeded",
            "step_started",
            "step_succeeded",
            "run_succeeded",
        ]


async def test_refusals(api: Api) -> None:
    """An ended run is 409 with its state, an unknown or another tenant's run 404, a too long
    reason 422, an unknown workflow 404 for the bulk form."""
    api.publish(GREET)
    api.publish(APPROVAL)
    async with api.http() as http:
        ended = (await start_run(http, "greet", {"name": "Ada"}))["id"]
        await wait_status(http, ended, "succeeded")
        for action in ("pause", "resume"):
            response = await http.post(f"/v1/runs/{ended}/{action}")
            assert response.status_code == 409
            assert response.json() == {
                "detail": f"run '{ended}' has ended (succeeded): cannot {action} it"
            }
        response = await http.post(f"/v1/runs/{api.acme}:nope/pause")
        assert (response.status_code, response.json()) == (
            404,
            {"detail": f"no run '{api.acme}:nope'"},
        )
        waiting = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, waiting, "review")
        response = await http.post(f"/v1/runs/{waiting}/pause", json={"reason": "x" * 1001})
        assert response.status_code == 422
        response = await http.post("/v1/workflows/nobody/runs/pause")
        assert response.status_code == 404
    async with api.http(api.globex) as other:
        response = await other.post(f"/v1/runs/{waiting}/pause")
        assert (response.status_code, response.json()) == (404, {"detail": f"no run '{waiting}'"})
    async with api.http() as http:
        view = (await http.get(f"/v1/runs/{waiting}")).json()
        assert (view["status"], view["paused"]) == ("running", None)
        await http.post(
            f"/v1/runs/{waiting}/steps/review/respond", json={"data": {"approved": True}}
        )
        await wait_status(http, waiting, "succeeded")


async def test_bulk_pause_and_resume(api: Api) -> None:
    """Every running run of the workflow, of this tenant only, is paused and resumed, with
    counts; a second call changes nothing."""
    api.publish(APPROVAL)
    api.publish(APPROVAL, api.globex)
    async with api.http() as http, api.http(api.globex) as other:
        mine = [(await start_run(http, "approval"))["id"] for _ in range(3)]
        theirs = (await start_run(other, "approval"))["id"]
        for run_id in mine:
            await wait_waiting(http, run_id, "review")
        await wait_waiting(other, theirs, "review")
        await wait_listed(http, "workflow=approval&status=running", lambda ids: len(ids) == 3)

        response = await http.post("/v1/workflows/approval/runs/pause", json={"reason": "bulk"})
        assert response.status_code == 200, response.text
        counts = {k: v for k, v in response.json().items() if k != "problems"}
        assert counts == {
            "workflow": "approval",
            "action": "pause",
            "matched": 3,
            "changed": 3,
            "unchanged": 0,
            "skipped": 0,
            "failed": 0,
        }
        for run_id in mine:
            view = (await http.get(f"/v1/runs/{run_id}")).json()
            assert (view["status"], view["paused"]["reason"]) == ("paused", "bulk")
        assert (await other.get(f"/v1/runs/{theirs}")).json()["status"] == "running"
        again = (await http.post("/v1/workflows/approval/runs/pause")).json()
        assert (again["matched"], again["changed"], again["unchanged"]) == (3, 0, 3)

        for run_id in mine:
            await http.post(
                f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
            )
        resumed = (await http.post("/v1/workflows/approval/runs/resume")).json()
        assert (resumed["action"], resumed["matched"], resumed["changed"]) == ("resume", 3, 3)
        for run_id in mine:
            assert (await wait_status(http, run_id, "succeeded"))["result"] == "published"
        await other.post(
            f"/v1/runs/{theirs}/steps/review/respond", json={"data": {"approved": True}}
        )
