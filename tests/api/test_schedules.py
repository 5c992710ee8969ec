"""Schedule triggers through the API, on the dev server's own Temporal Schedules: publish creates,
updates and deletes them; list, read, pause, resume, trigger now and backfill; tenants apart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.client import Client, ScheduleIntervalSpec, ScheduleOverlapPolicy
from temporalio.worker import Worker

from interpreter.limits import Limits, ScheduleLimits
from tests.api.support import Api, api, serving_api, wait_listed, wait_status

__all__ = ["api"]

REPORT = """\
kworkflow: 1
name: report
input:
  type: object
  required: [team]
  properties:
    team: {type: string}
steps:
  - {id: hello, kind: aggregate, expr: '"report for " + input.team'}
output: ${ steps.hello.output }
triggers:
  - name: daily
    schedule: {every: 1d, input: {team: %s}, overlap: %s}
    priority: 2
"""


def report(team: str = "ops", overlap: str = "skip", every: str = "1d") -> str:
    return (REPORT % (team, overlap)).replace("every: 1d", f"every: {every}")


async def publish(http: httpx.AsyncClient, text: str) -> httpx.Response:
    return await http.post(
        "/v1/workflows", content=text, headers={"Content-Type": "application/yaml"}
    )


async def wait_schedules(
    http: httpx.AsyncClient, expected: list[str], query: str = ""
) -> list[dict[str, Any]]:
    """Poll GET /v1/schedules (visibility lags) until it lists exactly ``expected``."""
    listed: list[dict[str, Any]] = []
    for _ in range(100):
        response = await http.get(f"/v1/schedules{query}")
        assert response.status_code == 200, response.text
        listed = response.json()["schedules"]
        if [s["id"] for s in listed] == expected:
            return listed
        await asyncio.sleep(0.1)
    raise AssertionError(f"GET /v1/schedules never listed {expected}: {listed}")


async def test_publish_creates_the_schedule_and_trigger_starts_a_run(
    api: Api, client: Client
) -> None:
    """`every: 1d` is an daily interval schedule; trigger now starts a run of the version with
    the trigger's input, in the tenant's list, whose view names the schedule and the time."""
    schedule_id = f"{api.acme}:report:daily"
    async with api.http() as http:
        response = await publish(http, report())
        assert response.status_code == 201, response.text
        assert (response.json()["schedules"], response.json()["schedules_deleted"]) == (
            [schedule_id],
            [],
        )
        described = await client.get_schedule_handle(schedule_id).describe()
        assert described.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(days=1))]
        assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert described.schedule.policy.catchup_window == timedelta(hours=1)

        view = (await http.get(f"/v1/schedules/{schedule_id}")).json()
        assert {k: view[k] for k in ("id", "tenant", "workflow", "trigger", "version")} == {
            "id": schedule_id,
            "tenant": api.acme,
            "workflow": "report",
            "trigger": "daily",
            "version": 1,
        }
        assert view["schedule"] == {"every": "1d", "input": {"team": "ops"}, "overlap": "skip"}
        assert (view["paused"], view["recent_runs"], view["actions"]) == (False, [], 0)
        next_run = datetime.fromisoformat(view["next_runs"][0])
        assert (next_run.hour, next_run.minute, next_run.second) == (0, 0, 0)
        assert next_run - datetime.now(UTC) <= timedelta(days=1)
        listed = await wait_schedules(http, [schedule_id])
        assert (listed[0]["workflow"], listed[0]["trigger"], listed[0]["version"]) == (
            "report",
            "daily",
            1,
        )

        triggered = await http.post(f"/v1/schedules/{schedule_id}/trigger")
        assert triggered.status_code == 202, triggered.text
        run_id = triggered.json()["run_id"]
        assert run_id.startswith(f"{api.acme}:report:daily-")
        run = await wait_status(http, run_id, "succeeded")
        assert (run["result"], run["version"], run["workflow"]) == ("report for ops", 1, "report")
        assert run["priority"] == 2  # the trigger's
        assert run["scheduled"]["schedule_id"] == schedule_id
        scheduled_at = datetime.fromisoformat(run["scheduled"]["scheduled_at"])
        assert abs(scheduled_at - datetime.now(UTC)) < timedelta(seconds=30)
        await wait_listed(http, "workflow=report", lambda ids: ids == [run_id])
        view = (await http.get(f"/v1/schedules/{schedule_id}")).json()
        assert [r["run_id"] for r in view["recent_runs"]] == [run_id]

    async with api.http(api.globex) as other:
        for method, path in (
            ("GET", ""),
            ("POST", "/pause"),
            ("POST", "/resume"),
            ("POST", "/trigger"),
        ):
            response = await other.request(method, f"/v1/schedules/{schedule_id}{path}")
            assert (response.status_code, response.json()) == (
                404,
                {"detail": f"no schedule '{schedule_id}'"},
            )
        response = await other.get(f"/v1/runs/{run_id}")
        assert response.status_code == 404
        assert (await other.get("/v1/schedules")).json() == {"schedules": []}


async def test_pause_survives_a_new_version_and_resume(api: Api) -> None:
    """A paused schedule stays paused (with its note) when version 2 updates its input and
    overlap; pausing twice changes nothing; resume runs it again."""
    schedule_id = f"{api.acme}:report:daily"
    async with api.http() as http:
        assert (await publish(http, report())).status_code == 201
        paused = await http.post(f"/v1/schedules/{schedule_id}/pause", json={"note": "freeze"})
        assert paused.status_code == 200, paused.text
        assert paused.json() == {
            "schedule_id": schedule_id,
            "paused": True,
            "note": "freeze",
            "changed": True,
        }
        again = await http.post(f"/v1/schedules/{schedule_id}/pause")
        assert (again.json()["changed"], again.json()["note"]) == (False, "freeze")

        response = await publish(http, report("sales", "buffer_one"))
        assert response.status_code == 201, response.text
        assert response.json()["schedules"] == [schedule_id]
        view = (await http.get(f"/v1/schedules/{schedule_id}")).json()
        assert (view["version"], view["paused"], view["note"]) == (2, True, "freeze")
        assert view["schedule"] == {
            "every": "1d",
            "input": {"team": "sales"},
            "overlap": "buffer_one",
        }

        resumed = await http.post(f"/v1/schedules/{schedule_id}/resume", json={"note": "go"})
        assert resumed.json() == {
            "schedule_id": schedule_id,
            "paused": False,
            "note": "go",
            "changed": True,
        }
        view = (await http.get(f"/v1/schedules/{schedule_id}")).json()
        assert (view["paused"], view["note"]) == (False, "go")
        run_id = (await http.post(f"/v1/schedules/{schedule_id}/trigger")).json()["run_id"]
        run = await wait_status(http, run_id, "succeeded")
        assert (run["result"], run["version"]) == ("report for sales", 2)


async def test_backfill_starts_one_run_per_past_fire_time(api: Api) -> None:
    """`every: 1m` over a past range of five minutes starts six runs (both ends included), each
    scheduled for its minute, though the schedule is paused; a range of more fire times than the
    maximum, or in the future, is refused."""
    schedule_id = f"{api.acme}:report:daily"
    async with api.http() as http:
        assert (await publish(http, report(every="1m"))).status_code == 201
        await http.post(f"/v1/schedules/{schedule_id}/pause")  # no run at the next minute
        end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
        start = end - timedelta(minutes=5)
        body = {"start": start.isoformat(), "end": end.isoformat()}
        response = await http.post(f"/v1/schedules/{schedule_id}/backfill", json=body)
        assert response.status_code == 202, response.text
        assert response.json()["runs"] == 6
        expected = [start + timedelta(minutes=m) for m in range(6)]
        listed = await wait_listed(http, "workflow=report", lambda ids: len(ids) == 6, 30)
        times = []
        for run_id in listed:
            run = await wait_status(http, run_id, "succeeded")
            assert run["scheduled"]["schedule_id"] == schedule_id
            times.append(datetime.fromisoformat(run["scheduled"]["scheduled_at"]))
        assert sorted(times) == expected

        day = {"start": (end - timedelta(days=1)).isoformat(), "end": end.isoformat()}
        response = await http.post(f"/v1/schedules/{schedule_id}/backfill", json=day)
        assert response.status_code == 422
        assert response.json()["detail"].startswith("the range holds more than 100 fire times")
        future = {"start": end.isoformat(), "end": (end + timedelta(days=1)).isoformat()}
        response = await http.post(f"/v1/schedules/{schedule_id}/backfill", json=future)
        assert response.json() == {"detail": "end: a backfill covers past times only"}


async def test_a_version_without_the_trigger_deletes_its_schedule(api: Api, client: Client) -> None:
    """Version 2 drops `daily` and adds `nightly` (cron, time zone): `daily` is deleted."""
    old_id, new_id = f"{api.acme}:report:daily", f"{api.acme}:report:nightly"
    async with api.http() as http:
        assert (await publish(http, report())).status_code == 201
        text = report().replace(
            "  - name: daily\n    schedule: {every: 1d, input: {team: ops}, overlap: skip}",
            "  - name: nightly\n    schedule: {cron: '0 2 * * *', timezone: Europe/Paris, "
            "input: {team: ops}}",
        )
        response = await publish(http, text)
        assert response.status_code == 201, response.text
        assert (response.json()["schedules"], response.json()["schedules_deleted"]) == (
            [new_id],
            [old_id],
        )
        assert (await http.get(f"/v1/schedules/{old_id}")).status_code == 404
        view = (await http.get(f"/v1/schedules/{new_id}")).json()
        first = datetime.fromisoformat(view["next_runs"][0])
        assert first.astimezone(ZoneInfo("Europe/Paris")).hour == 2
        await wait_schedules(http, [new_id])
        without = report().split("triggers:")[0]
        response = await publish(http, without)
        assert response.json()["schedules_deleted"] == [new_id]
        await wait_schedules(http, [])


async def test_a_trigger_every_second_is_refused_where_it_is_written(api: Api) -> None:
    """`every: 1s` is under the one-minute floor: 422, located, nothing published."""
    async with api.http() as http:
        response = await publish(http, report(every="1s"))
        assert response.status_code == 422, response.text
        assert response.json()["problems"] == [
            {
                "path": "triggers[0].schedule.every",
                "message": "'1s' fires more often than this server's minimum interval of 1m "
                "(limits.schedules.min_interval)",
                "line": 13,
                "column": 23,
                "step": None,
                "code": "limit",
                "severity": "error",
            }
        ]
        assert (await http.get("/v1/workflows/report")).status_code == 404


async def test_the_tenant_quota_counts_every_workflow(
    client: Client, task_queue: str, worker: Worker, tmp_path: Path
) -> None:
    """With `max_per_tenant: 1`, a second workflow's trigger is refused while the first one's
    schedule exists; another tenant has a quota of its own. A paused schedule still triggers."""
    limits = Limits(schedules=ScheduleLimits(max_per_tenant=1))
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    async with serving_api(client, task_queue, url, limits=limits) as served:
        async with served.http() as http:
            assert (await publish(http, report())).status_code == 201
            await wait_schedules(http, [f"{served.acme}:report:daily"])
            response = await publish(http, report().replace("name: report", "name: digest"))
            assert response.status_code == 422, response.text
            assert [(p["path"], p["message"]) for p in response.json()["problems"]] == [
                (
                    "triggers",
                    "the tenant would have 2 schedules, over this server's maximum of 1 "
                    "(limits.schedules.max_per_tenant)",
                )
            ]
            again = await publish(http, report("sales"))
            assert (again.status_code, again.json()["version"]) == (201, 2)

            schedule_id = f"{served.acme}:report:daily"
            await http.post(f"/v1/schedules/{schedule_id}/pause")
            run_id = (await http.post(f"/v1/schedules/{schedule_id}/trigger")).json()["run_id"]
            assert (await wait_status(http, run_id, "succeeded"))["result"] == "report for sales"
        async with served.http(served.globex) as other:
            assert (await publish(other, report())).status_code == 201


async def test_two_schedules_whose_names_join_alike_start_runs_of_their_own(api: Api) -> None:
    """Workflow `ab-x` with trigger `y` and workflow `ab` with trigger `x-y`: each schedule's
    run of one fire time has an id of its own (they were both `<tenant>:ab-x-y-<time>`, so one
    run took the other's id and each schedule listed the other's run as its own)."""

    def hourly(workflow: str, trigger: str) -> str:
        return (
            f"kworkflow: 1\nname: {workflow}\nsteps: [{{id: a, kind: aggregate, expr: '1'}}]\n"
            f"triggers:\n  - {{name: {trigger}, schedule: {{every: 1h}}}}\n"
        )

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    body = {"start": (end - timedelta(minutes=30)).isoformat(), "end": end.isoformat()}
    async with api.http() as http:
        ids: dict[str, str] = {}
        for workflow, trigger in (("ab-x", "y"), ("ab", "x-y")):
            assert (await publish(http, hourly(workflow, trigger))).status_code == 201
            schedule_id = f"{api.acme}:{workflow}:{trigger}"
            response = await http.post(f"/v1/schedules/{schedule_id}/backfill", json=body)
            assert response.status_code == 202, response.text
            [run_id] = await wait_listed(http, f"workflow={workflow}", lambda i: len(i) == 1, 30)
            run = await wait_status(http, run_id, "succeeded")
            assert (run["workflow"], run["scheduled"]["schedule_id"]) == (workflow, schedule_id)
            ids[workflow] = run_id
    assert ids["ab-x"] != ids["ab"]
