"""``kworkflow trigger NAME --priority N`` as a subprocess against a served API."""

from __future__ import annotations

from tests.api.support import GREET, Api, api, wait_status
from tests.cli import kworkflow_async
from tests.cli.test_cli_remote import env_of, run_ids

__all__ = ["api"]


async def test_trigger_with_a_priority_and_a_refused_one(api: Api) -> None:
    """`--priority 1` starts a run whose view says priority 1; `--priority 9` starts nothing
    and says what is allowed."""
    api.publish(GREET)
    given, run_id = run_ids(api, "greet")
    env = env_of(api)
    started = await kworkflow_async(
        "trigger", "greet", "--input", '{"name": "Ada"}', "--run-id", given, "--priority", "1",
        env=env,
    )  # fmt: skip
    assert (started.code, started.stdout.strip()) == (0, run_id), started.stderr
    async with api.http() as http:
        assert (await wait_status(http, run_id, "succeeded"))["priority"] == 1
    refused = await kworkflow_async("trigger", "greet", "--priority", "9", env=env)
    assert (refused.code, refused.stdout) == (2, "")
    assert "argument --priority: expected 1 to 5, got 9" in refused.stderr
