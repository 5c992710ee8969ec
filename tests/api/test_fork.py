"""Forking a run from a step with edited outputs through the API (api.fork, client.fork)."""

from __future__ import annotations

from typing import Any

from tests.api.support import (
    Api,
    pairs,
    read_events,
    real_tool_api,
    start_run,
    wait_status,
    wait_waiting,
)
from tests.api.test_retry import REVIEW, statuses
from tests.support.tool_server import Reply, ToolServer, tool_server

__all__ = ["real_tool_api", "tool_server"]


async def test_an_edited_answer_changes_the_branch_taken(api: Api, tool_server: ToolServer) -> None:
    """A succeeded run forked from `pick` with the person's answer edited to "no": the branch
    takes `hold`, the tool is not called again, the edit is in the new run's log with who made
    it; the same fork again is the same run; bad edits are refused with where and what."""
    tool_server.route("/notify", Reply(json={"sent": True}))
    api.publish(REVIEW.format(url=tool_server.url))
    async with api.http() as http:
        run_id = (await start_run(http, "doc-review"))["id"]
        await wait_waiting(http, run_id, "review")
        await http.post(f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"ok": True}})
        original = await wait_status(http, run_id, "succeeded")
        assert original["result"] == {"notify": {"sent": True}}

        async def fork(expect: int, **body: Any) -> Any:
            response = await http.post(f"/v1/runs/{run_id}/fork", json=body)
            assert response.status_code == expect, response.text
            return response.json()

        edit = {"data": {"ok": False}, "actor": "editor", "responded_at": None}
        out = await fork(201, **{"from": "pick", "set": {"review": edit}})
        new_id = out["run_id"]
        assert new_id.startswith(f"{run_id}-fork-")
        assert {k: out[k] for k in ("from", "reused", "retried", "edited", "created")} == {
            "from": "pick",
            "reused": ["draft", "review"],
            "retried": ["pick", "notify", "hold"],
            "edited": ["review"],
            "created": True,
        }
        done = await wait_status(http, new_id, "succeeded")
        assert done["result"] == {"hold": "held"}
        assert statuses(done) == {
            "draft": "succeeded",
            "review": "succeeded",
            "pick": "succeeded",
            "notify": "skipped",
            "hold": "succeeded",
        }
        assert done["steps"]["review"]["output"] == edit
        assert len(tool_server.calls("/notify")) == 1
        actor = done["retry_of"]["by"]
        assert actor.startswith(f"{api.acme}:")
        assert (done["retry_of"]["mode"], done["retry_of"]["edited"]) == ("fork", ["review"])
        async with http.stream("GET", f"/v1/runs/{new_id}/events") as stream:
            events = await read_events(stream.aiter_lines())
        assert pairs(events)[:3] == [
            ("fork_of", None),
            ("step_reused", "draft"),
            ("step_edited", "review"),
        ]
        assert (events[0].data["origin"], events[0].data["from_step"]) == (run_id, "pick")
        assert events[2].data["by"] == actor

        again = await fork(200, **{"from": "pick", "set": {"review": edit}})
        assert (again["run_id"], again["created"]) == (new_id, False)
        other = await fork(201, **{"from": "pick"})  # no edits: another fork
        assert other["run_id"] != new_id
        assert (await wait_status(http, other["run_id"], "succeeded"))["result"] == {
            "notify": {"sent": True}
        }

        bad = await fork(422, **{"from": "pick", "set": {"review": {"data": {"ok": "yes"}}}})
        assert bad == {"detail": "set.review: data.ok: 'yes' is not of type 'boolean'"}
        shapeless = await fork(422, **{"from": "pick", "set": {"review": "yes"}})
        assert shapeless == {
            "detail": "set.review: a human step's output is an object with `data` "
            "(what its schema checks)"
        }
        later = await fork(422, **{"from": "pick", "set": {"notify": {}}})
        assert later == {
            "detail": "set.notify: the step runs again in the fork (it is `from` or after it)"
        }
        unknown = await fork(422, **{"from": "pick", "set": {"nope": 1}})
        assert unknown == {"detail": "set.nope: workflow 'doc-review' has no step 'nope'"}
        assert (await http.post(f"/v1/runs/{run_id}/fork", json={})).status_code == 422


RATE = """\
kworkflow: 1
name: rate
steps:
  - id: rate
    kind: llm
    prompt: 'Rate it. json: {"score": 9}'
    output_schema: {type: object, required: [score], properties: {score: {type: integer}}}
  - {id: pick, kind: branch, cases: [{when: "steps.rate.output.data.score > 5", to: high}],
     default: low}
  - {id: high, kind: aggregate, expr: "'high'"}
  - {id: low, kind: aggregate, expr: "'low ' + string(steps.rate.output.data.score)"}
edges:
  - {from: rate, to: pick}
  - {from: pick, to: [high, low]}
"""


async def test_an_edited_llm_output_changes_the_branch_taken(api: Api) -> None:
    """The model said 9 (high); forked with its `data` edited to 2, the branch takes `low`;
    an edit that breaks the output_schema is refused with where and what."""
    api.publish(RATE)
    async with api.http() as http:
        run_id = (await start_run(http, "rate"))["id"]
        original = await wait_status(http, run_id, "succeeded")
        assert original["result"] == {"high": "high"}
        output = original["steps"]["rate"]["output"]
        edited = {**output, "data": {"score": 2}}
        response = await http.post(
            f"/v1/runs/{run_id}/fork", json={"from": "pick", "set": {"rate": edited}}
        )
        assert response.status_code == 201, response.text
        done = await wait_status(http, response.json()["run_id"], "succeeded")
        assert done["result"] == {"low": "low 2"}
        assert done["steps"]["rate"]["output"] == edited
        assert done["steps"]["rate"]["attempts"] == original["steps"]["rate"]["attempts"]
        bad = await http.post(
            f"/v1/runs/{run_id}/fork",
            json={"from": "pick", "set": {"rate": {**output, "data": {"score": "x"}}}},
        )
        assert (bad.status_code, bad.json()) == (
            422,
            {"detail": "set.rate: data.score: 'x' is not of type 'integer'"},
        )
