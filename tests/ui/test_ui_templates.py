""" "New from template" on the Definitions page in headless Chromium: the picker lists the
shipped templates, loads one's YAML into the editor, which lints clean and publishes; loading
over text already in the editor asks first."""

from __future__ import annotations

import asyncio

from examples import templates
from tests.api.support import Api, api
from tests.ui.test_ui import SHOTS, page

__all__ = ["api", "page"]


async def test_new_from_template_loads_lints_and_publishes(api: Api, page) -> None:
    await page.goto(f"{api.url}/ui/#/workflows")
    picker = page.locator("#template-picker")
    await page.wait_for_selector('#template-picker option[value="sdr-pipeline"]', state="attached")
    options = await picker.locator("option").all_inner_texts()
    assert options == ["Choose a template…", *templates.names()]
    await picker.select_option("review-loop")
    about = page.locator("#template-about")
    assert await about.inner_text() == templates.get("review-loop").description
    await page.get_by_role("button", name="Load into the editor").click()
    await page.wait_for_function(
        "document.querySelector('#lint-source').value.includes('name: review-loop')"
    )
    assert await page.locator("#lint-source").input_value() == templates.get("review-loop").workflow
    await page.screenshot(path=SHOTS / "definitions-template.png", full_page=True)

    await page.click("#lint")
    await page.wait_for_selector("#lint-results .ok")
    assert await page.locator("#lint-results").inner_text() == "No problems found."
    await page.click("#publish")
    await page.wait_for_url("**/ui/#/workflows/review-loop/1")
    await page.wait_for_selector("#source")
    async with api.http() as http:
        published = (await http.get("/v1/workflows/review-loop")).json()
    assert published["version"] == 1


async def test_loading_over_text_in_the_editor_asks_first(api: Api, page) -> None:
    await page.goto(f"{api.url}/ui/#/workflows")
    await page.wait_for_selector('#template-picker option[value="advisor"]', state="attached")
    await page.fill("#lint-source", "kworkflow: 1\nname: mine\n")
    await page.locator("#template-picker").select_option("advisor")
    answers = iter([False, True])
    asked: list[str] = []

    async def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        await (dialog.accept() if next(answers) else dialog.dismiss())

    page.on("dialog", on_dialog)
    await page.get_by_role("button", name="Load into the editor").click()
    for _ in range(100):  # the dialog is handled in its own task
        if asked:
            break
        await asyncio.sleep(0.05)
    assert await page.locator("#lint-source").input_value() == "kworkflow: 1\nname: mine\n"
    await page.get_by_role("button", name="Load into the editor").click()
    await page.wait_for_function(
        "document.querySelector('#lint-source').value.includes('name: advisor')"
    )
    assert asked == ["Replace the definition in the editor?"] * 2
