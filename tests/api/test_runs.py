"""/v1/runs over a real server, dev server and worker: start, read, list, answer, cancel, draw."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from interpreter.loader import load_text
from interpreter.render import render
from tests.api.support import (
    APPROVAL,
    GREET,
    SLOW,
    Api,
    api,
    start_run,
    wait_listed,
    wait_status,
    wait_waiting,
)
from tests.support.standins import COST_PER_CALL

__all__ = ["api"]

TWO_PEOPLE = """\
kworkflow: 1
name: two-people
steps:
  - {id: first, kind: human, prompt: "First?"}
  - {id: second, kind: human, prompt: "Second?"}
"""


async def test_start_read_and_list(api: Api) -> None:
    api.publish(GREET)
    api.publish(APPROVAL)
    async with api.http() as http:
        response = await http.post("/v1/runs", json={"workflow": "greet", "input": {"name": "Ada"}})
        assert response.status_code == 201, response.text
        started = response.json()
        run_id = started["id"]
        assert run_id.startswith(f"{api.acme}:greet-") and len(run_id) == len(api.acme) + 15
        assert response.headers["location"] == f"/v1/runs/{run_id}"
        assert (started["workflow"], started["version"], started["tenant"]) == (
            "greet",
            1,
            api.acme,
        )

        done = await wait_status(http, run_id, "succeeded")
        assert done["result"] == "echo: Hello, Ada"
        assert done["error"] is None
        assert {sid: s["status"] for sid, s in done["steps"].items()} == {
            "hello": "succeeded",
            "ask": "succeeded",
        }
        assert done["steps"]["ask"]["input"]["prompt"] == "Hello, Ada"
        assert done["usage"] == {"input_tokens": 2, "output_tokens": 3}
        assert done["cost_usd"] == COST_PER_CALL
        assert done["pending_human"] == []
        assert done["ended_at"] is not None and done["last_seq"] == 5

        other = await start_run(http, "approval", {"title": "v2"})
        await wait_waiting(http, other["id"], "review")

        assert await wait_listed(http, "workflow=greet", lambda ids: ids == [run_id])
        assert await wait_listed(http, "status=succeeded", lambda ids: ids == [run_id])
        assert await wait_listed(http, "status=running", lambda ids: ids == [other["id"]])
        assert await wait_listed(
            http, "workflow=approval&status=running", lambda ids: ids == [other["id"]]
        )
        every = await wait_listed(http, "", lambda ids: len(ids) == 2)
        assert every == [other["id"], run_id]  # newest first

        first = (await http.get("/v1/runs?page_size=1")).json()
        assert [r["id"] for r in first["runs"]] == [other["id"]]
        assert first["runs"][0]["status"] == "running"
        second = await http.get(f"/v1/runs?page_size=1&page_token={first['next_page_token']}")
        assert [r["id"] for r in second.json()["runs"]] == [run_id]

    async with api.http(api.globex) as http:
        assert (await http.get("/v1/runs")).json() == {"runs": [], "next_page_token": None}


async def test_input_is_checked_against_the_schema(api: Api) -> None:
    api.publish(GREET)
    async with api.http() as http:
        missing = await http.post("/v1/runs", json={"workflow": "greet", "input": {}})
        wrong = await http.post("/v1/runs", json={"workflow": "greet", "input": {"name": 5}})
        extra_default = await http.post("/v1/runs", json={"workflow": "greet"})
    assert (missing.status_code, missing.json()) == (422, {"detail": "input.name: is required"})
    assert (wrong.status_code, wrong.json()) == (
        422,
        {"detail": "input.name: 5 is not of type 'string'"},
    )
    assert extra_default.json() == {"detail": "input.name: is required"}


async def test_unknown_workflow_or_version_is_404(api: Api) -> None:
    api.publish(GREET)
    api.publish(GREET, tenant=api.globex)
    async with api.http() as http:
        unknown = await http.post("/v1/runs", json={"workflow": "nope", "input": {}})
        version = await http.post(
            "/v1/runs", json={"workflow": "greet", "version": 2, "input": {"name": "A"}}
        )
    async with api.http(api.globex) as http:
        pinned = await http.post(
            "/v1/runs", json={"workflow": "greet", "version": 1, "input": {"name": "A"}}
        )
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no workflow 'nope'"})
    assert (version.status_code, version.json()) == (
        404,
        {"detail": "no version 2 of workflow 'greet'"},
    )
    assert pinned.status_code == 201


@pytest.mark.parametrize("how", ["run_id", "Idempotency-Key"])
async def test_concurrent_duplicate_starts_make_one_run(api: Api, how: str) -> None:
    api.publish(APPROVAL)
    key = f"order-{how[0]}-42"
    body: dict[str, Any] = {"workflow": "approval", "input": {}}
    headers: dict[str, str] = {}
    if how == "run_id":
        body["run_id"] = key
    else:
        headers["Idempotency-Key"] = key
    async with api.http() as http:
        responses = await asyncio.gather(
            *(http.post("/v1/runs", json=body, headers=headers) for _ in range(10))
        )
        assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
        views = [r.json() for r in responses]
        assert {v["id"] for v in views} == {f"{api.acme}:{key}"}
        assert len({v["temporal_run_id"] for v in views}) == 1

        run_id = views[0]["id"]
        await wait_waiting(http, run_id, "review")
        answer = {"data": {"approved": True}}
        assert (await http.post(f"/v1/runs/{run_id}/steps/review/respond", json=answer)).is_success
        await wait_status(http, run_id, "succeeded")
        again = await http.post("/v1/runs", json=body, headers=headers)
        assert again.status_code == 200
        assert again.json()["temporal_run_id"] == views[0]["temporal_run_id"]
        assert again.json()["result"] == "published"


async def test_a_run_id_taken_by_another_workflow_is_409(api: Api) -> None:
    api.publish(APPROVAL)
    api.publish(GREET)
    async with api.http() as http:
        await start_run(http, "approval", run_id="mine")
        taken = await http.post(
            "/v1/runs", json={"workflow": "greet", "input": {"name": "A"}, "run_id": "mine"}
        )
    assert (taken.status_code, taken.json()) == (
        409,
        {"detail": f"run id '{api.acme}:mine' is taken by a run of workflow 'approval'"},
    )


async def test_respond_to_a_human_step(api: Api) -> None:
    api.publish(APPROVAL)
    async with api.http() as http:
        run_id = (await start_run(http, "approval", {"title": "v3"}))["id"]
        view = await wait_waiting(http, run_id, "review")
        [pending] = view["pending_human"]
        assert pending["prompt"] == "Approve Release v3?"
        assert pending["form"]["required"] == ["approved"]
        assert view["steps"]["review"]["status"] == "waiting"
        url = f"/v1/runs/{run_id}/steps/review/respond"

        invalid = await http.post(url, json={"data": {"approved": "yes"}})
        assert (invalid.status_code, invalid.json()) == (
            422,
            {"detail": "data.approved: 'yes' is not of type 'boolean'"},
        )
        unknown = await http.post(f"/v1/runs/{run_id}/steps/nope/respond", json={"data": {}})
        assert (unknown.status_code, unknown.json()) == (
            404,
            {"detail": f"run '{run_id}' has no human step 'nope'"},
        )
        not_human = await http.post(f"/v1/runs/{run_id}/steps/prepare/respond", json={"data": {}})
        assert not_human.status_code == 404

        accepted = await http.post(url, json={"data": {"approved": True}})
        assert accepted.status_code == 200, accepted.text
        answer = accepted.json()
        assert answer["actor"] == f"{api.acme}:{api.keys[api.acme][:4]}"
        assert (answer["run_id"], answer["step"], answer["data"]) == (
            run_id,
            "review",
            {"approved": True},
        )
        assert answer["responded_at"] is not None

        done = await wait_status(http, run_id, "succeeded")
        assert done["result"] == "published"
        assert done["steps"]["review"]["output"]["actor"] == answer["actor"]
        ended = await http.post(url, json={"data": {"approved": True}})
        assert (ended.status_code, ended.json()) == (
            409,
            {"detail": f"run '{run_id}' has ended: step 'review' is not waiting"},
        )


async def test_respond_to_a_step_that_does_not_wait_yet_is_409(api: Api) -> None:
    api.publish(TWO_PEOPLE)
    async with api.http() as http:
        run_id = (await start_run(http, "two-people"))["id"]
        await wait_waiting(http, run_id, "first")
        early = await http.post(f"/v1/runs/{run_id}/steps/second/respond", json={"data": 1})
        assert (early.status_code, early.json()) == (
            409,
            {"detail": "step 'second' is not waiting for an answer (it is pending)"},
        )
        first = await http.post(f"/v1/runs/{run_id}/steps/first/respond", json={"data": None})
        assert first.status_code == 200
        assert (await http.post(f"/v1/runs/{run_id}/steps/first/respond", json={"data": 2})).json()[
            "detail"
        ] == "step 'first' is not waiting for an answer (it is succeeded)"


async def test_cancel(api: Api) -> None:
    api.publish(SLOW)
    async with api.http() as http:
        run_id = (await start_run(http, "slow"))["id"]
        await http.get(f"/v1/runs/{run_id}")
        cancelled = await http.post(f"/v1/runs/{run_id}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        assert cancelled.json()["id"] == run_id
        view = await wait_status(http, run_id, "cancelled")
        assert view["steps"]["nap"]["status"] == "cancelled"
        assert view["error"] == {"type": "Cancelled", "message": "run cancelled"}
        again = await http.post(f"/v1/runs/{run_id}/cancel")
        assert (again.status_code, again.json()) == (
            409,
            {"detail": f"run '{run_id}' has already ended (cancelled)"},
        )


async def test_graph_with_statuses(api: Api) -> None:
    api.publish(APPROVAL)
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, run_id, "review")
        dot = await http.get(f"/v1/runs/{run_id}/graph", params={"format": "dot"})
        mermaid = await http.get(f"/v1/runs/{run_id}/graph")
        bad = await http.get(f"/v1/runs/{run_id}/graph", params={"format": "png"})
    statuses = {"prepare": "succeeded", "review": "waiting", "publish": "pending"}
    definition = load_text(APPROVAL)
    assert dot.status_code == 200 and dot.headers["content-type"].startswith("text/plain")
    assert dot.text == render(definition, "dot", statuses)
    assert mermaid.text == render(definition, "mermaid", statuses)
    assert "class step_review waiting" in mermaid.text
    assert bad.status_code == 422


async def test_a_run_keeps_its_version_when_a_new_one_is_published(api: Api) -> None:
    assert api.publish(APPROVAL) == 1
    async with api.http() as http:
        old = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, old, "review")
        v2 = APPROVAL.replace('? "published" : "held"', '? "shipped" : "held"')
        assert api.publish(v2) == 2
        new = await start_run(http, "approval")
        assert new["version"] == 2
        for run_id in (old, new["id"]):
            await wait_waiting(http, run_id, "review")
            answer = {"data": {"approved": True}}
            response = await http.post(f"/v1/runs/{run_id}/steps/review/respond", json=answer)
            assert response.status_code == 200
        done_old = await wait_status(http, old, "succeeded")
        done_new = await wait_status(http, new["id"], "succeeded")
    assert (done_old["version"], done_old["result"]) == (1, "published")
    assert (done_new["version"], done_new["result"]) == (2, "shipped")
