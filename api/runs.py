"""The ``/v1/runs`` routes: start (idempotent), read, list, answer, cancel and draw runs.

Temporal is the source of truth: a run is a workflow execution whose id is the run id, and the
caller owns it when its ``Tenant`` search attribute is the caller's tenant. Every route checks
that first (:func:`owned_run`): another tenant's run answers 404 exactly like a missing one.
The event stream lives in :mod:`api.events`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import compensation_view, lineage, runview, stalls
from api.deps import get_store, get_tenant
from api.limits import check_carried
from api.schemas_runs import (
    RUN_ID_PATTERN,
    VISIBILITY_STATUS,
    AnswerOut,
    ErrorOut,
    RespondIn,
    RunListOut,
    RunOut,
    RunStatus,
    RunSummaryOut,
    StartRunIn,
    StepOut,
    encoded_json,
    tenant_of,
)
from api.settings import LOCAL_ACTOR, ApiSettings
from api.starting import checked_start, start_once
from api.updates import send_update
from client.start import new_run_id
from interpreter.pausing import PAUSED_MEMO
from interpreter.render import render
from interpreter.request import (
    RESPOND,
    STEP_QUERY,
    WORKFLOW_NAME,
    RespondRequest,
    RunRequest,
)
from interpreter.spec import NAME_PATTERN, Definition
from interpreter.viewsize import is_truncated
from registry.store import DefinitionStore

router = APIRouter(prefix="/v1/runs", tags=["runs"])

MAX_STEPS_PAGE = 10_000
"""Most steps one page of a run view may ask for."""


async def get_client(request: Request) -> Client:
    """The app's Temporal client (``app.state.client``)."""
    client: Client = request.app.state.client
    return client


async def get_settings(request: Request) -> ApiSettings:
    """The app's :class:`~api.settings.ApiSettings` (``app.state.settings``)."""
    settings: ApiSettings = request.app.state.settings
    return settings


async def get_actor(request: Request) -> str:
    """Who the caller answers human steps as (set by :class:`api.auth.TenantAuth`)."""
    actor = getattr(request.state, "actor", None)
    return actor if isinstance(actor, str) and actor else LOCAL_ACTOR


TemporalClient = Annotated[Client, Depends(get_client)]
Settings = Annotated[ApiSettings, Depends(get_settings)]
Store = Annotated[DefinitionStore, Depends(get_store)]
Tenant = Annotated[str, Depends(get_tenant)]
Actor = Annotated[str, Depends(get_actor)]

_NO_RUN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such run (for this tenant)"}
}


class RunNotFound(HTTPException):
    """404 ``no run '<id>'``: missing, or another tenant's."""

    def __init__(self, run_id: str) -> None:
        super().__init__(404, f"no run '{run_id}'")


def _timeout(settings: ApiSettings) -> timedelta:
    return timedelta(seconds=settings.query_timeout)


async def owned_run(
    client: Client, settings: ApiSettings, run_id: str, tenant: str
) -> tuple[WorkflowHandle[Any, Any], WorkflowExecutionDescription]:
    """The handle and description of a run of ``tenant``.

    Raises:
        RunNotFound: No such run, not an interpreter run, or another tenant's.
    """
    handle = client.get_workflow_handle(run_id)
    try:
        description = await handle.describe(rpc_timeout=_timeout(settings))
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise RunNotFound(run_id) from None
        raise
    if description.workflow_type != WORKFLOW_NAME or tenant_of(description) != tenant:
        raise RunNotFound(run_id)
    return handle, description


async def run_view(client: Client, settings: ApiSettings, run_id: str, tenant: str) -> RunOut:
    """The view of one of the tenant's runs (``GET /v1/runs/{run_id}``): one describe, plus the
    ``status`` query for a running run (:mod:`api.runview`); a run whose workflow tasks keep
    failing is ``stalled``, with the failure as its error."""
    handle, description = await owned_run(client, settings, run_id, tenant)
    state, source = await runview.read_state(client, handle, description, settings)
    view = RunOut.of(run_id, tenant, description, state, source)
    view = await runview.with_stall(client, description, view)
    view = await lineage.with_lineage(client, description, view, tenant)
    view = await compensation_view.with_compensation(client, settings, view, tenant)
    view = await runview.with_upgrade(description, view)
    if is_truncated(view.result) and view.status == "succeeded":
        # The run's view shows a large result as a marker: the run's own result is whole.
        # A run that has decided its end may still be reporting it: wait that long at most.
        try:
            result = await asyncio.wait_for(handle.result(), settings.query_timeout)
        except Exception:  # not ended in time, or unreadable: the view keeps the marker
            return view
        view = view.model_copy(update={"result": result})
    return view


@router.post(
    "",
    status_code=201,
    response_model=RunOut,
    responses={
        200: {"model": RunOut, "description": "A run with this id already exists: that run"},
        404: {"model": ErrorOut, "description": "No such workflow or version (for this tenant)"},
        409: {"model": ErrorOut, "description": "The run id is taken by another workflow's run"},
        413: {"model": ErrorOut, "description": "The body or the input is too large"},
        422: {"description": "The body is not valid, or the input breaks the `input` schema"},
    },
)
async def start(
    body: StartRunIn,
    response: Response,
    client: TemporalClient,
    settings: Settings,
    store: Store,
    tenant: Tenant,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=RUN_ID_PATTERN,
            description="Same as `run_id` in the body (which wins when both are given)",
        ),
    ] = None,
) -> RunOut:
    """Start a run of a published workflow; the same `run_id` never starts a second run.

    201 with the new run; 200 with the existing run when one with this id exists (running or
    ended).
    """
    limit = settings.max_input_bytes
    check_carried(body.input, limit, "input: the run input ", "the run input is")
    # off the event loop, in one hop: a large input against a large schema takes a while
    published, subflows = await run_in_threadpool(
        checked_start, store, tenant, body.workflow, body.version, body.input
    )
    definition = published.definition
    breakpoints = body.breakpoints.checked(definition) if body.breakpoints else None
    run_id = f"{tenant}:{body.run_id or idempotency_key or new_run_id(definition.name)}"
    request = RunRequest(
        definition=definition,
        input=body.input,
        version=published.version,
        tenant=tenant,
        subflows=subflows,
        flow_limits=settings.limits.flow,
        events_out=settings.events_out is not None,
        breakpoints=breakpoints,
    )
    handle = await start_once(client, settings, request, run_id, priority=body.priority)
    if handle is not None:  # Temporal has accepted it: answer without asking any worker
        response.headers["Location"] = f"{router.prefix}/{run_id}"
        return runview.initial_view(
            run_id, tenant, handle, definition, published.version, body.priority
        )
    view = await run_view(client, settings, run_id, tenant)
    if view.workflow not in (None, definition.name):
        raise HTTPException(
            409, f"run id '{run_id}' is taken by a run of workflow '{view.workflow}'"
        )
    response.status_code = 200
    response.headers["Location"] = f"{router.prefix}/{run_id}"
    return view


@router.get("", response_model=RunListOut, responses={422: {"model": ErrorOut}})
async def list_runs(
    client: TemporalClient,
    tenant: Tenant,
    workflow: Annotated[
        str | None, Query(pattern=NAME_PATTERN, max_length=200, description="Only this workflow")
    ] = None,
    status: Annotated[RunStatus | None, Query(description="Only runs in this status")] = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    page_token: Annotated[str | None, Query(max_length=8192)] = None,
) -> RunListOut:
    """The caller's runs, newest first, through Temporal visibility (may lag a second)."""
    clauses = [f"WorkflowType = '{WORKFLOW_NAME}'", f"Tenant = '{tenant}'"]
    if workflow is not None:
        clauses.append(f"WorkflowName = '{workflow}'")
    if status is not None:
        clauses.append(f"ExecutionStatus = '{VISIBILITY_STATUS[status]}'")
    token = _decode_token(page_token) if page_token else None
    listing = client.list_workflows(
        " AND ".join(clauses), page_size=page_size, next_page_token=token
    )
    try:
        await listing.fetch_next_page()
    except RPCError as exc:
        unavailable = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
        if token is not None and exc.status not in unavailable:  # a token Temporal cannot use
            raise HTTPException(422, "page_token is not valid") from None
        raise
    next_token = listing.next_page_token
    page = listing.current_page or []
    summaries = [RunSummaryOut.of(e, paused=await _paused(e)) for e in page]
    runs = await _with_stalls(client, summaries)
    if status in ("stalled", "running", "paused"):
        runs = [run for run in runs if run.status == status]
    return RunListOut(
        runs=runs,
        next_page_token=base64.urlsafe_b64encode(next_token).decode() if next_token else None,
    )


async def _paused(execution: WorkflowExecution) -> bool:
    """Whether a listed running run is paused, as its memo says (interpreter.pausing)."""
    if execution.status != WorkflowExecutionStatus.RUNNING:
        return False
    try:
        return bool(await execution.memo_value(PAUSED_MEMO, None))
    except Exception:  # an unreadable memo: listed as running
        return False


async def _with_stalls(client: Client, runs: list[RunSummaryOut]) -> list[RunSummaryOut]:
    """The listed runs, the running ones that are stalled marked so (one describe each)."""

    async def mark(run: RunSummaryOut) -> RunSummaryOut:
        if run.status not in ("running", "paused"):
            return run
        try:
            description = await client.get_workflow_handle(run.id).describe()
        except RPCError:
            return run
        stalled = stalls.is_stalled(description)
        return run.model_copy(update={"status": "stalled"}) if stalled else run

    return list(await asyncio.gather(*(mark(run) for run in runs)))


def _decode_token(text: str) -> bytes:
    try:
        token = base64.b64decode(text.encode("ascii"), altchars=b"-_", validate=True)
        # Temporal's SQL and Elasticsearch visibility tokens are JSON; the server answers
        # anything else with an error its client retries for seconds before giving up
        json.loads(token)
    except (binascii.Error, ValueError, UnicodeError):
        token = b""
    if not token:
        raise HTTPException(422, "page_token is not valid")
    return token


@router.get("/{run_id}", response_model=RunOut, responses=_NO_RUN)
async def get_run(
    run_id: str,
    client: TemporalClient,
    settings: Settings,
    tenant: Tenant,
    steps_page_size: Annotated[
        int | None, Query(ge=1, le=MAX_STEPS_PAGE, description="Steps per page (default: all)")
    ] = None,
    steps_page_token: Annotated[
        str | None,
        Query(max_length=1024, description="`steps_next_page_token` of the previous page"),
    ] = None,
) -> RunOut:
    """A run: status, steps, pending human steps (prompt and form), result or error, usage.

    The steps of a large run can be read page by page (`steps_page_size`, then
    `steps_page_token`), in the definition's order; `steps_total` counts them all.
    """
    view = await run_view(client, settings, run_id, tenant)
    return runview.paged(view, steps_page_size, steps_page_token)


@router.get(
    "/{run_id}/steps/{step}",
    response_model=StepOut,
    responses={
        404: {"model": ErrorOut, "description": "No such run, or no such step in it"},
        503: {"model": ErrorOut, "description": "No worker answered in time"},
    },
)
async def get_step(
    run_id: str, step: str, client: TemporalClient, settings: Settings, tenant: Tenant
) -> StepOut:
    """One step of a run with its input and output whole (the run view shows values above
    256 KiB as ``{"$truncated": true, "size": N}``)."""
    handle, _ = await owned_run(client, settings, run_id, tenant)
    try:
        answer = await handle.query(STEP_QUERY, step, rpc_timeout=_timeout(settings))
    except Exception:  # no worker, a timeout: the whole values need one
        raise HTTPException(
            503, f"the state of run '{run_id}' cannot be read now (no worker answered)"
        ) from None
    if not isinstance(answer, dict):
        raise HTTPException(404, f"run '{run_id}' has no step '{step}'")
    return StepOut.model_validate(answer)


@router.post(
    "/{run_id}/steps/{step:path}/respond",
    response_model=AnswerOut,
    responses={
        404: {"model": ErrorOut, "description": "No such run, or no such human step in it"},
        409: {"model": ErrorOut, "description": "The step is not waiting, or the run ended"},
        422: {"description": "`data` breaks the step's form (`detail` says where)"},
        504: {"model": ErrorOut, "description": "No worker took the answer in time"},
    },
)
async def respond(
    run_id: str,
    step: str,
    body: RespondIn,
    client: TemporalClient,
    settings: Settings,
    tenant: Tenant,
    actor: Actor,
) -> AnswerOut:
    """Answer a waiting human step (validated by the run: a refused answer changes nothing)."""
    handle, description = await owned_run(client, settings, run_id, tenant)
    try:
        encoded_json(body.data)
    except ValueError as exc:
        raise HTTPException(422, f"data: the answer {exc}") from None
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise HTTPException(409, f"run '{run_id}' has ended: step '{step}' is not waiting")
    answer = RespondRequest(step=step, data=body.data, actor=actor)
    accepted = await send_update(
        handle,
        run_id,
        RESPOND,
        answer,
        lambda exc: _refused(exc, run_id, step),
        what="answer",
        ended=f"step '{step}' is not waiting",
    )
    return AnswerOut(
        run_id=run_id,
        step=step,
        data=accepted.get("data"),
        actor=accepted.get("actor"),
        responded_at=accepted.get("responded_at"),
    )


def _refused(exc: WorkflowUpdateFailedError, run_id: str, step: str) -> HTTPException:
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.type == "InvalidAnswer":
        details = cause.details[0] if cause.details else None
        reason = details.get("reason") if isinstance(details, dict) else None
        if reason == "unknown_step":
            return HTTPException(404, f"run '{run_id}' has no human step '{step}'")
        if reason == "not_waiting":
            return HTTPException(409, cause.message)
        if reason == "invalid_data":
            return HTTPException(422, cause.message)
    message = getattr(cause, "message", None) or str(cause or exc)
    return HTTPException(409, f"the run refused the answer: {message}")


@router.post("/{run_id}/cancel", status_code=202, response_model=RunOut, responses={
    **_NO_RUN, 409: {"model": ErrorOut, "description": "The run has already ended"}
})  # fmt: skip
async def cancel(
    run_id: str,
    client: TemporalClient,
    settings: Settings,
    tenant: Tenant,
    force: Annotated[bool, Query(description="Terminate the run at once")] = False,
) -> RunOut:
    """Ask the run to cancel: running steps are cancelled, then the run ends `cancelled`.

    A `stalled` run cannot act on the request: it is terminated once the grace period
    (`KWORKFLOW_CANCEL_GRACE`, 5 s) has passed. `force=true` terminates any running run at once.
    """
    handle, description = await owned_run(client, settings, run_id, tenant)
    if description.status != WorkflowExecutionStatus.RUNNING:
        status = RunOut.of(run_id, tenant, description, None).status
        raise HTTPException(409, f"run '{run_id}' has already ended ({status})")
    try:
        await stalls.end(handle, description, force=force, grace=settings.cancel_grace)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(409, f"run '{run_id}' has already ended") from None
        raise
    return await run_view(client, settings, run_id, tenant)


@router.get(
    "/{run_id}/graph",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **_NO_RUN},
)
async def graph(
    run_id: str,
    client: TemporalClient,
    settings: Settings,
    tenant: Tenant,
    format: Annotated[Literal["dot", "mermaid"], Query()] = "mermaid",
) -> PlainTextResponse:
    """The run's graph as Graphviz DOT or Mermaid, each step coloured by its status."""
    definition, statuses = await definition_and_statuses(client, settings, run_id, tenant)
    return PlainTextResponse(render(definition, format, statuses))


async def definition_and_statuses(
    client: Client, settings: ApiSettings, run_id: str, tenant: str
) -> tuple[Definition, dict[str, Any]]:
    """What a drawing of a run needs: its definition and each step's status (empty if the
    status query cannot be answered).

    Raises:
        RunNotFound: No such run for this tenant.
    """
    handle, description = await owned_run(client, settings, run_id, tenant)
    definition = await runview.run_definition(client, handle, description)
    state, source = await runview.read_state(client, handle, description, settings)
    steps = state.get("steps") if source != "definition" else None
    statuses = {sid: s.get("status") for sid, s in steps.items()} if isinstance(steps, dict) else {}
    return definition, statuses
