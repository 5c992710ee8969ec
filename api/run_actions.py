"""The pause and resume routes: ``POST /v1/runs/{run_id}/pause|resume`` for one run, and
``POST /v1/workflows/{name}/runs/pause|resume`` for every running run of a workflow.

Each is the run's ``pause`` or ``resume`` update (:mod:`interpreter.pausing`), sent with the
caller's identity as ``by``: validated by the run, so a refused action changes nothing. Both are
idempotent: pausing a paused run answers 200 with ``changed: false``. Ownership is checked as
for every run route (:func:`api.runs.owned_run`: another tenant's run is 404). A bulk action
finds the runs through Temporal visibility (a run started less than a second ago may be missed)
and acts on each as the one-run route does, a few at a time, counting what happened.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.runs import (
    _NO_RUN,
    Actor,
    Settings,
    Store,
    TemporalClient,
    Tenant,
    owned_run,
)
from api.schemas_actions import BulkActionOut, BulkProblemOut, PauseIn, PauseOut
from api.schemas_runs import ErrorOut, PausedOut
from api.settings import ApiSettings
from api.updates import check_live, send_update
from client.search_attributes import WORKFLOW_NAME as WORKFLOW_NAME_KEY
from interpreter.pausing import PAUSE, RESUME, PauseRequest
from interpreter.request import WORKFLOW_NAME
from interpreter.spec import NAME_PATTERN
from registry.errors import NotFound
from telemetry.metrics import RUNS_PAUSED, RUNS_RESUMED

router = APIRouter(tags=["runs"])

Action = Literal["pause", "resume"]
BULK_CONCURRENCY = 16
"""How many runs a bulk action asks at a time."""
MAX_PROBLEMS = 100
"""How many skipped or failed runs a bulk answer lists."""

_ONE: dict[int | str, dict[str, Any]] = {
    **_NO_RUN,
    409: {"model": ErrorOut, "description": "The run has ended (`detail` says how), or stalled"},
    422: {"description": "The body is not valid"},
    504: {"model": ErrorOut, "description": "No worker took the request in time"},
}
_BULK: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such workflow (for this tenant)"},
    422: {"description": "The body is not valid"},
}
_Body = Annotated[PauseIn | None, Body(description="Optional: why (`reason`)")]
_Name = Annotated[str, Path(pattern=NAME_PATTERN, max_length=200)]


def _add_one(action: Action, doc: str) -> None:
    """The route ``POST /v1/runs/{run_id}/<action>``: :func:`act` on one run."""

    async def one(
        run_id: str,
        client: TemporalClient,
        settings: Settings,
        tenant: Tenant,
        actor: Actor,
        body: _Body = None,
    ) -> PauseOut:
        return await act(client, settings, run_id, tenant, action, _request(actor, body))

    one.__doc__ = doc
    path = f"/v1/runs/{{run_id}}/{action}"
    router.post(path, response_model=PauseOut, responses=_ONE, name=action)(one)


def _add_every(action: Action, doc: str) -> None:
    """The route ``POST /v1/workflows/{name}/runs/<action>``: :func:`act_on_all`."""

    async def every(
        name: _Name,
        client: TemporalClient,
        settings: Settings,
        store: Store,
        tenant: Tenant,
        actor: Actor,
        body: _Body = None,
    ) -> BulkActionOut:
        await _check_workflow(store, tenant, name)
        return await act_on_all(client, settings, tenant, name, action, _request(actor, body))

    every.__doc__ = doc
    path = f"/v1/workflows/{{name}}/runs/{action}"
    router.post(path, response_model=BulkActionOut, responses=_BULK, name=f"{action}_all")(every)


_add_one(
    PAUSE,
    """Pause a run: it starts no new step (running steps finish, waiting human steps still take
    answers, its `timeout` keeps counting). Idempotent: a paused run stays paused.""",
)
_add_one(
    RESUME, "Resume a paused run where it stopped. Idempotent: a running run goes on as it was."
)
_add_every(PAUSE, "Pause every running run of a workflow; counts of what happened.")
_add_every(RESUME, "Resume every paused run of a workflow; counts of what happened.")


async def act(
    client: Client,
    settings: ApiSettings,
    run_id: str,
    tenant: str,
    action: Action,
    request: PauseRequest,
) -> PauseOut:
    """Send ``action`` to one of the tenant's runs; what it did.

    Raises:
        HTTPException: 404 no such run; 409 it has ended or is stalled; 422 the run refused the
            payload; 504 no worker took the update in time.
    """
    handle, description = await owned_run(client, settings, run_id, tenant)
    check_live(run_id, tenant, description, action)
    answer = await send_update(handle, run_id, action, request)
    paused = answer.get("paused")
    changed = bool(answer.get("changed"))
    if changed:
        name = description.typed_search_attributes.get(WORKFLOW_NAME_KEY) or "unknown"
        (RUNS_PAUSED if action == PAUSE else RUNS_RESUMED).labels(workflow=name).inc()
    return PauseOut(
        run_id=run_id,
        status="paused" if paused else "running",
        paused=PausedOut.model_validate(paused) if paused else None,
        changed=changed,
    )


async def act_on_all(
    client: Client,
    settings: ApiSettings,
    tenant: str,
    workflow: str,
    action: Action,
    request: PauseRequest,
) -> BulkActionOut:
    """Send ``action`` to every running run of ``workflow`` of the tenant; the counts."""
    query = (
        f"WorkflowType = '{WORKFLOW_NAME}' AND Tenant = '{tenant}' AND "
        f"WorkflowName = '{workflow}' AND ExecutionStatus = 'Running'"
    )
    run_ids = [execution.id async for execution in client.list_workflows(query)]
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def one(run_id: str) -> PauseOut | BulkProblemOut:
        async with gate:
            try:
                return await act(client, settings, run_id, tenant, action, request)
            except Exception as exc:  # a refusal, or Temporal unavailable for this one
                return BulkProblemOut.of(run_id, exc)

    outcomes = await asyncio.gather(*(one(run_id) for run_id in run_ids))
    done = [o for o in outcomes if isinstance(o, PauseOut)]
    problems = [o for o in outcomes if isinstance(o, BulkProblemOut)]
    skipped = sum(1 for p in problems if p.status_code in (404, 409))
    changed = sum(1 for o in done if o.changed)
    return BulkActionOut(
        workflow=workflow,
        action=action,
        matched=len(run_ids),
        changed=changed,
        unchanged=len(done) - changed,
        skipped=skipped,
        failed=len(problems) - skipped,
        problems=problems[:MAX_PROBLEMS],
    )


def _request(actor: str, body: PauseIn | None) -> PauseRequest:
    return PauseRequest(by=actor, reason=body.reason if body else None)


async def _check_workflow(store: Any, tenant: str, name: str) -> None:
    """404 unless the tenant has published a workflow ``name``."""
    try:
        await run_in_threadpool(store.get, tenant, name, None)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
