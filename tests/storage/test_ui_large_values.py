"""The run page shows a step output the run view truncates, and loads it whole on request (a
real headless Chromium, see tests/ui/test_ui.py)."""

from __future__ import annotations

from tests.api.support import Api, api, start_run, wait_status
from tests.ui.test_ui import SHOTS, page, step

__all__ = ["api", "page"]  # the fixtures, imported for pytest

LARGE = 300_000

ONE_LARGE = f"""\
kworkflow: 1
name: one-large
steps:
  - {{id: big, kind: code, language: python, source: 'output = "q" * {LARGE}'}}
  - {{id: small, kind: aggregate, expr: 'size(steps.big.output)'}}
"""


async def test_a_large_output_is_loaded_whole_on_request(api: Api, page) -> None:
    api.publish(ONE_LARGE)
    async with api.http() as http:
        run_id = (await start_run(http, "one-large"))["id"]
        view = await wait_status(http, run_id, "succeeded")
        assert view["steps"]["big"]["output"] == {"$truncated": True, "size": LARGE + 2}
    await page.goto(f"{api.url}/ui/#/runs/{run_id}")
    await page.wait_for_selector(step("big", "succeeded"))
    await page.click(step("big"))
    await page.wait_for_selector("#step-detail h2:text-is('big')")
    truncated = page.locator("#step-detail pre.truncated")
    assert await truncated.inner_text() == "293 KiB: too large for the run view."
    await page.screenshot(path=SHOTS / "run-large-output.png", full_page=True)
    await page.get_by_role("button", name="Show it whole").click()
    await page.wait_for_selector("#step-detail pre.truncated", state="detached")
    outputs = page.locator("#step-detail section.block pre")
    assert await outputs.nth(1).inner_text() == '"' + "q" * LARGE + '"'
    assert await page.get_by_role("button", name="Show it whole").count() == 0
