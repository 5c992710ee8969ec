"""``kworkflow runs upgrade`` as a subprocess against a served API, with a real tool server."""

from __future__ import annotations

import json

from tests.api.support import Api, real_tool_api, wait_status, wait_waiting
from tests.cli import following, kworkflow_async
from tests.cli.test_cli_remote import env_of, progress, run_ids
from tests.support.tool_server import ToolServer, tool_server
from tests.support.upgrades import V1, V2, WITHOUT_H

__all__ = ["real_tool_api", "tool_server"]


async def test_upgrade_a_paused_run_from_the_cli(api: Api, tool_server: ToolServer) -> None:
    """Not paused: exit 1 with the run's state. Paused: a version without the waiting h is
    refused (exit 1, h named); `runs upgrade RUN` (the latest) prints what changed, `runs show`
    says v2 and who upgraded it; answered and resumed, the tool server sees v2's b and c."""
    api.publish(V1.format(url=tool_server.url))
    env = env_of(api)
    given, run_id = run_ids(api, "upgrade-flow")
    async with following("trigger", "upgrade-flow", "--run-id", given, "--follow", env=env) as f:
        await f.read_until("waiting for a person", "before h waited")
        await steps(api, tool_server, run_id, env)
        ended = await f.end()
    assert (ended.code, json.loads(ended.stdout)) == (0, {"after": 11})
    actor = f"{api.acme}:{api.keys[api.acme][:4]}"
    lines = progress(ended.stderr)
    assert lines[5:] == [
        f"run        paused by {actor}",
        f"run        upgraded from v1 to v3 by {actor}",
        "h          succeeded in <took>",
        f"run        resumed by {actor}",
        "b          started",
        "b          succeeded in <took>",
        "c          started",
        "c          succeeded in <took>",
        "run        succeeded",
    ]


async def steps(api: Api, tool_server: ToolServer, run_id: str, env: dict[str, str]) -> None:
    """What the CLI does to the run while `trigger --follow` follows it."""
    url = tool_server.url
    async with api.http() as http:
        await wait_waiting(http, run_id, "h")
        assert api.publish(WITHOUT_H.format(url=url)) == 2
        running = await kworkflow_async("runs", "upgrade", run_id, env=env)
        assert (running.code, running.stdout) == (1, "")
        assert running.stderr == (
            f"kworkflow: run '{run_id}' is running, not paused: pause it before upgrading it "
            "(HTTP 409)\n"
        )
        paused = await kworkflow_async("runs", "pause", run_id, env=env)
        assert paused.code == 0, paused.stderr
        mismatch = await kworkflow_async("runs", "upgrade", run_id, "--version", "2", env=env)
        assert (mismatch.code, mismatch.stdout) == (1, "")
        assert mismatch.stderr == (
            f"kworkflow: version 2 does not match the steps run '{run_id}' has started: "
            "h: no such step in the new version (HTTP 422)\n"
        )
        assert api.publish(V2.format(url=url)) == 3
        upgraded = await kworkflow_async("runs", "upgrade", run_id, env=env)
        assert (upgraded.code, upgraded.stderr) == (0, "")
        assert upgraded.stdout == (
            f"run {run_id} upgraded from v1 to v3\n"
            "  added:   c\n"
            "  removed: -\n"
            f"  still paused: kworkflow runs resume {run_id}\n"
        )
        shown = await kworkflow_async("runs", "show", run_id, env=env)
        actor = f"{api.acme}:{api.keys[api.acme][:4]}"
        assert shown.stdout.splitlines()[0] == f"run {run_id}: upgrade-flow v3"
        assert f"upgraded  from v1 by {actor}" in shown.stdout.splitlines()
        unknown = await kworkflow_async("runs", "upgrade", run_id, "--version", "9", env=env)
        assert unknown.code == 1 and "(HTTP 404)" in unknown.stderr
        answer = await kworkflow_async("respond", run_id, "h", "--data", '{"go": true}', env=env)
        resumed = await kworkflow_async("runs", "resume", run_id, env=env)
        assert (answer.code, resumed.code) == (0, 0)
        done = await wait_status(http, run_id, "succeeded")
        assert done["result"] == {"after": 11}
        assert [r.path for r in tool_server.calls()] == ["/a", "/b", "/c"]
        assert tool_server.calls("/b")[0].json == {"n": 11, "go": True}
