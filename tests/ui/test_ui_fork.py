"""Fork from here in the browser: edit an output before a step in a JSON editor, and the new
run takes the other branch; a value that is not JSON is refused in place."""

from __future__ import annotations

from tests.api.support import Api, api, start_run, wait_status
from tests.ui.test_ui import SHOTS, opened_after, page, step

__all__ = ["api", "page"]

SCORED = """\
kworkflow: 1
name: scored
steps:
  - {id: score, kind: aggregate, expr: "3"}
  - id: decide
    kind: branch
    cases: [{when: "steps.score.output > 5", to: high}]
    default: low
  - {id: high, kind: aggregate, expr: '"high"'}
  - {id: low, kind: aggregate, expr: '"low"'}
edges: [{from: score, to: decide}, {from: decide, to: [high, low]}]
output: ${ steps.decide.output.taken }
"""


async def test_fork_from_a_step_with_an_edited_output(api: Api, page) -> None:
    """Fork from `decide` with `score` edited to 10: the fork takes `high` where the original
    took `low`, says what it forks, and records the edit; the original is unchanged."""
    api.publish(SCORED)
    async with api.http() as http:
        original = (await start_run(http, "scored"))["id"]
        assert (await wait_status(http, original, "succeeded"))["result"] == "low"
        await page.goto(f"{api.url}/ui/#/runs/{original}")
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        await page.click(step("decide"))
        await page.get_by_role("button", name="Fork from here").click()
        await page.wait_for_selector(".fork-editor")
        options = await page.locator("#fork-step option").all_inner_texts()
        assert options == ["score"]  # decide, high and low run again; nothing else ended
        await page.get_by_role("button", name="Edit output").click()
        editor = page.get_by_label("output of score")
        assert await editor.input_value() == "3"

        await editor.fill("{ten")
        await page.get_by_role("button", name="Start fork").click()
        error = page.locator(".fork-editor .form-error")
        await error.wait_for()
        assert (await error.inner_text()).startswith("output of score: not JSON (")
        assert page.url.endswith(f"#/runs/{original}")

        await editor.fill("10")
        await page.screenshot(path=SHOTS / "run-fork-editor.png", full_page=True)
        await page.get_by_role("button", name="Start fork").click()
        forked = await opened_after(page, original)
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        lineage = page.locator(".run-head .lineage")
        assert await lineage.inner_text() == f"fork of {original} from decide"
        await page.wait_for_selector(step("high", "succeeded"))
        await page.wait_for_selector(step("low", "skipped"))
        view = await wait_status(http, forked, "succeeded")
        assert view["result"] == "high"
        assert view["retry_of"]["edited"] == ["score"]
        assert view["steps"]["score"]["output"] == 10
        assert (await http.get(f"/v1/runs/{original}")).json()["result"] == "low"
