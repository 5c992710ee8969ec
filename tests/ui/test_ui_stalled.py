"""A stalled run in the browser: its badge, its failure, and the Cancel button that ends it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.support import Api, start_run, wait_run
from tests.api.test_stalls import BUG, stalled_api
from tests.ui.test_ui import SHOTS, page

__all__ = ["page", "stalled_api"]


@pytest.fixture
async def api(stalled_api: Api) -> AsyncIterator[Api]:
    """The API over a worker whose deploy is broken (every run it takes stalls) as the page's."""
    yield stalled_api


async def test_a_stalled_run_shows_its_failure_and_cancel_ends_it(api: Api, page) -> None:
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        await wait_run(http, run_id, lambda v: v["status"] == "stalled", timeout=30)
        await page.goto(f"{api.url}/ui/#/runs/{run_id}")
        await page.wait_for_selector(".run-head .badge.status-stalled")
        error = page.locator(".run-head .form-error")
        assert BUG in await error.inner_text()
        await page.screenshot(path=SHOTS / "run-stalled.png", full_page=True)
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name="Cancel run").click()
        await page.wait_for_selector(".run-head .badge.status-terminated")
        assert (await http.get(f"/v1/runs/{run_id}")).json()["status"] == "terminated"
