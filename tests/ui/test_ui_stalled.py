"""A stalled run in the browser: its badge, its failure, and the Cancel button that ends it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.api.support import APPROVAL, Api, serving_api, start_run, wait_run
from tests.api.test_stalls import BUG, BrokenDeploy
from tests.ui.test_ui import SHOTS, page

__all__ = ["page"]


@pytest.fixture
async def api(client: Client, task_queue: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The API over a worker whose deploy is broken: every run it takes stalls."""
    broken = Worker(
        client,
        task_queue=task_queue,
        workflows=[BrokenDeploy],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    database = f"sqlite:///{tmp_path / 'registry.db'}"
    async with (
        broken,
        serving_api(client, task_queue, database, cancel_grace=1.0, query_timeout=1.0) as served,
    ):
        served.publish(APPROVAL)
        yield served


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
