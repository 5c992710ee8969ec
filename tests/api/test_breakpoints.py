"""Breakpoints through the API: a start with breakpoints, the continue route, the view, the
events and the metrics (api.breakpoints, interpreter.breakpoints)."""

from __future__ import annotations

from typing import Any

from telemetry.metrics import REGISTRY
from tests.api.support import (
    Api,
    pairs,
    read_events,
    real_tool_api,
    start_run,
    wait_run,
    wait_status,
)
from tests.api.test_retry import REVIEW
from tests.support.tool_server import Reply, ToolServer, tool_server

__all__ = ["real_tool_api", "tool_server"]


def count(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def held_at(step: str, when: str) -> Any:
    return lambda v: (v.get("paused") or {}).get("at") == {"step": step, "when": when}


async def test_a_run_held_after_and_before_steps_is_edited_and_continued(
    api: Api, tool_server: ToolServer
) -> None:
    """doc-review held after `draft` (its output edited) and before `notify` (its args edited):
    the tool server sees exactly the edited args; wrong requests are refused with the run
    unchanged; the events and the metrics show the breakpoints."""
    tool_server.route("/notify", Reply(json={"sent": True}))
    api.publish(REVIEW.format(url=tool_server.url))
    hits = count("kworkflow_breakpoints_hit_total", {"workflow": "doc-review", "when": "after"})
    edits = count("kworkflow_runs_continued_total", {"workflow": "doc-review", "edited": "true"})
    async with api.http() as http:
        response = await http.post(
            "/v1/runs",
            json={"workflow": "doc-review", "breakpoints": {"before": ["nope"], "after": ["x"]}},
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"] == (
            "breakpoints: workflow 'doc-review' has no step 'nope', 'x'"
        )
        breakpoints = {"before": ["notify"], "after": ["draft"]}
        run_id = (await start_run(http, "doc-review", breakpoints=breakpoints))["id"]
        view = await wait_run(http, run_id, held_at("draft", "after"), what="held after draft")
        assert view["status"] == "paused"
        assert view["paused"]["reason"] == "breakpoint"
        assert view["breakpoints"] == breakpoints
        assert view["steps"]["draft"]["status"] == "at_breakpoint"
        held = view["steps"]["draft"]["output"]
        assert view["steps"]["review"]["status"] == "pending"

        async def cont(expect: int, **body: Any) -> Any:
            response = await http.post(f"/v1/runs/{run_id}/continue", json=body)
            assert response.status_code == expect, response.text
            return response.json()

        wrong = await cont(409, step="notify")
        assert wrong["detail"] == (
            f"run '{run_id}' is not held at step 'notify' (held: after 'draft')"
        )
        bad = await cont(422, step="draft", input={"prompt": "x"})
        assert bad["detail"] == "step 'draft' is held after it ran: give `output`, not `input`"
        assert (await cont(422, step="draft", output={"n": 2**70}))["detail"] == (
            "output: output.n: 1180591620717411303424 is outside the 64-bit integer range"
        )
        async with api.http(api.globex) as other:
            response = await other.post(f"/v1/runs/{run_id}/continue", json={"step": "draft"})
            assert response.status_code == 404
        unchanged = (await http.get(f"/v1/runs/{run_id}")).json()
        assert unchanged["steps"]["draft"] == view["steps"]["draft"]
        assert unchanged["paused"] == view["paused"]

        edited = {**held, "text": "edited note"}
        answer = await cont(200, step="draft", output=edited)
        assert answer == {
            "run_id": run_id,
            "status": "running",
            "paused": None,
            "step": "draft",
            "when": "after",
            "edited": True,
        }
        view = await wait_run(http, run_id, lambda v: v["pending_human"], what="review waiting")
        assert view["steps"]["draft"]["output"] == edited
        assert view["pending_human"][0]["prompt"] == "Send edited note?"
        not_held = await cont(409, step="draft")
        assert not_held["detail"] == f"run '{run_id}' is not at a breakpoint (running)"
        await http.post(f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"ok": True}})

        view = await wait_run(http, run_id, held_at("notify", "before"), what="before notify")
        assert view["steps"]["notify"]["input"] == {
            "tool": "notify",
            "args": {"text": "edited note"},
        }
        assert tool_server.calls("/notify") == []
        unknown = await cont(422, step="notify", input={"nope": 1})
        assert unknown["detail"] == (
            "input: a tool step has no field 'nope' (its fields: args, tool)"
        )
        await cont(200, step="notify", input={"args": {"text": "final"}})
        done = await wait_status(http, run_id, "succeeded")
        assert done["result"] == {"notify": {"sent": True}}
        assert [c.json for c in tool_server.calls("/notify")] == [{"text": "final"}]
        ended = await cont(409, step="notify")
        assert ended["detail"] == f"run '{run_id}' has ended (succeeded): cannot continue it"

        async with http.stream("GET", f"/v1/runs/{run_id}/events") as stream:
            events = await read_events(stream.aiter_lines())
        got = [p for p in pairs(events) if p[0].startswith("breakpoint_")]
        assert got == [
            ("breakpoint_hit", "draft"),
            ("breakpoint_continued", "draft"),
            ("breakpoint_hit", "notify"),
            ("breakpoint_continued", "notify"),
        ]
        continued = [e.data for e in events if e.event == "breakpoint_continued"]
        assert all(e["by"].startswith(f"{api.acme}:") and e["edited"] for e in continued)
    after = count("kworkflow_breakpoints_hit_total", {"workflow": "doc-review", "when": "after"})
    assert after == hits + 1
    labels = {"workflow": "doc-review", "edited": "true"}
    assert count("kworkflow_runs_continued_total", labels) == edits + 2
