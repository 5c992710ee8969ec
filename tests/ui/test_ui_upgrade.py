"""Upgrading a paused run in the browser: the "Upgrade to vN" button, the version after, the
new version's steps in the graph, and a run that then goes on under it at a real tool server."""

from __future__ import annotations

from tests.api.support import Api, real_tool_api, start_run, wait_status
from tests.support.tool_server import ToolServer, tool_server
from tests.support.upgrades import V1, V2, WITHOUT_H
from tests.ui.test_ui import SHOTS, page, step

__all__ = ["page", "real_tool_api", "tool_server"]


async def test_upgrade_a_paused_run_from_its_page(api: Api, page, tool_server: ToolServer) -> None:
    """No upgrade button while the run runs or has no newer version; paused with v3 published,
    "Upgrade to v3" appears; a refused upgrade (v2 lacks h) shows the API's message in place;
    once upgraded the head says v3 and "upgraded from v1", the graph has `c`; answered and
    resumed, the tool server sees v3's `b` and `c`."""
    url = tool_server.url
    api.publish(V1.format(url=url))
    async with api.http() as http:
        run_id = (await start_run(http, "upgrade-flow"))["id"]
        await page.goto(f"{api.url}/ui/#/runs/{run_id}")
        human = page.locator('.human[data-step="h"]')
        await human.wait_for()
        assert await page.locator("#upgrade-run").is_hidden()
        await page.get_by_role("button", name="Pause run").click()
        await page.wait_for_selector(".run-head .badge.status-paused")
        assert await page.locator("#upgrade-run").is_hidden()  # v1 is the latest

        api.publish(WITHOUT_H.format(url=url))
        await page.reload()
        button = page.get_by_role("button", name="Upgrade to v2")
        await button.click()
        error = page.locator(".run-actions .form-error")
        await error.wait_for()
        assert await error.inner_text() == (
            f"version 2 does not match the steps run '{run_id}' has started: "
            "h: no such step in the new version"
        )
        assert (await http.get(f"/v1/runs/{run_id}")).json()["version"] == 1

        api.publish(V2.format(url=url))
        await page.reload()
        await page.get_by_role("button", name="Upgrade to v3").click()
        await page.wait_for_selector(".run-head .upgraded")
        actor = (await http.get(f"/v1/runs/{run_id}")).json()["upgraded"]["by"]
        assert await page.locator(".run-head .upgraded").inner_text() == (
            f"upgraded from v1 by {actor}"
        )
        assert await page.locator(".run-head .meta a").inner_text() == "upgrade-flow v3"
        await page.wait_for_selector(step("c", "pending"))
        assert await page.locator("#upgrade-run").is_hidden()
        assert await page.locator("#pause-run").inner_text() == "Resume run"
        await page.screenshot(path=SHOTS / "run-upgraded.png", full_page=True)

        await page.get_by_label("go").check()
        await human.get_by_role("button", name="Send answer").click()
        await page.wait_for_selector(step("h", "succeeded"))
        await page.get_by_role("button", name="Resume run").click()
        await page.wait_for_selector(".run-head .badge.status-succeeded")
        await page.wait_for_selector(step("c", "succeeded"))
        done = await wait_status(http, run_id, "succeeded")
        assert (done["result"], done["version"]) == ({"after": 11}, 3)
        assert [r.path for r in tool_server.calls()] == ["/a", "/b", "/c"]
        assert tool_server.calls("/b")[0].json == {"n": 11, "go": True}
