"""Retrying ended runs through the API (api.retry): the person is not asked again, the tool
server sees one new call, `from`, newer versions, refusals, lineage, the bulk form."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from activities.registry import _REGISTRY
from activities.registry import tool as register_tool
from telemetry.metrics import REGISTRY
from tests.api.support import (
    APPROVAL,
    Api,
    pairs,
    read_events,
    real_tool_api,
    start_run,
    wait_listed,
    wait_run,
    wait_status,
    wait_waiting,
)
from tests.support.tool_server import Reply, ToolServer, tool_server

__all__ = ["real_tool_api", "tool_server"]

REVIEW = """\
kworkflow: 1
name: doc-review
tools:
  notify: {{url: "{url}/notify", method: POST}}
steps:
  - {{id: draft, kind: llm, prompt: "Draft a note"}}
  - id: review
    kind: human
    prompt: "Send ${{ steps.draft.output.text }}?"
    form: {{type: object, required: [ok], properties: {{ok: {{type: boolean}}}}}}
  - {{id: pick, kind: branch, cases: [{{when: "steps.review.output.data.ok", to: notify}}],
     default: hold}}
  - {{id: notify, kind: tool, tool: notify, args: {{text: "${{ steps.draft.output.text }}"}}}}
  - {{id: hold, kind: aggregate, expr: "'held'"}}
edges:
  - {{from: draft, to: review}}
  - {{from: review, to: pick}}
  - {{from: pick, to: [notify, hold]}}
"""


async def retry(http: httpx.AsyncClient, run_id: str, expect: int = 201, **body: Any) -> Any:
    response = await http.post(f"/v1/runs/{run_id}/retry", json=body)
    assert response.status_code == expect, response.text
    return response.json()


def statuses(view: dict[str, Any]) -> dict[str, str]:
    return {sid: step["status"] for sid, step in view["steps"].items()}


async def test_a_failed_run_is_retried_without_asking_the_person_again(
    api: Api, tool_server: ToolServer
) -> None:
    """Answered, then the tool answers 400: failed. Retried once the tool is fixed: the human
    step is taken over (never waiting), the tool server sees exactly one new call, the run
    succeeds; the same retry again is the same run; both runs link to each other."""
    tool_server.route("/notify", Reply(400, json={"error": "bad gateway config"}))
    api.publish(REVIEW.format(url=tool_server.url))
    async with api.http() as http:
        run_id = (await start_run(http, "doc-review"))["id"]
        await wait_waiting(http, run_id, "review")
        answered = await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"ok": True}}
        )
        assert answered.status_code == 200, answered.text
        failed = await wait_status(http, run_id, "failed")
        assert statuses(failed) == {
            "draft": "succeeded",
            "review": "succeeded",
            "pick": "succeeded",
            "notify": "failed",
            "hold": "skipped",
        }
        assert len(tool_server.calls("/notify")) == 1

        tool_server.route("/notify", Reply(json={"sent": True}))  # the tool is fixed
        before = retried_count("doc-review")
        out = await retry(http, run_id)
        assert retried_count("doc-review") == before + 1
        new_id = out["run_id"]
        assert new_id.startswith(f"{run_id}-retry-")
        assert out == {
            "run_id": new_id,
            "retry_of": run_id,
            "from": None,
            "version": 1,
            "created": True,
            "reused": ["draft", "review", "pick"],
            "retried": ["notify", "hold"],
            "edited": [],
            "links": {"run": f"/v1/runs/{new_id}", "original": f"/v1/runs/{run_id}"},
        }
        seen: list[dict[str, Any]] = []

        def ended(view: dict[str, Any]) -> bool:
            seen.append(view)
            return view["status"] in ("succeeded", "failed")

        done = await wait_run(http, new_id, ended)
        assert done["status"] == "succeeded", done
        assert done["result"] == {"notify": {"sent": True}}
        assert all(view["pending_human"] == [] for view in seen)
        assert len(tool_server.calls("/notify")) == 2  # exactly one new call
        text = failed["steps"]["draft"]["output"]["text"]
        assert [c.json for c in tool_server.calls("/notify")] == [{"text": text}] * 2
        review = done["steps"]["review"]
        assert review["output"] == failed["steps"]["review"]["output"]
        assert review["output"]["data"] == {"ok": True}
        assert (review["started_at"], review["ended_at"]) == (
            failed["steps"]["review"]["started_at"],
            failed["steps"]["review"]["ended_at"],
        )
        assert statuses(done)["hold"] == "skipped"
        actor = review["output"]["actor"]
        lineage = done["retry_of"]
        assert lineage == {
            "run_id": run_id,
            "root": run_id,
            "from": None,
            "version": 1,
            "reused": ["draft", "review", "pick"],
            "retried": ["notify", "hold"],
            "by": actor,
            "mode": "retry",
            "edited": [],
        }
        async with http.stream("GET", f"/v1/runs/{new_id}/events") as stream:
            events = await read_events(stream.aiter_lines())
        assert pairs(events) == [
            ("retry_of", None),
            ("step_reused", "draft"),
            ("step_reused", "review"),
            ("step_reused", "pick"),
            ("step_started", "notify"),
            ("step_skipped", "hold"),
            ("step_succeeded", "notify"),
            ("run_succeeded", None),
        ]
        assert events[1].data["origin"] == run_id

        again = await retry(http, run_id, expect=200)
        assert (again["run_id"], again["created"]) == (new_id, False)
        assert retried_count("doc-review") == before + 1
        assert len(tool_server.calls("/notify")) == 2
        original = await wait_run(http, run_id, lambda v: v["retries"] == [new_id], what="link")
        assert (original["status"], original["retry_of"]) == ("failed", None)
        assert statuses(original)["notify"] == "failed"  # the original stays as it was


async def test_from_a_step_reruns_it_and_what_follows(api: Api) -> None:
    """A succeeded run is retried only from a step: from `publish` the answer is reused; from
    `review` the person is asked again and a new answer changes the result."""
    api.publish(APPROVAL)
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, run_id, "review")
        await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
        )
        await wait_status(http, run_id, "succeeded")
        refused = await retry(http, run_id, expect=409)
        assert refused == {
            "detail": f"run '{run_id}' is succeeded: cannot retry it: name a step to retry it from"
        }

        out = await retry(http, run_id, **{"from": "publish"})
        assert (out["from"], out["reused"], out["retried"]) == (
            "publish",
            ["prepare", "review"],
            ["publish"],
        )
        done = await wait_status(http, out["run_id"], "succeeded")
        assert (done["result"], done["pending_human"]) == ("published", [])
        chained = await retry(http, out["run_id"], **{"from": "publish"})  # a retry's retry
        assert chained["run_id"].startswith(f"{run_id}-retry-")  # named after the chain's root
        chain = await wait_status(http, chained["run_id"], "succeeded")
        assert (chain["retry_of"]["run_id"], chain["retry_of"]["root"]) == (out["run_id"], run_id)
        assert chain["steps"]["review"]["output"] == done["steps"]["review"]["output"]

        out = await retry(http, run_id, **{"from": "review"})
        assert (out["reused"], out["retried"]) == (["prepare"], ["review", "publish"])
        waiting = await wait_waiting(http, out["run_id"], "review")
        assert waiting["pending_human"][0]["prompt"] == "Approve Release v1?"
        await http.post(
            f"/v1/runs/{out['run_id']}/steps/review/respond", json={"data": {"approved": False}}
        )
        assert (await wait_status(http, out["run_id"], "succeeded"))["result"] == "held"
        original = await wait_run(http, run_id, lambda v: len(v["retries"]) == 2, what="links")
        assert original["result"] == "published"


STAGED = """\
kworkflow: 1
name: staged
tools:
  fetch: {{url: "{url}", method: POST}}
steps:
  - {{id: a, kind: {a_kind}, {a_body}}}
{b}  - {{id: fetch, kind: tool, tool: fetch, args: {{}}}}
"""


def staged(url: str, a_kind: str = "aggregate", with_b: bool = True) -> str:
    a_body = "expr: \"'A'\"" if a_kind == "aggregate" else "tool: fetch, args: {}"
    b = "  - {id: b, kind: aggregate, expr: \"steps.a.output + 'B'\"}\n" if with_b else ""
    return STAGED.format(url=url, a_kind=a_kind, a_body=a_body, b=b)


async def test_a_newer_version_with_matching_steps_fixes_the_run(
    api: Api, tool_server: ToolServer
) -> None:
    """Version 2 changed `a`'s kind and dropped `b`: refused, naming both. Version 3 (the fix:
    another URL, same steps) runs `fetch` only. Unknown steps and versions, running runs and
    another tenant's runs are refused."""
    broken = tool_server.route("/broken", Reply(400, json={"error": "no"}))
    fixed = tool_server.route("/fixed", Reply(json={"ok": 1}))
    api.publish(staged(broken))
    api.publish(staged(fixed, a_kind="tool", with_b=False))
    api.publish(staged(fixed))
    api.publish(APPROVAL)
    async with api.http() as http:
        run_id = (await start_run(http, "staged", version=1))["id"]
        failed = await wait_status(http, run_id, "failed")
        assert statuses(failed) == {"a": "succeeded", "b": "succeeded", "fetch": "failed"}

        refused = await retry(http, run_id, expect=422, version=2)
        assert refused == {
            "detail": "version 2 does not match the steps the retry keeps: "
            "a: kind aggregate became tool; b: no such step in the new version"
        }
        assert (await retry(http, run_id, expect=404, version=9))["detail"]
        refused = await retry(http, run_id, expect=422, **{"from": "nope"})
        assert refused == {"detail": "from: workflow 'staged' has no step 'nope'"}

        out = await retry(http, run_id, version=3)
        assert (out["version"], out["reused"], out["retried"]) == (3, ["a", "b"], ["fetch"])
        done = await wait_status(http, out["run_id"], "succeeded")
        assert (done["version"], done["result"]) == (3, {"fetch": {"ok": 1}})
        assert [c.path for c in tool_server.calls()] == ["/broken", "/fixed"]
        assert (await retry(http, run_id, expect=200, version=3))["run_id"] == out["run_id"]

        running = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, running, "review")
        refused = await retry(http, running, expect=409)
        assert refused == {"detail": f"run '{running}' is running: cannot retry it until it ends"}
    async with api.http(api.globex) as other:
        refused = await retry(other, run_id, expect=404)
        assert refused == {"detail": f"no run '{run_id}'"}
    async with api.http() as http:
        await http.post(f"/v1/runs/{running}/cancel")
        await wait_status(http, running, "cancelled")
        out = await retry(http, running)  # a cancelled run: the steps that did not succeed
        assert (out["reused"], out["retried"]) == (["prepare"], ["review", "publish"])
        await wait_waiting(http, out["run_id"], "review")
        await http.post(f"/v1/runs/{out['run_id']}/cancel")


BULK_RUNS = 8


async def test_bulk_retry_of_every_failed_run(api: Api, tool_server: ToolServer) -> None:
    """Every failed run of the workflow (this tenant's) is retried once: another error type
    matches none, a later `since` none; after the fix all retries succeed; a second call
    retries nothing again."""
    url = tool_server.route("/broken", Reply(400, json={"error": "no"}))
    api.publish(staged(url))
    api.publish(staged(url), api.globex)
    async with api.http() as http, api.http(api.globex) as other:
        mine = [(await start_run(http, "staged"))["id"] for _ in range(BULK_RUNS)]
        theirs = (await start_run(other, "staged"))["id"]
        views = [await wait_status(http, run_id, "failed") for run_id in mine]
        await wait_status(other, theirs, "failed")
        error_type = views[0]["steps"]["fetch"]["error"]["type"]
        await wait_listed(http, "workflow=staged&status=failed", lambda ids: len(ids) == BULK_RUNS)

        none = await http.post("/v1/workflows/staged/runs/retry", json={"error_type": "Nope"})
        assert none.status_code == 200, none.text
        assert {k: v for k, v in none.json().items() if k != "problems"} == {
            "workflow": "staged",
            "matched": BULK_RUNS,
            "retried": 0,
            "already": 0,
            "skipped": BULK_RUNS,
            "failed": 0,
            "runs": {},
        }
        later = await http.post(
            "/v1/workflows/staged/runs/retry", json={"since": "2999-01-01T00:00:00Z"}
        )
        assert later.json()["matched"] == 0

        tool_server.route("/broken", Reply(json={"ok": 2}))
        response = await http.post(
            "/v1/workflows/staged/runs/retry", json={"error_type": error_type}
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert {k: answer[k] for k in ("matched", "retried", "already", "skipped", "failed")} == {
            "matched": BULK_RUNS,
            "retried": BULK_RUNS,
            "already": 0,
            "skipped": 0,
            "failed": 0,
        }
        assert sorted(answer["runs"]) == sorted(mine)
        for original, new_id in answer["runs"].items():
            done = await wait_status(http, new_id, "succeeded")
            assert done["retry_of"]["run_id"] == original
            assert done["result"] == {"fetch": {"ok": 2}}
        assert len(tool_server.calls("/broken")) == 2 * BULK_RUNS + 1  # theirs failed once
        again = (await http.post("/v1/workflows/staged/runs/retry")).json()
        assert (again["matched"], again["retried"], again["already"]) == (BULK_RUNS, 0, BULK_RUNS)
        assert again["runs"] == answer["runs"]
        assert len(tool_server.calls("/broken")) == 2 * BULK_RUNS + 1
        assert (await other.get(f"/v1/runs/{theirs}")).json()["retries"] == []
        missing = await http.post("/v1/workflows/nobody/runs/retry")
        assert missing.status_code == 404


@pytest.mark.slow
async def test_bulk_retry_of_fifty_failed_runs(api: Api, tool_server: ToolServer) -> None:
    """The issue's size: 50 failed runs retried in one call, each once, all succeeding."""
    url = tool_server.route("/broken", Reply(400, json={"error": "no"}))
    api.publish(staged(url))
    async with api.http() as http:
        mine = [(await start_run(http, "staged"))["id"] for _ in range(50)]
        for run_id in mine:
            await wait_status(http, run_id, "failed")
        await wait_listed(http, "workflow=staged&status=failed", lambda ids: len(ids) == 50)
        tool_server.route("/broken", Reply(json={"ok": 50}))
        answer = (await http.post("/v1/workflows/staged/runs/retry")).json()
        assert (answer["matched"], answer["retried"], answer["failed"]) == (50, 50, 0)
        for new_id in answer["runs"].values():
            assert (await wait_status(http, new_id, "succeeded"))["result"] == {"fetch": {"ok": 50}}
        again = (await http.post("/v1/workflows/staged/runs/retry")).json()
        assert (again["retried"], again["already"]) == (0, 50)
        assert len(tool_server.calls("/broken")) == 100


async def test_a_tool_the_worker_gains_after_the_failure(api: Api) -> None:
    """The tool step names a Python tool the worker does not have (UnknownTool) after the
    person answered; once the worker has it, the retry calls it once and asks no one."""
    name = f"summarize_{uuid.uuid4().hex[:8]}"
    calls: list[str] = []
    old = APPROVAL.splitlines()[-2]  # the `publish` step
    assert old.startswith("  - {id: publish")
    args = '{text: "${ steps.prepare.output }"}'
    new = f"  - {{id: publish, kind: tool, tool: {name}, args: {args}}}"
    api.publish(APPROVAL.replace("name: approval", "name: gains").replace(old, new))
    async with api.http() as http:
        run_id = (await start_run(http, "gains"))["id"]
        await wait_waiting(http, run_id, "review")
        await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
        )
        failed = await wait_status(http, run_id, "failed")
        assert failed["steps"]["publish"]["error"]["type"] == "UnknownTool"

        def summarize(text: str) -> str:
            calls.append(text)
            return text.upper()

        register_tool(name=name)(summarize)  # the worker gains the tool
        try:
            out = await retry(http, run_id)
            assert (out["reused"], out["retried"]) == (["prepare", "review"], ["publish"])
            done = await wait_status(http, out["run_id"], "succeeded")
        finally:
            unregister(name)
        assert (done["result"], done["pending_human"], calls) == (
            "RELEASE V1",
            [],
            ["Release v1"],
        )


def unregister(name: str) -> None:
    """Take a tool a test registered off this process's registry."""
    _REGISTRY.pop(name, None)


def retried_count(workflow: str, mode: str = "retry") -> float:
    labels = {"workflow": workflow, "mode": mode}
    return REGISTRY.get_sample_value("kworkflow_runs_retried_total", labels) or 0.0
