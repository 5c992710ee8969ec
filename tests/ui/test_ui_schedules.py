"""The Schedules section of a workflow page in headless Chromium: state, next run, Pause,
Resume and Trigger now, against real Temporal Schedules."""

from __future__ import annotations

from datetime import datetime

from tests.api.support import Api, api, wait_status
from tests.api.test_schedules import publish, report, wait_schedules
from tests.ui.test_ui import SHOTS, page

__all__ = ["api", "page"]


async def test_pause_resume_and_trigger_from_the_workflow_page(api: Api, page) -> None:
    schedule_id = f"{api.acme}:report:daily"
    async with api.http() as http:
        assert (await publish(http, report())).status_code == 201
        await wait_schedules(http, [schedule_id])
        await page.goto(f"{api.url}/ui/#/workflows/report/1")
        row = page.locator(f'#schedules tr[data-schedule="{schedule_id}"]')
        await row.wait_for()
        assert await row.locator("td").nth(0).inner_text() == "daily"
        assert await row.locator(".state").inner_text() == "active"
        assert await row.locator(".next").inner_text() != "-"
        assert await row.locator(".last").inner_text() == "-"

        await row.get_by_role("button", name="Pause").click()
        paused = page.locator(f'#schedules tr[data-schedule="{schedule_id}"][data-state="paused"]')
        await paused.wait_for()
        assert await paused.locator(".state").inner_text() == "paused (paused via the API)"
        assert (await http.get(f"/v1/schedules/{schedule_id}")).json()["paused"] is True
        await page.screenshot(path=SHOTS / "schedules-paused.png", full_page=True)

        await paused.get_by_role("button", name="Resume").click()
        active = page.locator(f'#schedules tr[data-schedule="{schedule_id}"][data-state="active"]')
        await active.wait_for()
        assert (await http.get(f"/v1/schedules/{schedule_id}")).json()["paused"] is False

        await active.get_by_role("button", name="Trigger now").click()
        link = page.locator("#schedules .schedule-message a")
        await link.wait_for()
        run_id = await link.inner_text()
        assert run_id.startswith(f"{api.acme}:report:daily-")
        run = await wait_status(http, run_id, "succeeded")
        scheduled_at = datetime.fromisoformat(run["scheduled"]["scheduled_at"])
        last = page.locator(f'#schedules tr[data-schedule="{schedule_id}"] .last a')
        await last.wait_for()
        assert await last.get_attribute("href") == f"#/runs/{run_id.replace(':', '%3A')}"
        assert scheduled_at.tzinfo is not None
        await page.screenshot(path=SHOTS / "schedules-triggered.png", full_page=True)
        await link.click()
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        scheduled = await page.locator(".run-head .scheduled").inner_text()
        assert scheduled.startswith(f"scheduled by {schedule_id} for ")
        await page.goto(f"{api.url}/ui/#/runs")
        await page.wait_for_selector(f'tr[data-run="{run_id}"] .badge.status-succeeded')
