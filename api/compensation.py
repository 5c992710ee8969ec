"""The compensate route, ``POST /v1/runs/{run_id}/compensate``, and the ``compensation`` a
compensated run's view shows.

A compensation starts a *new* run (the original stays as it was), ``<run id>-compensate``,
seeded with the original's ended steps (:mod:`client.compensation` plans it): it runs the
``compensate`` spec of every step of the original that succeeded and has one, latest first
(:mod:`interpreter.compensation`). The original is read as a retry reads it
(:mod:`api.retry`: its final view, its first history event). Idempotent: a run has one
compensation, so asking again answers 200 with that run. Ownership is checked as for every
run route (another tenant's run is 404).

The original's view shows its compensation run's ``compensation`` entry
(:mod:`api.compensation_view`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api import lineage, runview
from api.runs import _NO_RUN, Actor, Settings, TemporalClient, Tenant, owned_run
from api.schemas_compensation import CompensateOut
from api.schemas_runs import ErrorOut, RunOut
from api.seeded import start_seeded, started_request, whole_step
from api.settings import ApiSettings
from client.compensation import (
    COMPENSABLE,
    NotCompensable,
    compensation_run_id,
    plan_compensation,
)
from client.retry import truncated_steps
from interpreter.compensation import compensation_order

router = APIRouter(tags=["runs"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CompensateOut, "description": "Asked before: the compensation run"},
    **_NO_RUN,
    409: {
        "model": ErrorOut,
        "description": "The run is running, paused or succeeded, compensated itself, is a "
        "compensation, or has no succeeded step with `compensate`",
    },
    503: {"model": ErrorOut, "description": "The run's state cannot be read now"},
}


@router.post(
    "/v1/runs/{run_id}/compensate",
    status_code=201,
    response_model=CompensateOut,
    responses=_RESPONSES,
)
async def compensate(
    run_id: str,
    response: Response,
    client: TemporalClient,
    settings: Settings,
    tenant: Tenant,
    actor: Actor,
) -> CompensateOut:
    """Compensate a failed, cancelled or timed-out run in a new run: the `compensate` spec of
    every step that succeeded, in reverse topological order. 201 with the new run; 200 when it
    was asked before."""
    out = await compensate_one(client, settings, tenant, actor, run_id)
    if not out.created:
        response.status_code = 200
    response.headers["Location"] = out.links["run"]
    return out


async def compensate_one(
    client: Client, settings: ApiSettings, tenant: str, actor: str, run_id: str
) -> CompensateOut:
    """Start (or find) the compensation of one of the tenant's runs.

    Raises:
        HTTPException: 404 no such run; 409 it cannot be compensated; 503 its state cannot be
            read.
    """
    handle, description = await owned_run(client, settings, run_id, tenant)
    new_id = compensation_run_id(run_id)
    view = await runview.final_view(description)
    status = RunOut.of(run_id, tenant, description, view).status
    if status not in COMPENSABLE:
        why = "only a failed, cancelled or timed-out run is compensated"
        raise HTTPException(409, str(NotCompensable(run_id, status, why)))
    if view is None:
        view = await runview.query_state(handle, settings.query_timeout)
    if view is None:
        raise HTTPException(
            503,
            f"run '{run_id}' is {status}: its steps cannot be read, so it cannot be compensated",
        )
    view = {**view, "status": status}
    original = await started_request(client, handle)
    if await _exists(client, new_id):
        succeeded = {sid for sid, e in view["steps"].items() if e.get("status") == "succeeded"}
        return _out(new_id, run_id, False, compensation_order(original.definition, succeeded))
    for sid in truncated_steps(view):
        view["steps"] = {**view["steps"], sid: await whole_step(handle, settings, run_id, sid)}
    origin_lineage = await lineage.retry_of(description) or {}
    try:
        seed = plan_compensation(
            view,
            original.definition,
            origin=run_id,
            root=str(origin_lineage.get("root") or run_id),
            origin_version=original.version,
            by=actor,
            mode=str(origin_lineage.get("mode") or ""),
        )
    except NotCompensable as exc:
        raise HTTPException(409, str(exc)) from None
    created = await start_seeded(
        client, settings, original, run_id=new_id, seed=seed, tenant=tenant
    )
    succeeded = {s.id for s in seed.steps if s.status == "succeeded"}
    return _out(new_id, run_id, created, compensation_order(original.definition, succeeded))


async def _exists(client: Client, run_id: str) -> bool:
    """Whether a run ``run_id`` was started."""
    try:
        await client.get_workflow_handle(run_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def _out(new_id: str, run_id: str, created: bool, steps: list[str]) -> CompensateOut:
    return CompensateOut(
        run_id=new_id,
        compensation_of=run_id,
        created=created,
        steps=steps,
        links={"run": f"/v1/runs/{new_id}", "original": f"/v1/runs/{run_id}"},
    )
