"""``kworkflow runs retry`` as a subprocess against a served API: one run, --from, bulk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.api.support import (
    APPROVAL,
    Api,
    real_tool_api,
    start_run,
    wait_listed,
    wait_status,
    wait_waiting,
)
from tests.api.test_fork import RATE
from tests.api.test_retry import staged
from tests.cli import kworkflow_async
from tests.cli.test_cli_remote import env_of, progress
from tests.support.tool_server import Reply, ToolServer, tool_server

__all__ = ["real_tool_api", "tool_server"]


async def test_retry_one_run_from_a_step_and_refusals(api: Api) -> None:
    """`--from publish` reuses the answer; the same retry again says so; a running run and a
    succeeded run without --from are refused with exit 1 and the API's reason."""
    api.publish(APPROVAL)
    env = env_of(api)
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, run_id, "review")
        running = await kworkflow_async("runs", "retry", run_id, env=env)
        assert (running.code, running.stdout) == (1, "")
        assert running.stderr == (
            f"kworkflow: run '{run_id}' is running: cannot retry it until it ends (HTTP 409)\n"
        )
        await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": True}}
        )
        await wait_status(http, run_id, "succeeded")
        bare = await kworkflow_async("runs", "retry", run_id, env=env)
        assert bare.code == 1 and "name a step to retry it from (HTTP 409)" in bare.stderr

        first = await kworkflow_async("runs", "retry", run_id, "--from", "publish", env=env)
        new_id = first.stdout.split()[1]
        assert (first.code, first.stdout) == (
            0,
            f"run {new_id} retries {run_id} (version 1)\n"
            "  reused:  prepare, review\n"
            "  retried: publish\n",
        )
        done = await wait_status(http, new_id, "succeeded")
        assert (done["result"], done["retry_of"]["run_id"]) == ("published", run_id)
        again = await kworkflow_async(
            "runs", "retry", run_id, "--from", "publish", "--version", "1", "--follow", env=env
        )
        assert (again.code, again.stdout) == (0, '"published"\n')
        assert progress(again.stderr) == [
            f"run {new_id} already retries {run_id} (version 1)",
            "  reused:  prepare, review",
            "  retried: publish",
            f"run        retry of {run_id} from publish",
            f"prepare    reused from {run_id}",
            f"review     reused from {run_id}",
            "publish    started",
            "publish    succeeded in <took>",
            "run        succeeded",
        ]
        misuse = await kworkflow_async("runs", "retry", "--workflow", "x", "--from", "a", env=env)
        assert (misuse.code, misuse.stderr) == (
            2,
            "kworkflow: --from, --version and --follow go with one RUN, not --workflow\n",
        )


async def test_bulk_retry(api: Api, tool_server: ToolServer) -> None:
    """`--workflow NAME` retries each failed run once and prints which retry is whose."""
    url = tool_server.route("/broken", Reply(400, json={"error": "no"}))
    api.publish(staged(url))
    env = env_of(api)
    async with api.http() as http:
        runs = sorted([(await start_run(http, "staged"))["id"] for _ in range(3)])
        for run_id in runs:
            await wait_status(http, run_id, "failed")
        await wait_listed(http, "workflow=staged&status=failed", lambda ids: len(ids) == 3)
        tool_server.route("/broken", Reply(json={"ok": 3}))
        out = await kworkflow_async("runs", "retry", "--workflow", "staged", env=env)
        lines = out.stdout.splitlines()
        assert (out.code, lines[0]) == (
            0,
            "retried 3 of 3 failed run(s) of staged (0 already retried, 0 skipped, 0 failed)",
        )
        pairs = [line.split(" -> ") for line in lines[1:]]
        assert [original.strip() for original, _ in pairs] == runs
        for _, new_id in pairs:
            assert (await wait_status(http, new_id, "succeeded"))["result"] == {"fetch": {"ok": 3}}
        again = await kworkflow_async("runs", "retry", "--workflow", "staged", env=env)
        assert again.stdout.splitlines()[0] == (
            "retried 0 of 3 failed run(s) of staged (3 already retried, 0 skipped, 0 failed)"
        )


async def test_show_and_follow_name_the_lineage(api: Api) -> None:
    """`runs show` says which run a retry retries and what the original was retried as."""
    api.publish(APPROVAL)
    env = env_of(api)
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, run_id, "review")
        await http.post(f"/v1/runs/{run_id}/cancel")
        await wait_status(http, run_id, "cancelled")
        new_id = (await http.post(f"/v1/runs/{run_id}/retry")).json()["run_id"]
        await wait_waiting(http, new_id, "review")
        shown = await kworkflow_async("runs", "show", new_id, env=env)
        assert shown.stdout.splitlines()[3] == f"retry of  {run_id}"
        await wait_run_listed(http, run_id, new_id)
        original = await kworkflow_async("runs", "show", run_id, env=env)
        assert f"retried   as {new_id}" in original.stdout.splitlines()
        await http.post(f"/v1/runs/{new_id}/cancel")


async def wait_run_listed(http: Any, run_id: str, new_id: str) -> None:
    """Until the original's view lists its retry (visibility lags)."""
    for _ in range(100):
        if (await http.get(f"/v1/runs/{run_id}")).json()["retries"] == [new_id]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run_id} never listed {new_id}")


async def test_fork_with_an_edited_output_from_a_file(api: Api, tmp_path: Path) -> None:
    """`runs fork RUN --from pick --set rate=@file --follow`: the edited model output takes
    the other branch; the progress names the edit; a malformed --set is a usage error."""
    api.publish(RATE)
    env = env_of(api)
    async with api.http() as http:
        run_id = (await start_run(http, "rate"))["id"]
        output = (await wait_status(http, run_id, "succeeded"))["steps"]["rate"]["output"]
    edit = tmp_path / "rate.json"
    edit.write_text(json.dumps({**output, "data": {"score": 3}}))
    forked = await kworkflow_async(
        "runs", "fork", run_id, "--from", "pick", "--set", f"rate=@{edit}", "--follow", env=env
    )
    assert (forked.code, forked.stdout) == (0, '{\n  "low": "low 3"\n}\n')
    lines = progress(forked.stderr)
    new_id = lines[0].split()[1]
    actor = f"{api.acme}:{api.keys[api.acme][:4]}"
    assert lines[:6] == [
        f"run {new_id} forks {run_id} (version 1)",
        "  reused:  rate",
        "  edited:  rate",
        "  retried: pick, high, low",
        f"run        fork of {run_id} from pick",
        f"rate       edited, from {run_id} by {actor}",
    ]
    bad = await kworkflow_async("runs", "fork", run_id, "--from", "pick", "--set", "rate", env=env)
    assert (bad.code, bad.stderr) == (
        2,
        "kworkflow: --set 'rate': expected STEP=JSON or STEP=@FILE\n",
    )
