"""Compensation in the web UI, in real headless Chromium (see tests/ui/test_ui.py): the
Compensate button on a failed run whose definition has compensations, the compensation run it
opens, and the compensation shown on both runs' pages."""

from __future__ import annotations

from tests.api.support import Api, api, start_run, wait_status
from tests.ui.test_ui import SHOTS, opened_after, page

__all__ = ["api", "page"]  # the fixtures, imported for pytest

UNDO = """\
kworkflow: 1
name: {name}
steps:
  - {{id: a, kind: tool, tool: echo, args: {{x: 1}}, {undo}}}
  - {{id: b, kind: tool, tool: echo, args: {{y: 2}}, {undo}}}
  - {{id: c, kind: tool, tool: fail, args: {{type: Declined, retryable: false}}}}
"""
COMPENSATE = 'compensate: {kind: tool, tool: echo, args: {undo: "${ step.id }"}}'


async def test_compensate_a_failed_run_from_its_page(api: Api, page) -> None:
    api.publish(UNDO.format(name="undo", undo=COMPENSATE))
    api.publish(UNDO.format(name="plain", undo="retry: {max_attempts: 1}"))
    async with api.http() as http:
        plain = (await start_run(http, "plain"))["id"]
        await wait_status(http, plain, "failed")
        await page.goto(f"{api.url}/ui/#/runs/{plain}")
        await page.wait_for_selector(".run-head .badge.status-failed")
        await page.get_by_role("button", name="Retry run").wait_for()
        assert await page.locator("#compensate-run").is_hidden()  # nothing to compensate

        run_id = (await start_run(http, "undo"))["id"]
        await wait_status(http, run_id, "failed")
        await page.goto(f"{api.url}/ui/#/runs/{run_id}")
        await page.wait_for_selector(".run-head .badge.status-failed")
        await page.get_by_role("button", name="Compensate").click()
        new_id = await opened_after(page, run_id)
        assert new_id == f"{run_id}-compensate"
        await page.wait_for_selector("#compensation .badge.status-compensated")
        cells = "rows => rows.map((r) => [...r.cells].map((c) => c.textContent))"
        rows = await page.locator("#compensation tbody tr").evaluate_all(cells)
        assert rows == [["b", "tool", "succeeded", "1", ""], ["a", "tool", "succeeded", "1", ""]]
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        assert await page.locator("#compensate-run").is_hidden()
        lineage = page.locator(".run-head .lineage")
        assert await lineage.inner_text() == f"compensation of {run_id}"
        view = await wait_status(http, new_id, "succeeded")
        assert [s["output"] for s in view["compensation"]["steps"]] == [
            {"undo": "b"},
            {"undo": "a"},
        ]

        await page.goto(f"{api.url}/ui/#/runs/{run_id}")
        await page.wait_for_selector("#compensation .badge.status-compensated")
        heading = page.locator("#compensation h3")
        assert await heading.text_content() == f"Compensation compensated by {new_id}"
        assert await page.locator("#compensate-run").is_hidden()  # compensated already
        await page.screenshot(path=SHOTS / "run-compensated.png", full_page=True)
        await page.click(f'#compensation h3 a:text-is("{new_id}")')
        await page.wait_for_selector(".run-head .badge.status-succeeded")
