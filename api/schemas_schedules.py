"""Request and response bodies of the ``/v1/schedules`` routes, and the run view's origin."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleDescription,
    ScheduleListDescription,
)
from temporalio.common import TypedSearchAttributes

from api.schemas_workflows import ProblemOut, PublishedOut
from client.schedules import ScheduleRef, scheduled_origin
from client.search_attributes import WORKFLOW_VERSION

Overlap = Literal["skip", "buffer_one", "buffer_all", "allow"]


class ScheduledOut(BaseModel):
    """Which schedule started a run, and the time it was scheduled for."""

    schedule_id: str = Field(description="The schedule (`GET /v1/schedules/{id}`)")
    scheduled_at: datetime = Field(description="The fire time it started for")

    @classmethod
    def of(cls, attributes: TypedSearchAttributes) -> ScheduledOut | None:
        """From a run's search attributes (None: no schedule started it)."""
        origin = scheduled_origin(attributes)
        return cls(schedule_id=origin[0], scheduled_at=origin[1]) if origin else None


class PublishedWithSchedulesOut(PublishedOut):
    """A version just published, and what it did to the workflow's schedules."""

    schedules: list[str] = Field(
        default_factory=list, description="The ids of the version's schedules (its triggers)"
    )
    schedules_deleted: list[str] = Field(
        default_factory=list, description="Schedules of triggers this version dropped"
    )
    warnings: list[ProblemOut] = Field(
        default_factory=list, description="Lint warnings: reported, they did not refuse it"
    )


class ActionOut(BaseModel):
    """One run a schedule started."""

    run_id: str
    scheduled_at: datetime
    started_at: datetime

    @classmethod
    def of(cls, result: ScheduleActionResult) -> ActionOut:
        """From Temporal's record of the action."""
        action = result.action
        run_id = ""
        if isinstance(action, ScheduleActionExecutionStartWorkflow):
            run_id = action.workflow_id
        return cls(run_id=run_id, scheduled_at=result.scheduled_at, started_at=result.started_at)


class ScheduleSummaryOut(BaseModel):
    """A schedule as listed."""

    id: str
    workflow: str
    trigger: str
    version: int | None
    paused: bool
    note: str | None
    next_run: datetime | None = Field(description="The next fire time (null: none)")
    last_run: ActionOut | None = Field(description="The latest run it started")

    @classmethod
    def of(cls, ref: ScheduleRef, listed: ScheduleListDescription) -> ScheduleSummaryOut:
        """From a listed schedule (Temporal visibility)."""
        state = listed.schedule.state if listed.schedule else None
        info = listed.info
        recent = list(info.recent_actions) if info else []
        upcoming = list(info.next_action_times) if info else []
        return cls(
            id=ref.id,
            workflow=ref.workflow,
            trigger=ref.trigger,
            version=listed.typed_search_attributes.get(WORKFLOW_VERSION),
            paused=bool(state and state.paused),
            note=state.note if state else None,
            next_run=upcoming[0] if upcoming else None,
            last_run=ActionOut.of(recent[-1]) if recent else None,
        )


class ScheduleListOut(BaseModel):
    """The caller's schedules, by id."""

    schedules: list[ScheduleSummaryOut]


class ScheduleOut(BaseModel):
    """A schedule: its trigger as declared, its state, its recent runs and next times."""

    id: str
    tenant: str
    workflow: str
    trigger: str
    version: int | None = Field(description="The published version its runs start")
    schedule: dict[str, Any] | None = Field(
        description="The trigger's `schedule` as that version declares it"
    )
    paused: bool
    note: str | None = Field(description="The note of the last pause or resume")
    next_runs: list[datetime] = Field(description="The next fire times (up to 10)")
    recent_runs: list[ActionOut] = Field(description="The latest runs it started, oldest first")
    running: list[str] = Field(description="Runs it started that are running")
    actions: int = Field(description="How many runs it has started")
    skipped_overlap: int = Field(description="Fire times skipped because a run was running")
    created_at: datetime
    updated_at: datetime | None

    @classmethod
    def of(
        cls, ref: ScheduleRef, described: ScheduleDescription, schedule: dict[str, Any] | None
    ) -> ScheduleOut:
        """From Temporal's description and the trigger as declared."""
        state, info = described.schedule.state, described.info
        return cls(
            id=ref.id,
            tenant=ref.tenant,
            workflow=ref.workflow,
            trigger=ref.trigger,
            version=described.typed_search_attributes.get(WORKFLOW_VERSION),
            schedule=schedule,
            paused=state.paused,
            note=state.note,
            next_runs=list(info.next_action_times),
            recent_runs=[ActionOut.of(r) for r in info.recent_actions],
            running=[
                r.workflow_id
                for r in info.running_actions
                if isinstance(r, ScheduleActionExecutionStartWorkflow)
            ],
            actions=info.num_actions,
            skipped_overlap=info.num_actions_skipped_overlap,
            created_at=info.created_at,
            updated_at=info.last_updated_at,
        )


class NoteIn(BaseModel):
    """The body of pause and resume (optional)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=1000, description="Why, for the schedule")


class StateOut(BaseModel):
    """The answer of pause and resume."""

    schedule_id: str
    paused: bool
    note: str | None
    changed: bool = Field(description="False when it already was in that state")


class TriggerIn(BaseModel):
    """The body of trigger (optional)."""

    model_config = ConfigDict(extra="forbid")

    overlap: Overlap = Field(
        default="allow", description="What to do if a run of the schedule is running"
    )


class TriggeredOut(BaseModel):
    """The answer of trigger."""

    schedule_id: str
    run_id: str | None = Field(description="The run it started (null: none seen yet)")


class BackfillIn(BaseModel):
    """The body of backfill: a past time range, both ends included."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime
    overlap: Overlap = Field(
        default="allow", description="What to do if a run of the schedule is running"
    )


class BackfillOut(BaseModel):
    """The answer of backfill."""

    schedule_id: str
    start: datetime
    end: datetime
    overlap: Overlap
    runs: int = Field(description="How many fire times the range holds (runs asked for)")
