"""The web UI in a real browser: Debian's headless Chromium driven by Playwright (never a
browser download), against the real API, the session's Temporal dev server and a stand-in
worker. Screenshots of each page go to ``tests/output/ui/``.

Without ``/usr/bin/chromium`` the tests are skipped, unless ``CI`` is set: then they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.support import APPROVAL, Api, api, start_run, wait_listed, wait_status

__all__ = ["api"]  # the fixture, imported for pytest

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "output" / "ui"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 15_000

REVIEW = """\
kworkflow: 1
name: review
description: Nap, then ask a person to rate the nap.
steps:
  - id: warm
    kind: tool
    tool: flaky
    args: {succeed_on: 3}
    retry: {initial_interval: 100ms, backoff_coefficient: 1}
  - {id: nap, kind: tool, tool: sleep, args: {seconds: 1.5}}
  - id: rate
    kind: human
    prompt: "How was the nap? Rate it from 1 to 5."
    form:
      type: object
      required: [score]
      properties:
        score: {type: integer, minimum: 1, maximum: 5, description: "1 (bad) to 5 (great)"}
        comment: {type: string}
  - {id: thank, kind: aggregate, expr: '"thanks for " + string(steps.rate.output.data.score)'}
output: ${ steps.thank.output }
"""

BAD = """\
kworkflow: 1
name: broken
steps:
  - {id: a, kind: aggregate, expr: '1 +'}
  - {id: b, kind: tool}
"""


@pytest.fixture
async def page(api: Api) -> AsyncIterator[object]:
    """A fresh page of headless Chromium whose stored API key is the first tenant's."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        key = json.dumps(api.keys[api.acme])
        await context.add_init_script(f"localStorage.setItem('kworkflow.apiKey', {key})")
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield page
        finally:
            await browser.close()
        assert errors == [], f"the page raised: {errors}"


def step(name: str, status: str = "") -> str:
    """The selector of a step's node in the graph (with a status class)."""
    return f'#graph g.step[data-step="{name}"]' + (f".status-{status}" if status else "")


async def test_follow_a_run_and_answer_its_human_step(api: Api, page) -> None:
    api.publish(REVIEW)
    async with api.http() as http:
        run = await start_run(http, "review")
        run_id = run["id"]
        await page.goto(f"{api.url}/ui/#/runs/{run_id}")
        await page.wait_for_selector(step("nap", "running"))
        assert await page.locator("#graph g.step").count() == 4
        warm = page.locator('table.steps tr[data-step="warm"]')
        assert await warm.locator(".retries").inner_text() == "2"
        await page.screenshot(path=SHOTS / "run-running.png", full_page=True)

        await page.wait_for_selector(step("nap", "succeeded"))
        human = page.locator('.human[data-step="rate"]')
        await human.wait_for()
        assert await human.locator(".prompt").inner_text() == (
            "How was the nap? Rate it from 1 to 5."
        )
        await page.wait_for_selector(step("rate", "waiting"))
        await page.get_by_label("score").fill("9")
        await human.get_by_role("button", name="Send answer").click()
        error = human.locator(".form-error")
        await error.wait_for()
        assert await error.inner_text() == "data.score: 9 is greater than the maximum of 5"
        await page.click(step("nap"))
        await page.wait_for_selector("#step-detail h2:text-is('nap')")
        await page.screenshot(path=SHOTS / "run-waiting-invalid-answer.png", full_page=True)

        await page.get_by_label("score").fill("4")
        await human.get_by_role("button", name="Send answer").click()
        await page.wait_for_selector(step("thank", "succeeded"))
        assert await warm.locator("td").nth(3).inner_text() == "3"  # attempts
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        assert await page.locator("#run-progress").get_attribute("value") == "4"
        assert await page.locator(".progress-text").inner_text() == "4 / 4 steps done"
        assert await page.locator(".human").count() == 0
        await page.screenshot(path=SHOTS / "run-succeeded.png", full_page=True)

        ended = await wait_status(http, run_id, "succeeded")
        assert ended["result"] == "thanks for 4"
        assert ended["steps"]["rate"]["output"]["data"] == {"score": 4}

        await page.goto(f"{api.url}/ui/#/runs")
        await page.wait_for_selector(f'tr[data-run="{run_id}"] .badge.status-succeeded')
        await page.screenshot(path=SHOTS / "runs.png", full_page=True)


async def test_definitions_lint_and_start_a_run(api: Api, page) -> None:
    api.publish(APPROVAL)
    await page.goto(f"{api.url}/ui/#/workflows")
    await page.click('tr[data-workflow="approval"] a')
    await page.wait_for_selector(step("publish"))
    assert await page.locator("#graph g.step").count() == 3
    assert "name: approval" in await page.locator("#source").inner_text()
    await page.screenshot(path=SHOTS / "definition.png", full_page=True)

    await page.get_by_label("title").fill("v2")
    await page.get_by_role("button", name="Start run").click()
    await page.wait_for_url("**/ui/#/runs/*")
    await page.wait_for_selector('.human[data-step="review"]')
    assert await page.locator(".prompt").inner_text() == "Approve Release v2?"
    await page.get_by_label("approved").check()
    await page.get_by_role("button", name="Send answer").click()
    await page.wait_for_selector(".run-head .badge.status-succeeded")

    await page.goto(f"{api.url}/ui/#/workflows")
    await page.fill("#lint-source", BAD)
    await page.click("#lint")
    problems = page.locator("#lint-results .problems li")
    await problems.first.wait_for()
    assert await problems.all_inner_texts() == [
        "steps[1].tool line 5:5: missing required field `tool`"
    ]
    await page.screenshot(path=SHOTS / "definitions-lint.png", full_page=True)


NAPS = """\
kworkflow: 1
name: naps
steps:
  - {id: nap, kind: tool, tool: sleep, args: {seconds: 60}}
"""


async def test_pause_answer_and_resume_a_run(api: Api, page) -> None:
    """Pause from the run page: the badge says paused, the waiting person can still answer,
    the next step waits, the runs list filters paused runs; Resume finishes the run."""
    api.publish(APPROVAL)
    async with api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        await page.goto(f"{api.url}/ui/#/runs/{run_id}")
        human = page.locator('.human[data-step="review"]')
        await human.wait_for()
        await page.get_by_role("button", name="Pause run").click()
        await page.wait_for_selector(".run-head .badge.status-paused")
        assert await page.locator("#pause-run").inner_text() == "Resume run"
        assert (await http.get(f"/v1/runs/{run_id}")).json()["status"] == "paused"

        await page.get_by_label("approved").check()
        await human.get_by_role("button", name="Send answer").click()
        await page.wait_for_selector(step("review", "succeeded"))
        await page.wait_for_timeout(500)  # time for a wrongly started step to show
        assert (
            await page.locator('table.steps tr[data-step="publish"]').get_attribute("data-status")
            == "pending"
        )
        await page.screenshot(path=SHOTS / "run-paused.png", full_page=True)

        await page.goto(f"{api.url}/ui/#/runs?workflow=approval&status=paused")
        await page.wait_for_selector(f'tr[data-run="{run_id}"] .badge.status-paused')
        await page.goto(f"{api.url}/ui/#/runs/{run_id}")
        await page.get_by_role("button", name="Resume run").click()
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        await page.wait_for_selector(step("publish", "succeeded"))
        assert await page.locator("#pause-run").is_hidden()
        assert (await wait_status(http, run_id, "succeeded"))["result"] == "published"


SHORT_NAP = """\
kworkflow: 1
name: short-nap
steps:
  - {id: first, kind: aggregate, expr: "1"}
  - {id: nap, kind: tool, tool: sleep, args: {seconds: 2}}
edges: [{from: first, to: nap}]
"""


async def opened_after(page, run_id: str) -> str:
    """The id of the run the page opens once it has left ``run_id``'s page."""
    here = "decodeURIComponent(location.hash)"
    await page.wait_for_function(f"{here} !== {json.dumps('#/runs/' + run_id)}")
    return (await page.evaluate(here)).removeprefix("#/runs/")


async def test_retry_a_cancelled_run_and_follow_its_lineage(api: Api, page) -> None:
    """Retry run on a cancelled run opens the new run, which says what it retries and
    succeeds; Retry from here on one of its steps runs that step and what follows again; the
    original then links to its retry."""
    api.publish(SHORT_NAP)
    async with api.http() as http:
        original = (await start_run(http, "short-nap"))["id"]
        while (await http.get(f"/v1/runs/{original}")).json()["steps"]["nap"]["status"] != (
            "running"
        ):
            await asyncio.sleep(0.05)
        assert (await http.post(f"/v1/runs/{original}/cancel")).status_code == 202
        await page.goto(f"{api.url}/ui/#/runs/{original}")
        await page.wait_for_selector(".run-head .badge.status-cancelled")
        assert await page.locator("#cancel-run").is_hidden()
        await page.get_by_role("button", name="Retry run").click()
        retried = await opened_after(page, original)
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        assert await page.locator(".run-head .lineage").inner_text() == f"retry of {original}"
        assert (await wait_status(http, retried, "succeeded"))["retry_of"]["run_id"] == original

        await page.click(step("first"))  # "Retry from here" on a step of the ended run
        await page.get_by_role("button", name="Retry from here").click()
        again = await opened_after(page, retried)
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        lineage = page.locator(".run-head .lineage")
        assert await lineage.inner_text() == f"retry of {retried} from first"
        view = await wait_status(http, again, "succeeded")
        assert view["retry_of"]["from"] == "first"
        assert view["retry_of"]["retried"] == ["first", "nap"]
        await page.goto(f"{api.url}/ui/#/runs/{retried}")
        await page.click(f'.run-head .lineage a:text-is("{original}")')
        await page.wait_for_selector(".run-head .badge.status-cancelled")
        lineage = page.locator(".run-head .lineage")
        await lineage.wait_for()
        assert await lineage.inner_text() == f"retried as {retried}"


async def test_cancel_a_run_and_page_through_runs(api: Api, page) -> None:
    api.publish(NAPS)
    async with api.http() as http:
        runs = [(await start_run(http, "naps"))["id"] for _ in range(3)]
        oldest = runs[0]
        await page.goto(f"{api.url}/ui/#/runs/{oldest}")
        await page.wait_for_selector(step("nap", "running"))
        page.once("dialog", lambda dialog: dialog.dismiss())  # "no": nothing happens
        await page.get_by_role("button", name="Cancel run").click()
        assert (await http.get(f"/v1/runs/{oldest}")).json()["status"] == "running"
        page.once("dialog", lambda dialog: dialog.accept())
        await page.get_by_role("button", name="Cancel run").click()
        await page.wait_for_selector(".run-head .badge.status-cancelled")
        await page.wait_for_selector(step("nap", "cancelled"))
        assert await page.locator("#cancel-run").is_hidden()
        await page.screenshot(path=SHOTS / "run-cancelled.png", full_page=True)
        assert (await wait_status(http, oldest, "cancelled"))["steps"]["nap"]["status"] == (
            "cancelled"
        )
        await wait_listed(http, "workflow=naps&status=cancelled", lambda ids: ids == [oldest])

        # Temporal lists running runs first (newest first), then ended ones by end time
        await page.goto(f"{api.url}/ui/#/runs?workflow=naps&page_size=2")
        rows = page.locator("table.runs tbody tr")
        await page.wait_for_selector(f'tr[data-run="{runs[2]}"] .badge.status-running')
        assert await rows.evaluate_all("rows => rows.map(r => r.dataset.run)") == [
            runs[2],
            runs[1],
        ]
        assert await page.locator("#runs-newer").is_disabled()
        await page.screenshot(path=SHOTS / "runs-page-1.png", full_page=True)
        await page.click("#runs-older")
        await page.wait_for_selector(f'tr[data-run="{oldest}"] .badge.status-cancelled')
        assert await rows.count() == 1
        assert await page.locator("#runs-page").inner_text() == "page 2"
        assert await page.locator("#runs-older").is_disabled()
        await page.click("#runs-newer")
        await page.wait_for_selector(f'tr[data-run="{runs[2]}"]')
        assert await rows.count() == 2
        for run_id in runs[1:]:
            assert (await http.post(f"/v1/runs/{run_id}/cancel")).status_code == 202
