"""The upgrade route: ``POST /v1/runs/{run_id}/upgrade`` moves a paused run to a newer published
version of its workflow.

The API loads the version (default: the workflow's latest) and the subflows it pins from the
definition store and sends them in the run's ``upgrade`` update
(:mod:`interpreter.upgrading`), with the caller's identity as ``by``. The run validates it, so a
refused upgrade changes nothing: 409 when the run is not paused, has ended or is already at that
version (or a newer one), 422 when a step it has started is missing from the version or
changed kind (the message names each step), 404 for an unknown version. The run stays paused:
resume it (``POST /v1/runs/{run_id}/resume``) to go on under the new version. Ownership is
checked as for every run route (another tenant's run is 404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from starlette.concurrency import run_in_threadpool
from temporalio.client import (
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError

from api import runview
from api.runs import (
    Actor,
    Settings,
    Store,
    TemporalClient,
    Tenant,
    owned_run,
)
from api.schemas_runs import ErrorOut
from api.schemas_upgrade import UpgradeIn, UpgradeOut
from api.updates import check_live, send_update
from client.search_attributes import WORKFLOW_NAME as WORKFLOW_NAME_KEY
from interpreter.spec import Definition
from interpreter.upgrading import REFUSED, UPGRADE, UpgradeRequest
from registry.errors import NotFound
from registry.store import DefinitionStore
from telemetry.metrics import RUNS_UPGRADED

router = APIRouter(tags=["runs"])

_CONFLICT = frozenset({"ended", "not_paused", "not_newer"})
"""Refusals that are about the run's state (409); the others are about the version (422)."""


@router.post(
    "/v1/runs/{run_id}/upgrade",
    response_model=UpgradeOut,
    responses={
        404: {"model": ErrorOut, "description": "No such run or version (for this tenant)"},
        409: {
            "model": ErrorOut,
            "description": "The run is not paused, has ended, or is already at that version",
        },
        422: {
            "model": ErrorOut,
            "description": "A step the run has started is missing from the version or changed "
            "kind (each named), or the body is not valid",
        },
        504: {"model": ErrorOut, "description": "No worker took the request in time"},
    },
)
async def upgrade(
    run_id: str,
    client: TemporalClient,
    settings: Settings,
    store: Store,
    tenant: Tenant,
    actor: Actor,
    body: Annotated[UpgradeIn | None, Body()] = None,
) -> UpgradeOut:
    """Upgrade a paused run to a newer published version of its workflow (default: the
    latest): its started steps keep their state, the others follow the new version. The run
    stays paused until resumed."""
    version = body.version if body is not None else None
    handle, description = await owned_run(client, settings, run_id, tenant)
    check_live(run_id, tenant, description, UPGRADE)
    name = description.typed_search_attributes.get(WORKFLOW_NAME_KEY)
    if name is None:
        name = (await runview.run_definition(client, handle, description)).name
    definition, target, subflows = await run_in_threadpool(_published, store, tenant, name, version)
    request = UpgradeRequest(definition=definition, version=target, by=actor, subflows=subflows)
    answer = await send_update(handle, run_id, UPGRADE, request, refused=_refused)
    RUNS_UPGRADED.labels(workflow=name).inc()
    return UpgradeOut(
        run_id=run_id,
        status="paused",
        from_version=answer["from_version"],
        version=answer["version"],
        added=answer["added"],
        removed=answer["removed"],
    )


def _published(
    store: DefinitionStore, tenant: str, name: str, version: int | None
) -> tuple[Definition, int, dict[str, Definition]]:
    """The definition, version and pinned subflows of a published version (the latest when
    None).

    Raises:
        HTTPException: 404 no such version; 422 a subflow it pins cannot be found.
    """
    try:
        published = store.get(tenant, name, version)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    try:
        subflows = store.resolve_subflows(tenant, published.definition)
    except NotFound as exc:
        raise HTTPException(
            422, f"a subflow of {name!r} version {published.version} cannot be found: {exc}"
        ) from None
    return published.definition, published.version, subflows


def _refused(exc: WorkflowUpdateFailedError) -> HTTPException:
    cause = exc.cause
    message = getattr(cause, "message", None) or str(cause or exc)
    if isinstance(cause, ApplicationError) and cause.type == REFUSED:
        details: Any = cause.details[0] if cause.details else None
        reason = details.get("reason") if isinstance(details, dict) else None
        return HTTPException(409 if reason in _CONFLICT else 422, message)
    return HTTPException(409, f"the run refused the upgrade: {message}")
