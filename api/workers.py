"""``/v1/workers``: workers report what they offer (operator key); tenants list the live ones.

``PUT /v1/workers/{id}`` is sent by a worker (:mod:`activities.capabilities`) with a key of
``KWORKFLOW_WORKER_KEYS`` (the operator's, never a tenant's): the auth middleware lets the path
through and this route checks the key, so a tenant cannot report a worker. Without worker keys
only single-tenant mode on this machine accepts reports. ``GET /v1/workers`` (any tenant's key)
lists the workers seen within the expiry: they are the deployment's, the same for every tenant.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.auth import KEYLESS, key_from_headers
from api.deps import get_store
from api.settings import ApiSettings
from interpreter.lint import Check
from registry.capabilities import offered_check
from registry.workers import WorkerOffer

router = APIRouter(prefix="/v1/workers", tags=["workers"])
_DEFAULTS = ApiSettings()

WORKER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,199}$"
_NAME = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:/@-]{1,200}$")]


class OfferIn(BaseModel):
    """What a worker serves, as it reports it."""

    model_config = ConfigDict(extra="forbid")

    task_queue: _NAME
    tools: list[_NAME] = Field(default_factory=list, max_length=1000)
    providers: dict[_NAME, list[_NAME]] = Field(default_factory=dict, max_length=100)
    default_provider: _NAME | None = None


class WorkerOut(BaseModel):
    """One live worker."""

    worker_id: str
    task_queue: str
    tools: list[str]
    providers: dict[str, list[str]]
    default_provider: str | None
    last_seen: str | None


class WorkersOut(BaseModel):
    """The live workers and how long a report counts."""

    workers: list[WorkerOut]
    expiry_seconds: float


def _settings(request: Request) -> ApiSettings:
    """The app's settings (an app assembled from routers alone has the defaults)."""
    return cast(ApiSettings, getattr(request.app.state, "settings", None) or _DEFAULTS)


def _expiry(request: Request) -> timedelta:
    return timedelta(seconds=_settings(request).worker_expiry)


async def live_offers(request: Request) -> list[WorkerOffer]:
    """The workers seen within the expiry."""
    store = await get_store(request)
    return await run_in_threadpool(store.workers.live, _expiry(request))


async def capabilities_check(request: Request) -> Check:
    """The publish-time check of a definition against the live workers. With no live worker,
    the ``no_workers`` warning only when workers are expected to report (worker keys set): an
    API nobody reports to publishes as before."""
    offers = await live_offers(request)
    settings = _settings(request)
    if not offers and not settings.worker_keys:
        return lambda definition: []
    return offered_check(offers)


def _refusal(request: Request) -> JSONResponse | None:
    """None when the request carries a worker key (or may report without one)."""
    settings = _settings(request)
    key = key_from_headers({k.lower(): v for k, v in request.headers.items()})
    if not settings.worker_keys:
        if settings.single_tenant:
            return None  # the middleware serves this machine only
        detail = "this API takes no worker reports: set KWORKFLOW_WORKER_KEYS"
        return JSONResponse({"detail": detail}, status_code=403)
    given = (key or "").encode()
    if not any(hmac.compare_digest(k.encode(), given) for k in settings.worker_keys):
        detail = "a worker reports with a worker key (KWORKFLOW_WORKER_KEYS), not a tenant key"
        return JSONResponse({"detail": detail}, status_code=403)
    return None


@router.put("/{worker_id}", response_model=WorkerOut, openapi_extra=KEYLESS)
async def report_worker(
    request: Request,
    body: OfferIn,
    worker_id: Annotated[str, Path(pattern=WORKER_ID)],
) -> Any:
    """A worker reports what it offers (with a worker key); it counts until the expiry."""
    refused = _refusal(request)
    if refused is not None:
        return refused
    offer = WorkerOffer(
        worker_id,
        body.task_queue,
        tuple(dict.fromkeys(body.tools)),
        {name: tuple(dict.fromkeys(models)) for name, models in body.providers.items()},
        body.default_provider,
    )
    store = await get_store(request)
    stored = await run_in_threadpool(store.workers.report, offer)
    return stored.to_json()


@router.delete("/{worker_id}", status_code=204, response_class=Response, openapi_extra=KEYLESS)
async def forget_worker(
    request: Request, worker_id: Annotated[str, Path(pattern=WORKER_ID)]
) -> Response:
    """A worker that stops says so (with a worker key)."""
    refused = _refusal(request)
    if refused is not None:
        return refused
    store = await get_store(request)
    await run_in_threadpool(store.workers.remove, worker_id)
    return Response(status_code=204)


@router.get("", response_model=WorkersOut)
async def list_workers(request: Request) -> Any:
    """The workers seen within the expiry: their task queue, tools, providers, models."""
    offers = await live_offers(request)
    return {
        "workers": [o.to_json() for o in offers],
        "expiry_seconds": _expiry(request).total_seconds(),
    }
