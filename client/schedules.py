"""Temporal Schedules of published triggers: ids, the Schedule of a trigger, sync at publish.

Each trigger of a published version is one Temporal Schedule with the id
``<tenant>:<workflow>:<trigger>``. Its action starts the interpreter workflow with the
version's :class:`~interpreter.request.RunRequest` (the trigger's ``input``, the subflows pinned
at publish) under the workflow id ``<tenant>:<workflow>:<trigger>``, to which Temporal appends
the scheduled time (``acme:report:nightly-2026-12-01T02:00:00Z``); the run carries kworkflow's
search attributes, so it is one of the tenant's runs like any other, and Temporal adds
``TemporalScheduledById`` and ``TemporalScheduledStartTime``. The schedule itself carries
``Tenant``, ``WorkflowName`` and ``WorkflowVersion``, so a tenant's schedules are listed with
``Tenant = '<tenant>'``. Temporal does the timing: nothing here polls or sleeps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from client.priority import temporal_priority
from client.search_attributes import TENANT, WORKFLOW_NAME, WORKFLOW_VERSION, for_run
from interpreter import spec as dsl
from interpreter.durations import parse_duration
from interpreter.request import WORKFLOW_NAME as INTERPRETER
from interpreter.request import RunRequest
from interpreter.triggers import trigger_name

SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")
"""Set by Temporal on a run a schedule started: the schedule id."""
SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Set by Temporal on a run a schedule started: the time it was scheduled for."""

CATCHUP_WINDOW = timedelta(hours=1)
"""How far back Temporal runs the fire times it missed (its server down): older ones are
skipped, so a day of downtime does not start a day of runs at once."""
OVERLAP: dict[str, ScheduleOverlapPolicy] = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "buffer_all": ScheduleOverlapPolicy.BUFFER_ALL,
    "allow": ScheduleOverlapPolicy.ALLOW_ALL,
}
"""kworkflow's overlap names -> Temporal's (``buffer_all`` is for backfills only)."""
OVERLAP_NAME = {policy: name for name, policy in OVERLAP.items()}


@dataclass(frozen=True)
class ScheduleRef:
    """What a schedule id names.

    Attributes:
        tenant: The owner.
        workflow: The workflow name.
        trigger: The trigger name.
    """

    tenant: str
    workflow: str
    trigger: str

    @property
    def id(self) -> str:
        """The Temporal Schedule id."""
        return f"{self.tenant}:{self.workflow}:{self.trigger}"

    @property
    def workflow_id(self) -> str:
        """The workflow id of its runs, before Temporal appends the scheduled time: the
        schedule id itself (names have no ``:``, so workflow ``ab-x`` with trigger ``y`` and
        workflow ``ab`` with trigger ``x-y`` never share run ids, as ``ab-x-y`` did)."""
        return self.id

    @classmethod
    def parse(cls, schedule_id: str) -> ScheduleRef | None:
        """The parts of a schedule id, or None when it is not one of kworkflow's."""
        parts = schedule_id.split(":")
        if len(parts) != 3 or not all(parts):
            return None
        return cls(*parts)


@dataclass(frozen=True)
class SyncResult:
    """What publishing a version did to its workflow's schedules (ids, sorted)."""

    created: list[str]
    updated: list[str]
    deleted: list[str]


def temporal_spec(schedule: dsl.ScheduleSpec) -> ScheduleSpec:
    """Temporal's spec of a trigger's ``schedule``."""
    jitter = parse_duration(schedule.jitter) if schedule.jitter else None
    if schedule.every is not None:
        return ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=parse_duration(schedule.every))],
            jitter=jitter,
            time_zone_name=schedule.timezone,
        )
    return ScheduleSpec(
        cron_expressions=[schedule.cron or ""], jitter=jitter, time_zone_name=schedule.timezone
    )


def schedule_attributes(ref: ScheduleRef, version: int) -> TypedSearchAttributes:
    """The search attributes of a schedule (not of its runs)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT, ref.tenant),
            SearchAttributePair(WORKFLOW_NAME, ref.workflow),
            SearchAttributePair(WORKFLOW_VERSION, version),
        ]
    )


def build_schedule(
    ref: ScheduleRef, trigger: dsl.Trigger, request: RunRequest, task_queue: str
) -> Schedule:
    """The Schedule of one trigger; ``request`` is the version's, with the trigger's input."""
    action = ScheduleActionStartWorkflow(
        INTERPRETER,
        request,
        id=ref.workflow_id,
        task_queue=task_queue,
        typed_search_attributes=for_run(request),
        priority=temporal_priority(trigger.priority),
    )
    policy = SchedulePolicy(
        overlap=OVERLAP[trigger.schedule.overlap], catchup_window=CATCHUP_WINDOW
    )
    return Schedule(action=action, spec=temporal_spec(trigger.schedule), policy=policy)


async def sync_schedules(
    client: Client,
    request: RunRequest,
    task_queue: str,
    previous: Sequence[str] = (),
) -> SyncResult:
    """Make the workflow's schedules those of the version in ``request``.

    A trigger without a schedule gets one; an existing one takes the new spec, policy and
    action, and keeps its state (a paused schedule stays paused, with its note); a schedule
    of a trigger the version dropped is deleted. Dropped schedules are found among
    ``previous`` (the previous version's trigger names) and in Temporal's list of the
    workflow's schedules.

    Args:
        client: A client with kworkflow's data converter.
        request: The published version's run request (tenant, definition, version, subflows).
        task_queue: Where the runs start.
        previous: Trigger names of the previous version.

    Raises:
        temporalio.service.RPCError: Temporal refused or is unavailable.
    """
    tenant, definition = request.tenant, request.definition
    created: list[str] = []
    updated: list[str] = []
    wanted: set[str] = set()
    for index, trigger in definition.schedule_triggers():
        ref = ScheduleRef(tenant, definition.name, trigger_name(index, trigger))
        wanted.add(ref.id)
        run = request.model_copy(update={"input": trigger.schedule.input})
        schedule = build_schedule(ref, trigger, run, task_queue)
        attributes = schedule_attributes(ref, request.version)
        try:
            await client.create_schedule(ref.id, schedule, search_attributes=attributes)
            created.append(ref.id)
            continue
        except ScheduleAlreadyRunningError:
            pass
        await client.get_schedule_handle(ref.id).update(_replacing(schedule, attributes))
        updated.append(ref.id)
    stale = {ScheduleRef(tenant, definition.name, name).id for name in previous}
    stale |= set(await workflow_schedule_ids(client, tenant, definition.name))
    deleted: list[str] = []
    for schedule_id in sorted(stale - wanted):
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        deleted.append(schedule_id)
    return SyncResult(sorted(created), sorted(updated), deleted)


def _replacing(schedule: Schedule, attributes: TypedSearchAttributes) -> Any:
    """An updater that puts ``schedule``'s action, spec and policy in, keeping the state."""

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        state = current.description.schedule.state
        return ScheduleUpdate(
            schedule=dataclasses.replace(schedule, state=state), search_attributes=attributes
        )

    return update


async def workflow_schedule_ids(client: Client, tenant: str, workflow: str) -> list[str]:
    """The ids of a workflow's schedules, as Temporal lists them (it may lag a second)."""
    query = f"{TENANT.name} = '{tenant}' AND {WORKFLOW_NAME.name} = '{workflow}'"
    prefix = f"{tenant}:{workflow}:"
    return [s.id async for s in await client.list_schedules(query) if s.id.startswith(prefix)]


async def tenant_schedule_counts(client: Client, tenant: str) -> dict[str, int]:
    """How many schedules each of the tenant's workflows has (as Temporal lists them)."""
    counts: dict[str, int] = {}
    async for listed in await client.list_schedules(f"{TENANT.name} = '{tenant}'"):
        ref = ScheduleRef.parse(listed.id)
        if ref is not None and ref.tenant == tenant:
            counts[ref.workflow] = counts.get(ref.workflow, 0) + 1
    return counts


def scheduled_origin(attributes: TypedSearchAttributes) -> tuple[str, datetime] | None:
    """Which schedule started a run and for what time, from the run's search attributes."""
    by, at = attributes.get(SCHEDULED_BY), attributes.get(SCHEDULED_AT)
    if not by or at is None:
        return None
    return by, at
