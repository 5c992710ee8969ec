"""Human steps inside subflows, at any depth, are listed and answered through the top run.

Over the real API, dev server and worker: the top run's view and event stream show the nested
step by its path, and an answer to that path reaches the child run two levels down.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.support import Api, api, read_events, start_run, wait_run

__all__ = ["api"]

NESTED = """\
kworkflow: 1
name: nested-approval
steps:
  - id: outer
    kind: subflow
    steps:
      - id: inner
        kind: subflow
        steps:
          - id: approve
            kind: human
            prompt: "Ship it?"
            form: {type: object, required: [ok], properties: {ok: {type: boolean}}}
        output: ${ steps.approve.output.data.ok }
    output: ${ steps.inner.output }
output: {shipped: "${ steps.outer.output }"}
"""

PATH = "outer/inner/approve"


def waits_nested(view: dict) -> bool:
    return [p["step"] for p in view["pending_human"]] == [PATH]


@pytest.mark.parametrize("encoded", [False, True], ids=["plain-path", "percent-encoded"])
async def test_a_nested_human_step_is_listed_and_answered_by_path(api: Api, encoded: bool) -> None:
    """The UI and the CLI send the path percent-encoded (``outer%2Finner%2Fapprove``)."""
    api.publish(NESTED)
    async with api.http() as http:
        run_id = (await start_run(http, "nested-approval"))["id"]
        view = await wait_run(http, run_id, waits_nested, what="nested step waiting")
        [pending] = view["pending_human"]
        assert (pending["prompt"], pending["form"]["required"]) == ("Ship it?", ["ok"])
        async with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
            events = await read_events(response.aiter_lines(), lambda e: e.data.get("path") == PATH)
        assert (events[-1].event, events[-1].data["step"]) == ("step_waiting", "outer")

        url = f"/v1/runs/{run_id}/steps/{quote(PATH, safe='') if encoded else PATH}/respond"
        wrong = await http.post(url, json={"data": {"ok": "yes"}})
        assert wrong.status_code == 422
        assert wrong.json()["detail"] == "data.ok: 'yes' is not of type 'boolean'"
        nowhere = await http.post(f"/v1/runs/{run_id}/steps/outer/nope/respond", json={"data": 1})
        assert nowhere.status_code == 409
        assert "is not waiting for an answer" in nowhere.json()["detail"]

        accepted = await http.post(url, json={"data": {"ok": True}})
        assert accepted.status_code == 200, accepted.text
        assert (accepted.json()["step"], accepted.json()["data"]) == (PATH, {"ok": True})
        done = await wait_run(http, run_id, lambda v: v["status"] == "succeeded", what="done")
        assert done["result"] == {"shipped": True}
        assert done["pending_human"] == []
