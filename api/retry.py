"""The retry routes: ``POST /v1/runs/{run_id}/retry`` for one ended run, and
``POST /v1/workflows/{name}/runs/retry`` for every failed run of a workflow.

A retry starts a new run (the original stays as it was) of the same definition version, or of
a newer published version (``version``), seeded with the original's succeeded steps outside the
retried part (:mod:`client.retry` plans it, :mod:`interpreter.seed` runs it): they are not run
again, and an answered human step is not asked again. The original is read from its final view
(its memo, :mod:`interpreter.finalview`) and its first history event (the definition, input and
pinned subflows it started with); a step whose value the view shows as a size marker is read
whole with the ``step`` query (a worker replays the run).

Idempotent: the new run's id is derived from the original's chain, the from-step, the version
and the ``Idempotency-Key`` header (:func:`client.retry.retry_run_id`), and a run with that id
is never started twice: asking for the same retry again answers 200 with the run the first
request started. Ownership is checked as for every run route (another tenant's run is 404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Path, Response
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api import lineage, runview
from api.run_actions import BULK_CONCURRENCY, MAX_PROBLEMS, _check_workflow
from api.runs import _NO_RUN, Actor, Settings, Store, TemporalClient, Tenant, owned_run
from api.schemas_actions import BulkProblemOut
from api.schemas_retry import BulkRetryIn, BulkRetryOut, RetryIn, RetryOut
from api.schemas_runs import RUN_ID_PATTERN, ErrorOut, RunOut
from api.seeded import start_seeded, started_request, whole_step
from api.settings import ApiSettings
from client.fork import InvalidEdit, apply_edits, edits_digest
from client.retry import (
    NotRetryable,
    UnknownStep,
    UnreadableStep,
    VersionMismatch,
    plan_seed,
    retry_run_id,
    truncated_steps,
)
from interpreter.request import WORKFLOW_NAME
from interpreter.spec import NAME_PATTERN
from registry.errors import NotFound
from registry.store import DefinitionStore
from telemetry.metrics import RUNS_RETRIED

router = APIRouter(tags=["runs"])

_Name = Annotated[str, Path(pattern=NAME_PATTERN, max_length=200)]
_Key = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=RUN_ID_PATTERN,
        description="Tells retries apart: the same key (or none) asks for the same retry",
    ),
]
_ONE: dict[int | str, dict[str, Any]] = {
    200: {"model": RetryOut, "description": "This retry was asked before: its run"},
    **_NO_RUN,
    409: {"model": ErrorOut, "description": "The run has not ended, or cannot be retried"},
    422: {"model": ErrorOut, "description": "No such step, or the version's steps do not match"},
    503: {"model": ErrorOut, "description": "The run's state cannot be read now"},
}


class _Skip(Exception):
    """A bulk retry passes over this run (another error type)."""


@router.post("/v1/runs/{run_id}/retry", status_code=201, response_model=RetryOut, responses=_ONE)
async def retry(
    run_id: str,
    response: Response,
    client: TemporalClient,
    settings: Settings,
    store: Store,
    tenant: Tenant,
    actor: Actor,
    idempotency_key: _Key = None,
    body: Annotated[RetryIn | None, Body()] = None,
) -> RetryOut:
    """Retry an ended run in a new run: the steps that failed, were cancelled or did not run
    (and, with `from`, that step and everything downstream of it) run again; the others keep
    their outputs. 201 with the new run; 200 when this retry was asked before."""
    body = body or RetryIn()
    out = await retry_one(
        client, settings, store, tenant, actor, run_id, body.from_, body.version, idempotency_key
    )
    if not out.created:
        response.status_code = 200
    response.headers["Location"] = out.links["run"]
    return out


@router.post(
    "/v1/workflows/{name}/runs/retry",
    response_model=BulkRetryOut,
    responses={
        404: {"model": ErrorOut, "description": "No such workflow (for this tenant)"},
        422: {"description": "The body is not valid"},
    },
)
async def retry_all(
    name: _Name,
    client: TemporalClient,
    settings: Settings,
    store: Store,
    tenant: Tenant,
    actor: Actor,
    body: Annotated[BulkRetryIn | None, Body()] = None,
) -> BulkRetryOut:
    """Retry every failed (or timed-out) run of a workflow, optionally only those that ended
    since a time or failed with an error type. Idempotent: a run whose retry was started
    before is not retried again (`already`)."""
    body = body or BulkRetryIn()
    await _check_workflow(store, tenant, name)
    query = (
        f"WorkflowType = '{WORKFLOW_NAME}' AND Tenant = '{tenant}' AND "
        f"WorkflowName = '{name}' AND ExecutionStatus IN ('Failed', 'TimedOut')"
    )
    if body.since is not None:
        query += f" AND CloseTime >= '{body.since.isoformat()}'"
    run_ids = [execution.id async for execution in client.list_workflows(query)]
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def one(run_id: str) -> RetryOut | BulkProblemOut | None:
        async with gate:
            try:
                return await retry_one(
                    client, settings, store, tenant, actor, run_id, None, None, None,
                    error_type=body.error_type,
                )  # fmt: skip
            except _Skip:
                return None
            except Exception as exc:  # a refusal, or Temporal unavailable for this one
                return BulkProblemOut.of(run_id, exc)

    outcomes = await asyncio.gather(*(one(run_id) for run_id in run_ids))
    done = [o for o in outcomes if isinstance(o, RetryOut)]
    problems = [o for o in outcomes if isinstance(o, BulkProblemOut)]
    refused = sum(1 for p in problems if p.status_code < 500)
    return BulkRetryOut(
        workflow=name,
        matched=len(run_ids),
        retried=sum(1 for o in done if o.created),
        already=sum(1 for o in done if not o.created),
        skipped=sum(1 for o in outcomes if o is None) + refused,
        failed=len(problems) - refused,
        runs={o.retry_of: o.run_id for o in done},
        problems=problems[:MAX_PROBLEMS],
    )


async def retry_one(
    client: Client,
    settings: ApiSettings,
    store: DefinitionStore,
    tenant: str,
    actor: str,
    run_id: str,
    from_step: str | None,
    version: int | None,
    key: str | None,
    *,
    error_type: str | None = None,
    edits: Mapping[str, Any] | None = None,
) -> RetryOut:
    """Start (or find) the retry of one of the tenant's runs (with ``edits``: its fork, from
    ``from_step``, :mod:`api.fork`); see the module docstring.

    Raises:
        HTTPException: 404 no such run or version; 409 the run cannot be retried; 422 no such
            step, or the version's steps do not match; 503 its state cannot be read.
        _Skip: ``error_type`` is given and the run did not fail with it.
    """
    handle, description = await owned_run(client, settings, run_id, tenant)
    view = await runview.final_view(description)
    # a run that has decided its end (its final view is kept) and only reports it is ended
    status = RunOut.of(run_id, tenant, description, view).status
    if status in ("running", "paused", "stalled"):
        raise HTTPException(409, f"run '{run_id}' is {status}: cannot retry it until it ends")
    if view is None and status in ("failed", "cancelled", "timed_out", "succeeded"):
        view = await runview.query_state(handle, settings.query_timeout)
    if view is None:
        raise HTTPException(
            409 if status in ("terminated", "continued_as_new") else 503,
            f"run '{run_id}' is {status}: its steps cannot be read, so it cannot be retried",
        )
    if error_type is not None and not _failed_with(view, error_type):
        raise _Skip
    view = {**view, "status": status}
    original = await runview.as_upgraded(await started_request(client, handle), description)
    target_version = original.version if version is None else version
    if version is None or version == original.version:
        target, subflows = original.definition, original.subflows
    else:
        target, subflows = await run_in_threadpool(
            _published, store, tenant, original.definition.name, version
        )
    for sid in truncated_steps(view):
        view["steps"] = {**view["steps"], sid: await whole_step(handle, settings, run_id, sid)}
    origin_lineage = await lineage.retry_of(description)
    root = str(origin_lineage.get("root") or run_id) if origin_lineage else run_id
    try:
        seed = plan_seed(
            view,
            original.definition,
            target,
            origin=run_id,
            root=root,
            from_step=from_step,
            origin_version=original.version,
            target_version=target_version,
        ).model_copy(update={"by": actor})
        if edits is not None:
            seed = apply_edits(seed, target, edits, actor)
    except (NotRetryable, UnreadableStep) as exc:
        raise HTTPException(409, str(exc)) from None
    except (UnknownStep, VersionMismatch, InvalidEdit) as exc:
        raise HTTPException(422, str(exc)) from None
    mode = "retry" if edits is None else "fork"
    salt = key or "" if edits is None else f"{key or ''}\n{edits_digest(edits)}"
    new_id = retry_run_id(root, run_id, from_step, target_version, salt, mode)
    created = await start_seeded(
        client,
        settings,
        original,
        run_id=new_id,
        seed=seed,
        tenant=tenant,
        definition=target,
        version=target_version,
        subflows=subflows,
    )
    if created:
        RUNS_RETRIED.labels(workflow=target.name, mode=mode).inc()
    return RetryOut(
        run_id=new_id,
        retry_of=run_id,
        from_=from_step,
        version=target_version,
        created=created,
        reused=[s.id for s in seed.steps],
        retried=seed.retried,
        edited=seed.edited,
        links={"run": f"/v1/runs/{new_id}", "original": f"/v1/runs/{run_id}"},
    )


def _failed_with(view: dict[str, Any], error_type: str) -> bool:
    """The run's error, or a failed step's, has ``error_type``."""
    errors = [view.get("error")]
    errors += [s.get("error") for s in (view.get("steps") or {}).values() if isinstance(s, dict)]
    return any(isinstance(e, dict) and e.get("type") == error_type for e in errors)


def _published(
    store: DefinitionStore, tenant: str, name: str, version: int
) -> tuple[Any, dict[str, Any]]:
    """The definition and pinned subflows of a published version (404 when it has none)."""
    try:
        published = store.get(tenant, name, version)
        return published.definition, store.resolve_subflows(tenant, published.definition)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
