"""``kworkflow events send`` as a subprocess against a served API: a waiting run gets the event."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.support import Api, events_api, start_run, wait_status, waiting
from tests.api.test_cloudevents import WAITER
from tests.cli import kworkflow_async
from tests.cli.test_cli_remote import env_of

__all__ = ["events_api"]


async def test_events_send_reaches_the_waiting_run(events_api: Api, tmp_path: Path) -> None:
    api = events_api
    api.publish(WAITER)
    env = env_of(api)
    data = tmp_path / "paid.json"
    data.write_text('{"order": "A-7"}', encoding="utf-8")
    async with api.http() as http:
        run = await start_run(http, "waiter", {"order": "A-7"})
        await waiting(http, run["id"], "paid")
        sent = await kworkflow_async(
            "events",
            "send",
            "payment.received",
            "--data",
            f"@{data}",
            "--source",
            "/cli",
            "--id",
            "cli-1",
            env=env,
        )
        done = await wait_status(http, run["id"], "succeeded")
        bad = await kworkflow_async("events", "send", "it's", env=env)
    assert (sent.code, json.loads(sent.stdout)) == (
        0,
        {
            "already_started": [],
            "duplicate": False,
            "id": "cli-1",
            "signalled": [run["id"]],
            "skipped": [],
            "source": "/cli",
            "started": [],
            "type": "payment.received",
        },
    )
    assert done["result"]["event"] == {
        "specversion": "1.0",
        "type": "payment.received",
        "source": "/cli",
        "id": "cli-1",
        "datacontenttype": "application/json",
        "data": {"order": "A-7"},
    }
    assert bad.code == 1
    assert bad.stderr == (
        "kworkflow: `type` may not contain quotes, backslashes or control characters (HTTP 422)\n"
    )
