"""``kworkflow runs start --breakpoint`` and ``kworkflow runs continue`` as subprocesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.api.support import APPROVAL, Api, api, wait_run, wait_status
from tests.cli import following, kworkflow_async
from tests.cli.test_cli_remote import env_of, progress, run_ids

__all__ = ["api"]


def held_at(step: str, when: str) -> Any:
    return lambda v: (v.get("paused") or {}).get("at") == {"step": step, "when": when}


async def test_start_with_breakpoints_edit_and_continue(api: Api, tmp_path: Path) -> None:
    """Started held before `review` and after `publish`: the review's prompt is replaced from
    a file, a wrong edit is refused with exit 1 and the run's message, and publish's output is
    replaced; the result is the edited output."""
    api.publish(APPROVAL)
    env = env_of(api)
    bad = await kworkflow_async(
        "runs", "start", "approval", "--breakpoint", "review:later", env=env
    )
    assert (bad.code, bad.stderr) == (
        2,
        "kworkflow: --breakpoint review:later: expected STEP, STEP:after or STEP:both\n",
    )
    unknown = await kworkflow_async("runs", "start", "approval", "--breakpoint", "nope", env=env)
    assert unknown.code == 2
    assert "breakpoints: workflow 'approval' has no step 'nope'" in unknown.stderr

    given, run_id = run_ids(api, "approval")
    started = await kworkflow_async(
        "runs",
        "start",
        "approval",
        "--run-id",
        given,
        "--breakpoint",
        "review",
        "--breakpoint",
        "publish:after",
        env=env,
    )
    assert (started.code, started.stdout) == (0, f"{run_id}\n")
    async with api.http() as http:
        view = await wait_run(http, run_id, held_at("review", "before"), what="held at review")
        assert view["breakpoints"] == {"before": ["review"], "after": ["publish"]}
        assert view["steps"]["review"]["input"]["prompt"] == "Approve Release v1?"

        wrong = await kworkflow_async("runs", "continue", run_id, "--output", '"x"', env=env)
        assert (wrong.code, wrong.stdout) == (1, "")
        assert wrong.stderr == (
            f"kworkflow: run {run_id}: step 'review' is held before it starts: give `input`, "
            "not `output` (HTTP 422)\n"
        )
        edit = tmp_path / "input.json"
        edit.write_text(json.dumps({"prompt": "Really release v1?"}))
        went = await kworkflow_async("runs", "continue", run_id, "--input", f"@{edit}", env=env)
        assert (went.code, went.stdout) == (
            0,
            f"run {run_id} continued before review (input edited)\n",
        )
        view = await wait_run(http, run_id, lambda v: v["pending_human"], what="review waiting")
        assert view["pending_human"][0]["prompt"] == "Really release v1?"
        idle = await kworkflow_async("runs", "continue", run_id, env=env)
        assert (idle.code, idle.stderr) == (1, f"kworkflow: run {run_id} is not at a breakpoint\n")
        await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
        )

        view = await wait_run(http, run_id, held_at("publish", "after"), what="held after publish")
        assert view["steps"]["publish"]["output"] == "published"
        went = await kworkflow_async(
            "runs", "continue", run_id, "--step", "publish", "--output", '"rolled back"', env=env
        )
        assert (went.code, went.stdout) == (
            0,
            f"run {run_id} continued after publish (output edited)\n",
        )
        done = await wait_status(http, run_id, "succeeded")
        assert done["result"] == "rolled back"


async def test_follow_shows_where_the_run_is_held(api: Api) -> None:
    """`runs start --follow` shows the hold with the commands to inspect and continue it, and
    goes on to the result once another `runs continue` lets the run go on."""
    api.publish(APPROVAL)
    given, run_id = run_ids(api, "approval")
    env = env_of(api)
    args = ("runs", "start", "approval", "--run-id", given, "--breakpoint", "prepare:after")
    async with following(*args, "--follow", env=env) as follower:
        await follower.read_until("held after", "before the hold")
        went = await kworkflow_async(
            "runs", "continue", run_id, "--output", '"Release v9"', env=env
        )
        await follower.read_until("waiting for a person", "before the review")
        await kworkflow_async("respond", run_id, "review", "--data", '{"approved": true}', env=env)
        ended = await follower.end()
    assert went.code == 0
    assert (ended.code, ended.stdout) == (0, '"published"\n')
    lines = progress(ended.stderr)
    actor = f"{api.acme}:{api.keys[api.acme][:4]}"
    assert lines[1:4] == [
        "prepare    started",
        f"prepare    held after it ends (its output: kworkflow runs show {run_id} --json; go on: "
        f"kworkflow runs continue {run_id})",
        f"prepare    continued (edited) by {actor}",
    ]
