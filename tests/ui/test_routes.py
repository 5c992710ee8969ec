"""The UI's routes over HTTP: a public page and files, keyed SVG graphs checked per tenant."""

from __future__ import annotations

from tests.api.support import APPROVAL, Api, api, start_run, wait_status

__all__ = ["api"]  # the fixture, imported for pytest


async def test_the_page_and_its_files_need_no_key(api: Api) -> None:
    async with api.http("") as http:
        page = await http.get("/ui")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert '<script type="module" src="/ui/static/app.js">' in page.text
        script = await http.get("/ui/static/app.js")
        assert script.status_code == 200
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        css = await http.get("/ui/static/style.css")
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        for missing in ("/ui/static/nope.js", "/ui/static/..%2F..%2Fapp.py", "/ui/static/"):
            response = await http.get(missing)
            assert response.status_code == 404, missing
        graph = await http.get("/ui/graph/workflow/approval/1.svg")
        assert graph.status_code == 401


async def test_graphs_are_the_tenants_own(api: Api) -> None:
    api.publish(APPROVAL)
    async with api.http() as http, api.http(api.globex) as other:
        drawn = await http.get("/ui/graph/workflow/approval/1.svg")
        assert drawn.status_code == 200
        assert drawn.headers["content-type"] == "image/svg+xml"
        assert drawn.text.count('<g class="step status-pending"') == 3
        assert (await other.get("/ui/graph/workflow/approval/1.svg")).status_code == 404
        assert (await http.get("/ui/graph/workflow/approval/2.svg")).json() == {
            "detail": "no version 2 of workflow 'approval'"
        }
        run = await start_run(http, "approval")
        url = f"/ui/graph/run/{run['id']}.svg"
        assert (await other.get(url)).json() == {"detail": f"no run '{run['id']}'"}
        graph = await http.get(url)
        assert graph.status_code == 200
        assert 'data-step="review"' in graph.text
        assert (await http.post(f"/v1/runs/{run['id']}/cancel")).status_code == 202
        await wait_status(http, run["id"], "cancelled")
