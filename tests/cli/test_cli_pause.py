"""``kworkflow runs pause|resume`` as subprocesses against a served API, one run and bulk."""

from __future__ import annotations

import asyncio

from tests.api.support import APPROVAL, GREET, Api, api, start_run, wait_status, wait_waiting
from tests.cli import following, kworkflow_async
from tests.cli.test_cli_remote import env_of, progress, run_ids

__all__ = ["api"]


async def test_pause_and_resume_a_followed_run(api: Api) -> None:
    """A run followed with `trigger --follow` is paused and resumed with the CLI: the follower
    shows both and goes on to the result; pausing twice says so."""
    api.publish(APPROVAL)
    given, run_id = run_ids(api, "approval")
    env = env_of(api)
    args = ("trigger", "approval", "--run-id", given, "--follow")
    async with following(*args, env=env) as follower:
        await follower.read_until("waiting for a person", "before the review step waited")
        paused = await kworkflow_async("runs", "pause", run_id, "--reason", "lunch", env=env)
        again = await kworkflow_async("runs", "pause", run_id, env=env)
        await follower.read_until(lambda seen: "paused" in seen.splitlines()[-1], "at the pause")
        answer = await kworkflow_async(
            "respond", run_id, "review", "--data", '{"approved": true}', env=env
        )
        resumed = await kworkflow_async("runs", "resume", run_id, env=env)
        ended = await follower.end()
    assert (paused.code, paused.stdout) == (0, f"run {run_id} paused\n")
    assert (again.code, again.stdout) == (0, f"run {run_id} was already paused\n")
    assert (answer.code, resumed.code) == (0, 0)
    assert resumed.stdout == f"run {run_id} resumed\n"
    assert (ended.code, ended.stdout) == (0, '"published"\n')
    lines = progress(ended.stderr)
    actor = f"{api.acme}:{api.keys[api.acme][:4]}"
    assert lines[5:] == [
        f"run        paused by {actor}: lunch",
        "review     succeeded in <took>",
        f"run        resumed by {actor}",
        "publish    started",
        "publish    succeeded in <took>",
        "run        succeeded",
    ]


async def test_bulk_pause_and_resume_and_refusals(api: Api) -> None:
    """`--workflow NAME` pauses every running run of NAME and prints the counts; an ended run
    is refused with exit 1 and the run's state."""
    api.publish(APPROVAL)
    api.publish(GREET)
    env = env_of(api)
    async with api.http() as http:
        runs = [(await start_run(http, "approval"))["id"] for _ in range(2)]
        for run_id in runs:
            await wait_waiting(http, run_id, "review")
        ended = (await start_run(http, "greet", {"name": "Ada"}))["id"]
        await wait_status(http, ended, "succeeded")
        for _ in range(50):  # visibility lags a little
            listed = (await http.get("/v1/runs?workflow=approval&status=running")).json()
            if len(listed["runs"]) == 2:
                break
            await asyncio.sleep(0.1)

        paused = await kworkflow_async("runs", "pause", "--workflow", "approval", env=env)
        assert (paused.code, paused.stdout) == (
            0,
            "paused 2 of 2 running run(s) of approval (0 already paused, 0 skipped, 0 failed)\n",
        )
        for run_id in runs:
            assert (await http.get(f"/v1/runs/{run_id}")).json()["status"] == "paused"
        for _ in range(50):  # the list reads the paused memo through visibility: it lags too
            listed = await kworkflow_async("runs", "list", "--status", "paused", env=env)
            ids = sorted(line.split()[0] for line in listed.stdout.splitlines()[1:])
            if ids == sorted(runs):
                break
            await asyncio.sleep(0.1)
        assert (listed.code, ids) == (0, sorted(runs))
        refused = await kworkflow_async("runs", "pause", ended, env=env)
        assert (refused.code, refused.stdout) == (1, "")
        assert refused.stderr == (
            f"kworkflow: run '{ended}' has ended (succeeded): cannot pause it (HTTP 409)\n"
        )
        unknown = await kworkflow_async("runs", "resume", "--workflow", "nobody", env=env)
        assert unknown.code == 1
        assert "nobody" in unknown.stderr and "(HTTP 404)" in unknown.stderr

        resumed = await kworkflow_async("runs", "resume", "--workflow", "approval", env=env)
        assert (resumed.code, resumed.stdout) == (
            0,
            "resumed 2 of 2 running run(s) of approval (0 already running, 0 skipped, 0 failed)\n",
        )
        for run_id in runs:
            await http.post(
                f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
            )
            assert (await wait_status(http, run_id, "succeeded"))["result"] == "published"
