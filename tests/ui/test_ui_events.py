"""A run waiting on an ``event`` step in headless Chromium: the run view and the step detail show
the event type and filter it waits for, since when and its timeout, until the event arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.support import Api, cloudevent, events_api, send, start_run, wait_status, waiting
from tests.api.test_cloudevents import WAITER
from tests.ui.test_ui import SHOTS, page

__all__ = ["events_api", "page"]


@pytest.fixture
async def api(events_api: Api) -> AsyncIterator[Api]:
    """The events API (a worker that reads recent events) as the page's API."""
    yield events_api


async def test_the_run_view_shows_the_event_a_run_waits_for(api: Api, page) -> None:
    api.publish(WAITER)
    async with api.http() as http:
        run = await start_run(http, "waiter", {"order": "A-9"})
        pending = (await waiting(http, run["id"], "paid"))["pending_events"][0]
        await page.goto(f"{api.url}/ui/#/runs/{run['id']}")
        row = page.locator('#pending-events tr[data-step="paid"]')
        await row.wait_for()
        local = await page.evaluate(
            "(isos) => isos.map((iso) => new Date(iso).toLocaleString())",
            [pending["since"], pending["timeout_at"]],
        )
        assert await row.locator(".event-type").inner_text() == "payment.received"
        assert await row.locator(".event-filter").inner_text() == "event.data.order == input.order"
        assert await row.locator(".event-since").inner_text() == local[0]
        timeout = await row.locator(".event-timeout").inner_text()
        assert timeout.startswith(f"{local[1]} (in "), timeout
        await page.screenshot(path=SHOTS / "run-waiting-event.png", full_page=True)

        await row.get_by_role("link", name="paid").click()
        panel = page.locator("#step-detail")
        await panel.locator("h2", has_text="paid").wait_for()
        assert await panel.locator("dd .event-type").inner_text() == "payment.received"
        assert await panel.locator("dd .event-filter").inner_text() == (
            "event.data.order == input.order"
        )
        assert await panel.locator("dd .event-since").inner_text() == local[0]
        assert (await panel.locator("dd .event-timeout").inner_text()).startswith(local[1])

        answer = await send(http, cloudevent("payment.received", "ui-1", {"order": "A-9"}))
        assert answer["signalled"] == [run["id"]]
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        assert await page.locator("#pending-events").count() == 0
        assert await panel.locator("dd .event-type").count() == 0
        done = await wait_status(http, run["id"], "succeeded")
    assert done["result"]["done"] == "paid A-9"
    assert done["pending_events"] == []
