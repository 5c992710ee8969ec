"""The definition editor in a real Chromium: completion from the schema, inline lint errors."""

from __future__ import annotations

from tests.api.support import Api, api
from tests.ui.test_ui import page

__all__ = ["api", "page"]  # the fixtures, imported for pytest

START = """\
kworkflow: 1
name: drafted
steps:
  - id: draft
"""


async def test_completion_offers_kinds_and_their_fields_and_errors_are_inline(
    api: Api, page
) -> None:
    await page.goto(f"{api.url}/ui/#/workflows")
    editor = page.locator("#lint-source")
    await editor.fill(START)
    await editor.press("End")
    await editor.evaluate("t => t.setSelectionRange(t.value.length, t.value.length)")
    await page.keyboard.type("    kind: ")
    options = page.locator("#editor-completions li")
    await options.first.wait_for()
    assert await options.all_inner_texts() == [
        "llm", "tool", "code", "agent", "subflow", "human", "event", "branch", "parallel",
        "aggregate",
    ]  # fmt: skip
    await page.keyboard.type("ll")
    assert await options.all_inner_texts() == ["llm"]
    await page.keyboard.press("Tab")
    assert (await editor.input_value()).endswith("    kind: llm")
    await page.keyboard.press("Enter")
    await page.keyboard.type("    pro")
    await options.first.wait_for()
    assert await options.all_inner_texts() == ["provider", "prompt"]  # the llm step's fields
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Tab")
    await page.keyboard.type("hi")
    await page.keyboard.press("Escape")
    await page.keyboard.press("Enter")
    await page.keyboard.type("    modle: gpt-4o")
    await page.keyboard.press("Escape")
    error = page.locator('#editor-problems .inline-error[data-line="7"]')
    await error.wait_for()
    assert await error.inner_text() == (
        "7:5 steps[0].modle unknown field `modle` (did you mean `model`?)"
    )
    assert await page.locator("#editor-problems .inline-error").count() == 1
    await error.click()
    cursor = await editor.evaluate("t => t.value.slice(0, t.selectionStart).split('\\n').length")
    assert cursor == 7
