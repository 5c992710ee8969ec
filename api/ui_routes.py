"""The web UI at ``/ui``: its page and static files (no key needed), and SVG graphs (keyed).

The UI is plain HTML, CSS and ES modules shipped in ``api/ui/static`` (no build step, no CDN).
The page and its files are public; everything it shows comes from the ``/v1`` API and the two
graph routes here, which check the caller's tenant exactly like ``/v1/runs/{id}/graph`` and
``/v1/workflows/{name}/versions/{version}`` do.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from api.runs import (
    Settings,
    Store,
    TemporalClient,
    Tenant,
    definition_and_statuses,
)
from api.workflows import VersionNumber
from interpreter.svg import svg
from registry.errors import NotFound

STATIC = Path(__file__).parent / "ui" / "static"
"""Where the UI's files live."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
SVG_TYPE = "image/svg+xml"

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("")
@router.get("/")
async def index() -> FileResponse:
    """The single page; the client routes by the URL's fragment (``#/runs``...)."""
    return FileResponse(STATIC / "index.html", media_type=CONTENT_TYPES[".html"])


@router.get("/static/{name:path}")
async def static(name: str) -> FileResponse:
    """A file of the UI; 404 for anything outside ``api/ui/static`` or of an unknown type."""
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC.resolve()) or not path.is_file():
        raise HTTPException(404, f"no file '{name}'")
    media_type = CONTENT_TYPES.get(path.suffix)
    if media_type is None:
        raise HTTPException(404, f"no file '{name}'")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/graph/run/{run_id}.svg")
async def run_graph(
    run_id: str, client: TemporalClient, settings: Settings, tenant: Tenant
) -> Response:
    """The run's definition as SVG, each step classed by its current status."""
    definition, statuses = await definition_and_statuses(client, settings, run_id, tenant)
    return Response(svg(definition, statuses), media_type=SVG_TYPE)


@router.get("/graph/workflow/{name}/{version}.svg")
async def workflow_graph(
    name: str, version: VersionNumber, store: Store, tenant: Tenant
) -> Response:
    """One published version of the tenant's workflow as SVG."""
    try:
        published = await run_in_threadpool(store.get, tenant, name, version)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(svg(published.definition), media_type=SVG_TYPE)
