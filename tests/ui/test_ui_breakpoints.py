"""Breakpoints in a real browser: markers on the graph, the held step's JSON editor, Continue."""

from __future__ import annotations

from tests.api.support import APPROVAL, Api, api, start_run, wait_status
from tests.ui.test_ui import SHOTS, page, step

__all__ = ["api", "page"]  # the fixtures, imported for pytest


async def test_continue_a_run_held_before_and_after_steps(api: Api, page) -> None:
    """Held before `review`: the graph marks both breakpoints, the panel shows the resolved
    input in an editor; a bad JSON and a bad edit are refused in place with the run still held;
    an edited prompt reaches the person; held after `publish`, its edited output is the
    result."""
    api.publish(APPROVAL)
    async with api.http() as http:
        breakpoints = {"before": ["review"], "after": ["publish"]}
        run_id = (await start_run(http, "approval", breakpoints=breakpoints))["id"]
        await page.goto(f"{api.url}/ui/#/runs/{run_id}")
        await page.wait_for_selector(step("review", "at_breakpoint"))
        assert await page.locator(f"{step('review')} .bp-marker.bp-before").count() == 1
        assert await page.locator(f"{step('publish')} .bp-marker.bp-after").count() == 1
        assert await page.locator(".bp-marker").count() == 2
        editor = page.locator("#breakpoint-value")
        await editor.wait_for()
        assert await page.locator(".block.breakpoint h3").text_content() == (
            "Held before review starts: its input (edit, then continue)"
        )
        shown = await editor.input_value()
        assert '"prompt": "Approve Release v1?"' in shown
        await page.screenshot(path=SHOTS / "run-breakpoint.png", full_page=True)

        errors = page.locator(".block.breakpoint .form-error")
        await editor.fill("{not json")
        await page.locator("#continue-run").click()
        await errors.wait_for()
        assert (await errors.inner_text()).startswith("not valid JSON: ")
        await editor.fill('{"nope": 1}')
        await page.locator("#continue-run").click()
        await page.wait_for_function(
            "document.querySelector('.block.breakpoint .form-error').textContent.includes('nope')"
        )
        assert await errors.inner_text() == (
            "input: a human step has no field 'nope' (its fields: assignees, default, form, prompt)"
        )
        view = (await http.get(f"/v1/runs/{run_id}")).json()
        assert view["paused"]["at"] == {"step": "review", "when": "before"}

        await editor.fill('{"prompt": "Ship it?"}')
        await page.locator("#continue-run").click()
        human = page.locator('.human[data-step="review"]')
        await human.wait_for()
        assert await human.locator(".prompt").inner_text() == "Ship it?"
        await page.get_by_label("approved").check()
        await human.get_by_role("button", name="Send answer").click()

        await page.wait_for_selector(step("publish", "at_breakpoint"))
        await page.locator('table.steps tr[data-step="publish"]').click()
        await page.wait_for_selector('.block.breakpoint[data-step="publish"]')
        assert (await editor.input_value()).strip() == '"published"'
        await editor.fill('"held back"')
        await page.locator("#continue-run").click()
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        done = await wait_status(http, run_id, "succeeded")
        assert done["result"] == "held back"
        assert done["steps"]["review"]["input"]["prompt"] == "Ship it?"
