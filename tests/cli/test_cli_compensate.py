"""``kworkflow runs compensate`` as a subprocess against a served API."""

from __future__ import annotations

import json

from tests.api.support import Api, real_tool_api, start_run, wait_status
from tests.api.test_compensation import FLIGHT_UNDO, HOTEL_UNDO, saga, script, undo_calls
from tests.cli import kworkflow_async
from tests.cli.test_cli_remote import env_of, progress
from tests.support.tool_server import ToolServer, tool_server

__all__ = ["real_tool_api", "tool_server"]


async def test_compensate_a_failed_run_and_refusals(api: Api, tool_server: ToolServer) -> None:
    """The failed run is compensated (the server sees flight's undo, then hotel's); asked again
    with --follow it names the same run and follows it to its end; the compensation run itself
    (succeeded) and an unknown run are refused with exit 1 and the API's reason."""
    script(tool_server)
    api.publish(saga(tool_server.url))
    env = env_of(api)
    async with api.http() as http:
        run_id = (await start_run(http, "saga"))["id"]
        await wait_status(http, run_id, "failed")
        first = await kworkflow_async("runs", "compensate", run_id, env=env)
        new_id = f"{run_id}-compensate"
        assert (first.code, first.stdout, first.stderr) == (
            0,
            f"run {new_id} compensates {run_id}\n  steps: flight, hotel\n",
            "",
        )
        await wait_status(http, new_id, "succeeded")
        assert undo_calls(tool_server) == [FLIGHT_UNDO, HOTEL_UNDO]

        again = await kworkflow_async("runs", "compensate", run_id, "--follow", env=env)
        assert again.code == 0
        result = json.loads(again.stdout)
        assert (result["status"], [s["step"] for s in result["steps"]]) == (
            "compensated",
            ["flight", "hotel"],
        )
        assert progress(again.stderr) == [
            f"run {new_id} already compensates {run_id}",
            "  steps: flight, hotel",
            f"run        compensation of {run_id}",
            f"hotel      reused from {run_id}",
            f"flight     reused from {run_id}",
            f"charge     reused from {run_id}",
            "run        compensation_started",
            "flight     compensating",
            "flight     compensated",
            "hotel      compensating",
            "hotel      compensated",
            "run        compensation_ended",
            "run        succeeded",
        ]
        assert len(undo_calls(tool_server)) == 2

        shown = await kworkflow_async("runs", "show", run_id, env=env)
        assert shown.code == 0
        assert [
            line for line in shown.stdout.splitlines() if "compensat" in line or "undo" in line
        ] == [
            f"compensation compensated by {new_id}",
            "  undo flight      succeeded   1 attempt",
            "  undo hotel       succeeded   1 attempt",
        ]
        shown = await kworkflow_async("runs", "show", new_id, env=env)
        assert f"undoes    {run_id}" in shown.stdout.splitlines()
        refused = await kworkflow_async("runs", "compensate", new_id, env=env)
        assert (refused.code, refused.stdout, refused.stderr) == (
            1,
            "",
            f"kworkflow: run '{new_id}' is succeeded: cannot compensate it: only a failed, "
            "cancelled or timed-out run is compensated (HTTP 409)\n",
        )
        missing = await kworkflow_async("runs", "compensate", "nope", env=env)
        assert (missing.code, missing.stderr) == (1, "kworkflow: no run 'nope' (HTTP 404)\n")
