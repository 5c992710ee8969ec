"""``POST /v1/hooks/{tenant}/{webhook}``: a signed delivery starts a run of the hook's workflow.

No API key: the signature authenticates (:mod:`interpreter.webhook_triggers`), with the secret
the operator filed for the tenant (:mod:`api.hook_secrets`). The checks run in this order, so
nothing about a tenant leaks to a caller that cannot sign for it:

1. the tenant has a workflow whose latest version declares the webhook (:mod:`registry.webhooks`),
   else 404 (the same for an unknown tenant);
2. the body is at most ``max_webhook_bytes``, else 413;
3. the signature is present, valid and at most five minutes old, else 401 saying which;
4. the body is JSON, else 422; the ``filter`` is false: 202 ``{started: false}``;
5. the input (``input`` mapped by CEL, else the body) fits the ``input`` schema, else 422 naming
   the property;
6. the run id derives from the webhook and the delivery id (``X-Kworkflow-Delivery``, else
   ``Idempotency-Key``, else the signature itself), so a sender's retries start one run: 201 the
   first time, 200 with the same run after.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import KEYLESS
from api.hook_secrets import secret_value
from api.limits import check_carried, describe_size
from api.runs import Settings, Store, TemporalClient
from api.schemas_runs import ErrorOut, encoded_json
from api.settings import TENANT_PATTERN, ApiSettings
from api.starting import checked_start, start_once
from interpreter.request import RunRequest
from interpreter.webhook_triggers import (
    SIGNATURE_HEADER,
    HookError,
    SignatureRejected,
    evaluate,
    verify,
)
from registry.store import DefinitionStore
from registry.webhooks import IndexedHook

router = APIRouter(prefix="/v1/hooks", tags=["webhooks"])
log = logging.getLogger("kworkflow.api.webhooks")

DELIVERY_HEADERS = ("x-kworkflow-delivery", "idempotency-key")
"""Where a sender's delivery id is read, first found first."""
MAX_DELIVERY_LENGTH = 200


class HookRunOut(BaseModel):
    """The run a webhook delivery started (or had started before)."""

    run_id: str
    workflow: str
    version: int
    created: bool
    """False: this delivery was seen before and ``run_id`` is the run it started."""
    links: dict[str, str]


class HookSkippedOut(BaseModel):
    """A verified delivery that started nothing."""

    started: bool = False
    reason: str
    """``filtered``: the trigger's ``filter`` is false for it."""


def hook_run_id(tenant: str, webhook: str, delivery: str) -> str:
    """The run id a delivery of ``webhook`` gives the run it starts."""
    digest = hashlib.sha256(f"{webhook}\n{delivery}".encode()).hexdigest()[:20]
    return f"{tenant}:{webhook}-hook-{digest}"


@router.post(
    "/{tenant}/{webhook}",
    status_code=201,
    response_model=HookRunOut,
    openapi_extra=KEYLESS,
    responses={
        200: {"model": HookRunOut, "description": "This delivery was seen: the run it started"},
        202: {"model": HookSkippedOut, "description": "The trigger's filter is false"},
        401: {"model": ErrorOut, "description": "Missing, invalid or expired signature"},
        404: {"model": ErrorOut, "description": "The tenant has no such webhook"},
        413: {"model": ErrorOut, "description": "The body or the mapped input is too large"},
        422: {"model": ErrorOut, "description": "Not JSON, or the input breaks the schema"},
    },
)
async def deliver(
    tenant: Annotated[str, Path(max_length=100)],
    webhook: Annotated[str, Path(max_length=64)],
    request: Request,
    response: Response,
    client: TemporalClient,
    settings: Settings,
    store: Store,
) -> Any:
    """Start a run from a webhook signed with `X-Kworkflow-Signature: t=<unix>,v1=<hex>`
    (HMAC-SHA256 of `<t>.<raw body>`); no API key. See docs/triggers.md."""
    hook = None
    if TENANT_PATTERN.fullmatch(tenant):
        hook = await run_in_threadpool(store.webhooks.find, tenant, webhook)
    if hook is None:
        raise HTTPException(404, f"no webhook {webhook!r} here")
    body = await request.body()
    if len(body) > settings.max_webhook_bytes:
        limit = describe_size(settings.max_webhook_bytes)
        raise HTTPException(413, f"the webhook body is larger than {limit} ({len(body)} bytes)")
    secret = secret_value(settings.webhook_secrets, tenant, str(hook.trigger["secret"]))
    if secret is None:
        log.warning("webhook %s/%s: its secret is not configured", tenant, webhook)
        raise HTTPException(401, "this webhook's secret is not configured on the server")
    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        verify(signature, secret, body, time.time())
    except SignatureRejected as exc:
        raise HTTPException(401, str(exc)) from None
    try:
        payload = json.loads(body) if body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise HTTPException(422, f"the webhook body is not JSON: {exc}") from None
    try:
        encoded_json(payload)  # bounded depth, no NaN: what a run can carry
    except ValueError as exc:
        raise HTTPException(422, f"the webhook body {exc}") from None
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        # CEL the tenant wrote: in a thread, never on the event loop every tenant shares
        fires, value = await run_in_threadpool(evaluate, hook.trigger, payload, headers)
    except HookError as exc:
        raise HTTPException(422, f"triggers of {hook.name!r}: {exc}") from None
    if not fires:
        return JSONResponse(HookSkippedOut(reason="filtered").model_dump(), status_code=202)
    check_carried(
        value, settings.max_input_bytes, "input: the mapped run input ", "the mapped run input is"
    )
    delivery = next((headers[h] for h in DELIVERY_HEADERS if headers.get(h)), None)
    if delivery is not None and len(delivery) > MAX_DELIVERY_LENGTH:
        raise HTTPException(422, f"the delivery id is longer than {MAX_DELIVERY_LENGTH}")
    run_id = hook_run_id(tenant, webhook, delivery or str(signature))
    run_request = await run_in_threadpool(_request, store, tenant, hook, value, settings)
    priority = hook.trigger.get("priority")
    handle = await start_once(client, settings, run_request, run_id, priority=priority)
    created = handle is not None
    response.status_code = 201 if created else 200
    return HookRunOut(
        run_id=run_id,
        workflow=hook.name,
        version=hook.version,
        created=created,
        links={"run": f"/v1/runs/{run_id}"},
    )


def _request(
    store: DefinitionStore, tenant: str, hook: IndexedHook, value: Any, settings: ApiSettings
) -> RunRequest:
    """The run request of a delivery, its input checked against the schema.

    Raises:
        HTTPException: 422 the input breaks the schema, or a subflow is gone; 404 the version.
    """
    published, subflows = checked_start(store, tenant, hook.name, hook.version, value)
    return RunRequest(
        definition=published.definition,
        input=value,
        version=hook.version,
        tenant=tenant,
        subflows=subflows,
        flow_limits=settings.limits.flow,
        events_out=settings.events_out is not None,
    )
