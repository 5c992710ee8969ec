"""The FastAPI application: lifespan (Temporal client, definitions store), middleware, routers,
and the exception handlers that keep every error a JSON ``{"detail": ...}``.

``create_app()`` with no argument reads :class:`~api.settings.ApiSettings` from the environment
(``uvicorn api.app:create_app --factory`` works); tests inject a client, a store and settings.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api import (
    breakpoints,
    cloudevents,
    compensation,
    events,
    fork,
    retry,
    run_actions,
    runs,
    schedules,
    schema_route,
    templates,
    ui_routes,
    upgrade,
    webhooks,
    workers,
    workflows,
)
from api.auth import KEYLESS, TenantAuth, TenantKeys, document_keyless, documented_auth
from api.limits import BodyLimit
from api.settings import ApiSettings
from client.connect import connect
from client.errors import ServerUnavailable
from client.search_attributes import ensure_search_attributes
from registry.errors import RegistryError
from registry.store import DefinitionStore
from storage import close_stores
from telemetry import metrics
from telemetry.tracing import setup_tracing

log = logging.getLogger("kworkflow.api")

DESCRIPTION = """\
Publish kworkflow/v1 definitions, start runs of them, follow and answer them.

Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>` (not needed when the
server runs without keys, single-tenant, on this machine only). Every error is
`{"detail": ...}`. See docs/api.md.
"""


def create_app(
    *,
    client: Client | None = None,
    store: DefinitionStore | None = None,
    settings: ApiSettings | None = None,
) -> FastAPI:
    """The API application.

    Args:
        client: A Temporal client with kworkflow's data converter (default: connect to
            ``settings.address`` when the app starts).
        store: The definitions store (default: open ``settings.database_url`` when the app
            starts, and close it when it stops).
        settings: Default: :meth:`ApiSettings.from_env`.
    """
    settings = settings if settings is not None else ApiSettings.from_env()
    # Exports only when OTEL_EXPORTER_OTLP_ENDPOINT is set. FastAPI's own telemetry makes a
    # server span per request, current while the route runs, so the client's tracing
    # interceptor continues it into the runs the route starts.
    setup_tracing("kworkflow-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened: DefinitionStore | None = None
        if client is None:
            app.state.client = await connect(settings.temporal)
        if store is None:
            opened = await run_in_threadpool(
                DefinitionStore, settings.database_url, settings.limits
            )
            app.state.store = opened
        await ensure_search_attributes(app.state.client)
        if settings.single_tenant:
            log.info("single-tenant mode: no API keys configured, serving this machine only")
        try:
            yield
        finally:
            if opened is not None:
                opened.close()
            await close_stores()

    app = FastAPI(
        title="kworkflow",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(documented_auth)],
    )
    app.state.settings = settings
    app.state.task_queue = settings.task_queue
    if client is not None:
        app.state.client = client
    if store is not None:
        app.state.store = store
    app.include_router(workflows.router)
    app.include_router(runs.router)
    app.include_router(run_actions.router)
    app.include_router(breakpoints.router)
    app.include_router(retry.router)
    app.include_router(compensation.router)
    app.include_router(fork.router)
    app.include_router(upgrade.router)
    app.include_router(events.router)
    app.include_router(schedules.router)
    app.include_router(templates.router)
    app.include_router(cloudevents.router)
    app.include_router(webhooks.router)
    app.include_router(workers.router)
    app.include_router(ui_routes.router)
    app.include_router(schema_route.router)

    @app.get("/healthz", tags=["health"], openapi_extra=KEYLESS)
    async def healthz() -> dict[str, str]:
        """The process is up (no key needed)."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """kworkflow's Prometheus metrics (docs/observability.md)."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    document_keyless(app)
    app.add_exception_handler(RegistryError, _registry_error)
    app.add_exception_handler(RPCError, _temporal_error)
    app.add_exception_handler(ServerUnavailable, _temporal_unreachable)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(TenantAuth, keys=TenantKeys(settings.api_keys))
    return app


async def _registry_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RegistryError)
    return workflows.error_response(exc)


async def _temporal_error(request: Request, exc: Exception) -> JSONResponse:
    """A Temporal RPC the routes did not expect to fail: 503, 504, 429 or 502."""
    assert isinstance(exc, RPCError)
    status, detail = 502, f"Temporal refused the request: {exc.message}"
    if exc.status == RPCStatusCode.UNAVAILABLE:
        status, detail = 503, f"Temporal is unavailable: {exc.message}"
    elif exc.status == RPCStatusCode.DEADLINE_EXCEEDED:
        status, detail = 504, "Temporal did not answer in time"
    elif exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        status, detail = 429, f"Temporal is busy: {exc.message}"
    log.warning("%s %s: %s", request.method, request.url.path, detail)
    return JSONResponse({"detail": detail}, status_code=status)


async def _temporal_unreachable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503)


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    """A number too large for the database (a path's version...): the request's fault."""
    detail = "a value in the request is out of range"
    log.warning("%s %s: %s (%s)", request.method, request.url.path, detail, exc)
    return JSONResponse({"detail": detail}, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: answered without its traceback (the server logs it, as Starlette re-raises)."""
    body: dict[str, Any] = {"detail": "internal server error"}
    return JSONResponse(body, status_code=500)
