"""Upgrading a paused run through the API (api.upgrade): the new version's steps run at a real
tool server, mismatches are refused naming the steps, states and versions that do not apply."""

from __future__ import annotations

from typing import Any

import httpx

from telemetry.metrics import REGISTRY
from tests.api.support import (
    Api,
    pairs,
    read_events,
    real_tool_api,
    start_run,
    wait_run,
    wait_status,
    wait_waiting,
)
from tests.support.tool_server import ToolServer, tool_server
from tests.support.upgrades import A_BECAME_CODE, UPGRADED_TRANSITIONS, V1, V2, WITHOUT_H

__all__ = ["real_tool_api", "tool_server"]


def upgraded_count() -> float:
    sample = {"workflow": "upgrade-flow"}
    return REGISTRY.get_sample_value("kworkflow_runs_upgraded_total", sample) or 0.0


async def paused_at_h(http: httpx.AsyncClient) -> str:
    run_id = str((await start_run(http, "upgrade-flow"))["id"])
    await wait_waiting(http, run_id, "h")
    response = await http.post(f"/v1/runs/{run_id}/pause")
    assert response.status_code == 200, response.text
    return run_id


async def upgrade(http: httpx.AsyncClient, run_id: str, expect: int, **body: Any) -> Any:
    response = await http.post(f"/v1/runs/{run_id}/upgrade", json=body or None)
    assert response.status_code == expect, response.text
    return response.json()


async def test_upgrade_a_paused_run_to_the_latest_version(
    api: Api, tool_server: ToolServer
) -> None:
    """Paused at h, upgraded to the latest version (v2) with no body: 200 with what changed,
    the view says version 2 and who upgraded it, still paused; answered and resumed, the tool
    server sees v2's `b` args and `c`, `a` called once; the events carry `run_upgraded`."""
    url = tool_server.url
    api.publish(V1.format(url=url))
    before = upgraded_count()
    async with api.http() as http:
        run_id = await paused_at_h(http)
        assert api.publish(V2.format(url=url)) == 2
        answer = await upgrade(http, run_id, 200)
        assert answer == {
            "run_id": run_id,
            "status": "paused",
            "from_version": 1,
            "version": 2,
            "added": ["c"],
            "removed": [],
        }
        assert upgraded_count() == before + 1
        view = (await http.get(f"/v1/runs/{run_id}")).json()
        assert (view["status"], view["version"]) == ("paused", 2)
        assert {k: view["upgraded"][k] for k in ("from_version", "to_version")} == {
            "from_version": 1,
            "to_version": 2,
        }
        assert view["upgraded"]["by"].startswith(f"{api.acme}:")
        assert {sid: s["status"] for sid, s in view["steps"].items()} == {
            "a": "succeeded",
            "h": "waiting",
            "b": "pending",
            "c": "pending",
        }
        graph = await http.get(f"/v1/runs/{run_id}/graph")
        assert 'step_c["c<br/>tool"]' in graph.text  # drawn from the version it runs now
        again = await upgrade(http, run_id, 409, version=2)
        assert again == {"detail": f"run '{run_id}' is already at version 2"}
        older = await upgrade(http, run_id, 409, version=1)
        assert older == {"detail": f"run '{run_id}' is at version 2: version 1 is not newer"}

        answered = await http.post(
            f"/v1/runs/{run_id}/steps/h/respond", json={"data": {"go": True}}
        )
        assert answered.status_code == 200, answered.text
        assert (await http.post(f"/v1/runs/{run_id}/resume")).status_code == 200
        done = await wait_status(http, run_id, "succeeded")
        assert (done["result"], done["version"]) == ({"after": 11}, 2)
        assert [r.path for r in tool_server.calls()] == ["/a", "/b", "/c"]
        assert tool_server.calls("/b")[0].json == {"n": 11, "go": True}
        async with http.stream("GET", f"/v1/runs/{run_id}/events") as stream:
            events = await read_events(stream.aiter_lines())
        assert pairs(events) == UPGRADED_TRANSITIONS
        assert {k: events[5].data[k] for k in ("from_version", "to_version", "added")} == {
            "from_version": 1,
            "to_version": 2,
            "added": ["c"],
        }
        ended = await upgrade(http, run_id, 409, version=2)
        assert ended == {"detail": f"run '{run_id}' has ended (succeeded): cannot upgrade it"}


async def test_a_mismatched_version_is_refused_and_the_run_is_unchanged(
    api: Api, tool_server: ToolServer
) -> None:
    """A version without the waiting h (422, h named), one where the ended a changed kind
    (422, a named), an unknown version (404), another tenant (404): the run stays at version
    1, paused, and completes as v1 once answered and resumed."""
    url = tool_server.url
    api.publish(V1.format(url=url))
    async with api.http() as http:
        run_id = await paused_at_h(http)
        assert api.publish(WITHOUT_H.format(url=url)) == 2
        assert api.publish(A_BECAME_CODE.format(url=url)) == 3
        refused = await upgrade(http, run_id, 422, version=2)
        assert refused == {
            "detail": f"version 2 does not match the steps run '{run_id}' has started: "
            "h: no such step in the new version"
        }
        refused = await upgrade(http, run_id, 422)  # the latest: 3
        assert refused == {
            "detail": f"version 3 does not match the steps run '{run_id}' has started: "
            "a: kind tool became aggregate"
        }
        unknown = await upgrade(http, run_id, 404, version=9)
        assert "9" in unknown["detail"] and "upgrade-flow" in unknown["detail"]
        async with api.http(api.globex) as other:
            assert (await upgrade(other, run_id, 404, version=2)) == {
                "detail": f"no run '{run_id}'"
            }
        bad = await http.post(f"/v1/runs/{run_id}/upgrade", json={"version": 0})
        assert bad.status_code == 422
        view = (await http.get(f"/v1/runs/{run_id}")).json()
        assert (view["status"], view["version"], view["upgraded"]) == ("paused", 1, None)
        assert list(view["steps"]) == ["a", "h", "b"]
        await http.post(f"/v1/runs/{run_id}/steps/h/respond", json={"data": {"go": False}})
        await http.post(f"/v1/runs/{run_id}/resume")
        done = await wait_status(http, run_id, "succeeded")
        assert done["result"] == {"n": 1}
        assert [r.path for r in tool_server.calls()] == ["/a", "/b"]


async def test_a_run_that_is_not_paused_is_409(api: Api, tool_server: ToolServer) -> None:
    """A run waiting at h, not paused: 409 with its state, nothing changed."""
    url = tool_server.url
    api.publish(V1.format(url=url))
    async with api.http() as http:
        run_id = str((await start_run(http, "upgrade-flow"))["id"])
        await wait_waiting(http, run_id, "h")
        api.publish(V2.format(url=url))
        refused = await upgrade(http, run_id, 409)
        assert refused == {
            "detail": f"run '{run_id}' is running, not paused: pause it before upgrading it"
        }
        view = await wait_run(http, run_id, lambda v: v["status"] == "running")
        assert (view["version"], list(view["steps"])) == (1, ["a", "h", "b"])
        missing = await upgrade(http, "acme-nope", 404)
        assert missing == {"detail": "no run 'acme-nope'"}


async def test_a_retry_of_an_upgraded_run_runs_the_version_it_was_upgraded_to(
    api: Api, tool_server: ToolServer
) -> None:
    """An upgraded run cancelled while paused, then retried: the retry runs version 2 (its
    definition from the run's memo, not the v1 it started with), `a` taken over."""
    url = tool_server.url
    api.publish(V1.format(url=url))
    async with api.http() as http:
        run_id = await paused_at_h(http)
        api.publish(V2.format(url=url))
        await upgrade(http, run_id, 200)
        assert (await http.post(f"/v1/runs/{run_id}/cancel")).status_code == 202
        await wait_status(http, run_id, "cancelled")
        response = await http.post(f"/v1/runs/{run_id}/retry", json={})
        assert response.status_code == 201, response.text
        retried = response.json()
        assert (retried["version"], retried["reused"], retried["retried"]) == (
            2,
            ["a"],
            ["h", "b", "c"],
        )
        view = await wait_waiting(http, retried["run_id"], "h")
        assert (view["version"], list(view["steps"])) == (2, ["a", "h", "b", "c"])
        await http.post(
            f"/v1/runs/{retried['run_id']}/steps/h/respond", json={"data": {"go": True}}
        )
        done = await wait_status(http, retried["run_id"], "succeeded")
        assert done["result"] == {"after": 11}
        assert [r.path for r in tool_server.calls()] == ["/a", "/b", "/c"]
