"""``kworkflow schedules ...`` as subprocesses against a served API over real Temporal Schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.api.support import Api, api, wait_listed, wait_status
from tests.api.test_schedules import publish, report, wait_schedules
from tests.cli import kworkflow_async
from tests.cli.test_cli_remote import env_of

__all__ = ["api"]


async def test_publish_prints_the_schedules_it_made_and_deleted(api: Api, tmp_path: Path) -> None:
    schedule_id = f"{api.acme}:report:daily"
    env = env_of(api)
    path = tmp_path / "report.yaml"
    path.write_text(report())
    published = await kworkflow_async("publish", str(path), env=env)
    assert (published.code, published.stdout) == (
        0,
        f"published report v1\n  schedule {schedule_id}\n",
    )
    path.write_text(report().split("triggers:")[0])
    published = await kworkflow_async("publish", str(path), env=env)
    assert published.stdout == f"published report v2\n  deleted schedule {schedule_id}\n"


async def test_list_pause_show_resume_trigger_backfill(api: Api) -> None:
    schedule_id = f"{api.acme}:report:daily"
    env = env_of(api)
    async with api.http() as http:
        assert (await publish(http, report())).status_code == 201
        await wait_schedules(http, [schedule_id])

        listed = await kworkflow_async("schedules", "list", env=env)
        assert listed.code == 0, listed.stderr
        header, row = listed.stdout.splitlines()
        assert header.split() == ["ID", "VERSION", "STATE", "NEXT", "LAST", "RUN"]
        assert row.split()[:3] == [schedule_id, "1", "active"]

        paused = await kworkflow_async(
            "schedules", "pause", schedule_id, "--note", "freeze", env=env
        )
        assert (paused.code, paused.stdout) == (0, f"schedule {schedule_id} paused\n")
        again = await kworkflow_async("schedules", "pause", schedule_id, env=env)
        assert again.stdout == f"schedule {schedule_id} already paused\n"
        shown = await kworkflow_async("schedules", "show", schedule_id, env=env)
        assert shown.stdout.splitlines()[:4] == [
            f"schedule {schedule_id}: paused (freeze)",
            "  workflow: report v1",
            '  schedule: {"every": "1d", "input": {"team": "ops"}, "overlap": "skip"}',
            shown.stdout.splitlines()[3],
        ]
        resumed = await kworkflow_async("schedules", "resume", schedule_id, env=env)
        assert resumed.stdout == f"schedule {schedule_id} resumed\n"

        triggered = await kworkflow_async("schedules", "trigger", schedule_id, env=env)
        assert triggered.code == 0, triggered.stderr
        run_id = triggered.stdout.strip()
        assert run_id.startswith(f"{api.acme}:report:daily-")
        run = await wait_status(http, run_id, "succeeded")
        assert run["scheduled"]["schedule_id"] == schedule_id
        shown = await kworkflow_async("runs", "show", run_id, env=env)
        at = run["scheduled"]["scheduled_at"]
        assert f"scheduled by {schedule_id} for {at}" in shown.stdout.splitlines()

        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        end = midnight - timedelta(days=1)
        start = end - timedelta(days=2)
        args = ("--start", start.isoformat(), "--end", end.isoformat())
        filled = await kworkflow_async("schedules", "backfill", schedule_id, *args, env=env)
        assert filled.code == 0, filled.stderr
        first, last = (t.isoformat().replace("+00:00", "Z") for t in (start, end))
        assert filled.stdout == (
            f"schedule {schedule_id}: backfill of 3 run(s) from {first} to {last}\n"
        )
        await wait_listed(http, "workflow=report", lambda ids: len(ids) == 4, 30)

    other = await kworkflow_async("schedules", "show", schedule_id, env=env_of(api, api.globex))
    assert other.code == 1
    assert f"no schedule '{schedule_id}'" in other.stderr
