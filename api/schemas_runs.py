"""Request and response bodies of the ``/v1/runs`` routes, and how a run's view is assembled.

A run's view (:class:`RunOut`) joins Temporal's description of the run (status, times, search
attributes) with the run's state (steps, pending human steps, result, error) from its final view
or its ``status`` query (:mod:`api.runview`); token and cost totals are summed over the outputs
of the steps that call models.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowExecution, WorkflowExecutionStatus

from api.schemas_schedules import ScheduledOut
from client.priority import run_priority
from client.search_attributes import TENANT, WORKFLOW_NAME, WORKFLOW_VERSION
from interpreter.request import BreakpointSet
from interpreter.spec import NAME_PATTERN, Definition
from interpreter.yamldoc import MAX_DEPTH

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"
"""A client-chosen run id (``run_id`` or ``Idempotency-Key``): safe in a URL path."""

RunStatus = Literal[
    "running",
    "paused",
    "stalled",
    "succeeded",
    "failed",
    "cancelled",
    "terminated",
    "timed_out",
    "continued_as_new",
]
"""``paused``: running, but paused (:mod:`interpreter.pausing`): it starts no new step.
``stalled``: running, but its workflow tasks keep failing (:mod:`api.stalls`)."""
StepsSource = Literal["live", "final", "definition"]
"""Where a view's steps came from (:mod:`api.runview`): ``live`` the running run's ``status``
query, ``final`` the ended run's final view, ``definition`` the definition alone (no worker
answered, or the run was just started)."""
STATUS_OF: dict[WorkflowExecutionStatus, RunStatus] = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "succeeded",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "continued_as_new",
}
"""A Temporal execution status as the API names it."""
VISIBILITY_STATUS: dict[RunStatus, str] = {
    "running": "Running",
    "paused": "Running",
    "stalled": "Running",
    "succeeded": "Completed",
    "failed": "Failed",
    "cancelled": "Canceled",
    "terminated": "Terminated",
    "timed_out": "TimedOut",
    "continued_as_new": "ContinuedAsNew",
}
"""The API's run status -> the ``ExecutionStatus`` of a visibility query."""
DECIDED = frozenset({"succeeded", "failed", "cancelled"})
"""How a run ends, as its own state says; Temporal still calls the run running while its last
activity (telemetry.run_report) reports the end, and the API shows the run as ended then."""
TOKEN_KINDS = frozenset({"llm", "agent", "parallel", "subflow"})
"""Kinds whose outputs count towards ``usage`` and ``cost_usd`` (an aggregate that collects
model outputs would otherwise count them twice)."""


class StartRunIn(BaseModel):
    """The body of ``POST /v1/runs``."""

    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(
        pattern=NAME_PATTERN, max_length=200, description="A published workflow's name"
    )
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The version to run (default: the latest)"
    )
    input: Any = Field(
        default_factory=dict, description="The run input, checked against the `input` schema"
    )
    run_id: str | None = Field(
        default=None,
        pattern=RUN_ID_PATTERN,
        description="Makes the start idempotent; the run's id is `<tenant>:<run_id>`",
    )
    breakpoints: BreakpointsIn | None = Field(
        default=None, description="Steps the run stops at, before or after them (docs/api.md)"
    )
    priority: int | None = Field(
        default=None,
        ge=1,
        le=5,
        description="1 (its steps are dispatched first) to 5 (last); default 3",
    )


class RespondIn(BaseModel):
    """The body of ``POST /v1/runs/{run_id}/steps/{step}/respond``."""

    model_config = ConfigDict(extra="forbid")

    data: Any = Field(description="The answer; it must satisfy the step's `form`")


class ErrorOut(BaseModel):
    """The body of an error response."""

    detail: str


class StepErrorOut(BaseModel):
    """Why a step or a run failed."""

    type: str
    message: str


class StepOut(BaseModel):
    """One step of the run, as the ``status`` query reports it."""

    id: str
    kind: str
    status: str = Field(
        description="pending, queued (waiting for a slot of the tenant's step quota), "
        "running, waiting, at_breakpoint, succeeded, failed, skipped or "
        "cancelled; "
        "unknown when no worker could say (`steps_source` is `definition`)"
    )
    attempts: int = 0
    iterations: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    input: Any = Field(default=None, description="The step's fields as resolved when it started")
    output: Any = None
    error: StepErrorOut | None = None
    progress: dict[str, int] | None = Field(default=None, description="parallel steps only")


class PendingHumanOut(BaseModel):
    """A human step waiting for an answer."""

    step: str
    prompt: Any = None
    form: dict[str, Any] | None = Field(default=None, description="JSON Schema of the answer")
    assignees: Any = None
    since: datetime | None = None
    timeout_at: datetime | None = None


class BreakpointAtOut(BaseModel):
    """Where a run is held at a breakpoint."""

    step: str
    when: Literal["before", "after"]


class PausedOut(BaseModel):
    """Since when, by whom and why a run is paused."""

    since: datetime | None = None
    by: str | None = None
    reason: str | None = Field(default=None, description="`breakpoint` when held at one")
    at: BreakpointAtOut | None = Field(default=None, description="Held at a breakpoint: where")


class BreakpointsIn(BaseModel):
    """Steps a run stops at: before they start, after they ran (top-level step ids)."""

    model_config = ConfigDict(extra="forbid")

    before: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=1000
    )
    after: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=1000
    )

    def checked(self, definition: Definition) -> BreakpointSet:
        """These breakpoints for a run of ``definition``.

        Raises:
            HTTPException: 422 naming the steps ``definition`` does not have.
        """
        breakpoints = BreakpointSet(before=self.before, after=self.after)
        unknown = breakpoints.unknown(definition)
        if unknown:
            names = ", ".join(f"'{sid}'" for sid in unknown)
            message = f"breakpoints: workflow '{definition.name}' has no step {names}"
            raise HTTPException(422, message)
        return breakpoints


class UpgradedOut(BaseModel):
    """The latest upgrade of a run to a newer version (its memo ``kworkflow.upgraded``)."""

    from_version: int = Field(description="The version the run ran before")
    to_version: int = Field(description="The version it runs since")
    at: datetime | None = None
    by: str | None = Field(default=None, description="Who upgraded it")


class UsageOut(BaseModel):
    """Tokens spent by the run's model calls."""

    input_tokens: int = 0
    output_tokens: int = 0


class RetryOfOut(BaseModel):
    """Where a retried run comes from (its memo ``kworkflow.retry_of``: :mod:`api.retry`)."""

    run_id: str = Field(description="The run it retries")
    root: str = Field(description="The first run of its chain of retries")
    from_: str | None = Field(default=None, alias="from", description="The step asked for")
    version: int = Field(description="The definition version the original ran")
    reused: list[str] = Field(description="Steps taken over from the original, not run again")
    retried: list[str] = Field(description="Steps of the original that run again")
    by: str | None = Field(default=None, description="Who asked for the retry")
    mode: Literal["retry", "fork", "compensate"] = Field(
        default="retry", description="A retry, a fork or a compensation"
    )
    edited: list[str] = Field(default_factory=list, description="A fork's edited steps")

    model_config = ConfigDict(populate_by_name=True)


CompensationStatus = Literal[
    "compensating", "compensated", "compensation_failed", "compensation_cancelled"
]


class CompensationStepOut(StepOut):
    """The compensation of one step: an ordinary step state of its ``compensate`` spec."""

    step: str = Field(description="The step it compensates (`kind` is the compensation's kind)")


class CompensationOut(BaseModel):
    """How a run's compensation went (docs/workflows.md#compensation)."""

    status: CompensationStatus = Field(description="compensating, compensated, ...")
    mode: Literal["auto", "manual"] = Field(
        description="`auto`: the run compensated itself (`compensate_on`); `manual`: a run "
        "started by `POST /v1/runs/{id}/compensate`"
    )
    steps: list[CompensationStepOut] = Field(
        default_factory=list, description="One entry per step compensated, in order"
    )
    run_id: str | None = Field(
        default=None, description="On the original run of a manual compensation: that run"
    )


class PendingEventOut(BaseModel):
    """An ``event`` step waiting for a CloudEvent (docs/events.md)."""

    step: str
    type: str = Field(description="The event type it waits for")
    filter: str | None = Field(default=None, description="Its CEL filter, if any")
    since: datetime
    timeout_at: datetime | None = None


class RunOut(BaseModel):
    """A run: its status, steps, pending human steps, result or error, and what it spent.

    ``steps`` is never null: when no worker could say, they are the definition's steps with
    status ``unknown`` (``steps_source`` says where they came from; docs/api.md).
    """

    id: str = Field(description="The run id: the Temporal workflow id")
    temporal_run_id: str | None = Field(default=None, description="Temporal's execution run id")
    workflow: str | None
    version: int | None
    tenant: str
    status: RunStatus
    paused: PausedOut | None = Field(
        default=None, description="While the run is paused (status `paused`): since, by, reason"
    )
    breakpoints: dict[str, list[str]] | None = Field(
        default=None, description="The steps the run stops at: `{before: [...], after: [...]}`"
    )
    priority: int = Field(default=3, description="1 (dispatched first) to 5 (last)")
    started_at: datetime | None
    ended_at: datetime | None
    steps: dict[str, StepOut] = Field(description="The run's steps (one page when paged)")
    steps_source: StepsSource = Field(description="Where `steps` came from")
    steps_total: int = Field(description="How many steps the run has (all pages)")
    steps_next_page_token: str | None = Field(
        default=None, description="Pass as `steps_page_token` for the next page of steps"
    )
    pending_human: list[PendingHumanOut]
    pending_events: list[PendingEventOut] = Field(
        default_factory=list, description="The `event` steps waiting for an event"
    )
    result: Any = None
    error: StepErrorOut | None = None
    usage: UsageOut
    cost_usd: float
    last_seq: int | None = Field(description="The last transition's sequence number (events)")
    retry_of: RetryOfOut | None = Field(default=None, description="Set on a retry: its origin")
    retries: list[str] = Field(
        default_factory=list, description="The runs that retry this one (ended runs only)"
    )
    compensation: CompensationOut | None = Field(
        default=None, description="Set when the run compensated, or a run compensates it"
    )
    scheduled: ScheduledOut | None = Field(
        default=None, description="Set on a run a schedule started: which one, for what time"
    )
    upgraded: UpgradedOut | None = Field(
        default=None, description="Set once the run was upgraded to a newer version"
    )

    @classmethod
    def of(
        cls,
        run_id: str,
        tenant: str,
        description: WorkflowExecution,
        state: Mapping[str, Any] | None,
        steps_source: StepsSource = "definition",
    ) -> RunOut:
        """The view of a run from its description and its state (None: unknown)."""
        attributes = description.typed_search_attributes
        usage, cost = totals(state)
        steps = (state.get("steps") if state else None) or {}
        status = STATUS_OF.get(description.status, "running") if description.status else "running"
        ended_at = description.close_time
        decided = (state or {}).get("status")
        if status == "running" and decided in DECIDED:  # only the report of its end is left
            status, ended_at = decided, (state or {}).get("ended_at")
        paused = (state or {}).get("paused") if status == "running" else None
        if paused:
            status = "paused"
        return cls(
            id=run_id,
            temporal_run_id=description.run_id or None,
            workflow=attributes.get(WORKFLOW_NAME) or (state or {}).get("workflow"),
            version=attributes.get(WORKFLOW_VERSION),
            tenant=tenant,
            status=status,
            paused=PausedOut.model_validate(paused) if paused else None,
            breakpoints=(state or {}).get("breakpoints"),
            priority=run_priority(description.raw_info),
            started_at=description.start_time,
            ended_at=ended_at,
            steps={sid: StepOut.model_validate(step) for sid, step in steps.items()},
            steps_source=steps_source,
            steps_total=len(steps),
            pending_human=[
                PendingHumanOut.model_validate(p) for p in (state or {}).get("pending_human") or []
            ],
            pending_events=[
                PendingEventOut.model_validate(p) for p in (state or {}).get("pending_events") or []
            ],
            result=(state or {}).get("result"),
            error=(state or {}).get("error"),
            usage=usage,
            cost_usd=cost,
            last_seq=(state or {}).get("last_seq"),
            compensation=(state or {}).get("compensation"),
            scheduled=ScheduledOut.of(attributes),
        )


class RunSummaryOut(BaseModel):
    """A run as listed."""

    id: str
    workflow: str | None
    version: int | None
    status: RunStatus
    started_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, execution: WorkflowExecution, paused: bool = False) -> RunSummaryOut:
        """A listed execution (from Temporal visibility); ``paused``: its memo says so."""
        attributes = execution.typed_search_attributes
        status = STATUS_OF.get(execution.status, "running") if execution.status else "running"
        return cls(
            id=execution.id,
            workflow=attributes.get(WORKFLOW_NAME),
            version=attributes.get(WORKFLOW_VERSION),
            status="paused" if paused and status == "running" else status,
            started_at=execution.start_time,
            ended_at=execution.close_time,
        )


class RunListOut(BaseModel):
    """One page of the caller's runs, newest first."""

    runs: list[RunSummaryOut]
    next_page_token: str | None = Field(
        description="Pass as `page_token` for the next page; null on the last page"
    )


class AnswerOut(BaseModel):
    """The answer a human step accepted."""

    run_id: str
    step: str
    data: Any
    actor: str | None
    responded_at: datetime | None


def tenant_of(execution: WorkflowExecution) -> str | None:
    """The ``Tenant`` search attribute of a run (None when it has none)."""
    return execution.typed_search_attributes.get(TENANT)


def totals(state: Mapping[str, Any] | None) -> tuple[UsageOut, float]:
    """Tokens and cost summed over the outputs of the steps of :data:`TOKEN_KINDS`.

    Inside an output, every mapping that holds both ``usage`` and ``cost_usd`` (as llm and
    agent outputs do) counts once, and is not looked into further.
    """
    usage = UsageOut()
    cost = 0.0
    steps = (state or {}).get("steps")
    if not isinstance(steps, dict):
        return usage, cost
    todo = [s.get("output") for s in steps.values() if s.get("kind") in TOKEN_KINDS]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            if "usage" in value and "cost_usd" in value:
                spent = value["usage"] if isinstance(value["usage"], dict) else {}
                usage.input_tokens += _count(spent.get("input_tokens"))
                usage.output_tokens += _count(spent.get("output_tokens"))
                price = value["cost_usd"]
                if isinstance(price, int | float) and not isinstance(price, bool):
                    cost += float(price)
                continue
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return usage, round(cost, 9)


def encoded_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, checked to be something a run can carry.

    Raises:
        ValueError: It nests deeper than :data:`MAX_DEPTH` levels, holds ``NaN`` or an
            infinity, or holds text that is not valid Unicode (a lone surrogate); the message
            says which, for a person.
    """
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            todo.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            todo.extend((v, level + 1) for v in item)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise ValueError("holds NaN or Infinity, which JSON does not have") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds text that is not valid Unicode (a lone surrogate)") from None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
