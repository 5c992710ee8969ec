"""The continue route: ``POST /v1/runs/{run_id}/continue`` lets a run held at a breakpoint go
on, with the held step's input (before) or output (after) edited.

It is the run's ``continue`` update (:mod:`interpreter.breakpoints`), sent with the caller's
identity as ``by``: validated by the run, so a refused continue changes nothing. 409 when the
run is not held there (not at a breakpoint, or at another step: the message says where it is),
422 for an edit that does not fit the step. Ownership is checked as for every run route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.limits import check_carried
from api.run_actions import _ONE
from api.runs import Actor, Settings, TemporalClient, Tenant, owned_run
from api.schemas_runs import ErrorOut, PausedOut
from api.updates import check_live, send_update
from client.search_attributes import WORKFLOW_NAME as WORKFLOW_NAME_KEY
from interpreter.breakpoints import CONTINUE
from interpreter.spec import STEP_ID_PATTERN
from telemetry.metrics import RUNS_CONTINUED

router = APIRouter(tags=["runs"])


class ContinueIn(BaseModel):
    """The body of ``POST /v1/runs/{run_id}/continue``."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(pattern=STEP_ID_PATTERN, max_length=200, description="The held step")
    input: Any = Field(
        default=None,
        description="Before a step: fields replacing its resolved ones (omit: as resolved)",
    )
    output: Any = Field(
        default=None, description="After a step: its new output, whole (omit: as it ran)"
    )


class ContinueOut(BaseModel):
    """What a continue did."""

    run_id: str
    status: str = Field(description="`paused` (another step is held) or `running`")
    paused: PausedOut | None
    step: str
    when: str = Field(description="`before` or `after`")
    edited: bool


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_ONE,
    409: {
        "model": ErrorOut,
        "description": "The run is not held at that step (`detail` says where it is), has ended, "
        "or is stalled",
    },
    413: {"model": ErrorOut, "description": "The edit is larger than the run input limit"},
    422: {"model": ErrorOut, "description": "The body is not valid, or the edit does not fit"},
}


@router.post("/v1/runs/{run_id}/continue", response_model=ContinueOut, responses=_RESPONSES)
async def continue_run(
    run_id: str,
    body: ContinueIn,
    client: TemporalClient,
    settings: Settings,
    tenant: Tenant,
    actor: Actor,
) -> ContinueOut:
    """Let a run held at a breakpoint go on (the step's `input` or `output` maybe edited)."""
    handle, description = await owned_run(client, settings, run_id, tenant)
    check_live(run_id, tenant, description, CONTINUE)
    payload = {**body.model_dump(exclude_unset=True), "by": actor}
    edit = {k: v for k, v in payload.items() if k in ("input", "output")}
    check_carried(edit, settings.max_input_bytes, "the edit ", "the edit is")
    answer = await send_update(handle, run_id, CONTINUE, payload)
    name = description.typed_search_attributes.get(WORKFLOW_NAME_KEY) or "unknown"
    edited = bool(answer.get("edited"))
    RUNS_CONTINUED.labels(workflow=name, edited=str(edited).lower()).inc()
    paused = answer.get("paused")
    return ContinueOut(
        run_id=run_id,
        status="paused" if paused else "running",
        paused=PausedOut.model_validate(paused) if paused else None,
        step=str(answer.get("step")),
        when=str(answer.get("when")),
        edited=edited,
    )
