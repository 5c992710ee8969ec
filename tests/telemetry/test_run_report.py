"""The end-of-run report as a local activity: inside the run's last workflow task, once."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from interpreter.registration import new_worker
from interpreter.request import ATTEMPT_SIGNAL, AttemptReport
from telemetry.metrics import REGISTRY
from telemetry.run_report import ACTIVITY as REPORT_ACTIVITY
from telemetry.run_report import RunReport, report_run
from tests.support.runs import failure, result, start, status
from tests.support.standins import STANDIN_ACTIVITIES

QUICK = "kworkflow: 1\nname: quick\nsteps: [{id: a, kind: aggregate, expr: '1'}]"


async def events(handle: WorkflowHandle) -> list[str]:
    """The run's history as event type names (``ACTIVITY_TASK_SCHEDULED``...), markers by name."""
    names = []
    async for event in handle.fetch_history_events():
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        if event.HasField("marker_recorded_event_attributes"):
            name += f" {event.marker_recorded_event_attributes.marker_name}"
        names.append(name)
    return names


def counting_report(reports: list[tuple[str, str]], delay: float = 0.0):  # type: ignore[no-untyped-def]
    @activity.defn(name=REPORT_ACTIVITY)
    async def report_run(report: RunReport) -> None:
        await asyncio.sleep(delay)
        reports.append((report.run_id, report.status))

    return report_run


async def test_an_activity_free_run_is_one_workflow_task_and_reports_once(
    client: Client, task_queue: str
) -> None:
    """No activity task for the report: the run ends in the workflow task that started it.
    Without a cache every query replays the run; none of them reports again."""
    reports: list[tuple[str, str]] = []
    async with new_worker(
        client,
        task_queue,
        STANDIN_ACTIVITIES,
        run_report=counting_report(reports),
        max_cached_workflows=0,
    ):
        handle = await start(client, task_queue, QUICK)
        assert await result(handle) == {"a": 1}
        for _ in range(3):
            assert (await status(handle))["status"] == "succeeded"
    assert reports == [(handle.id, "succeeded")]
    assert await events(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "MARKER_RECORDED core_patch",  # the baseline of every patch (interpreter.patches)
        "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",  # the patch's TemporalChangeVersion
        "WORKFLOW_PROPERTIES_MODIFIED",  # the final view, in the memo
        "MARKER_RECORDED core_local_activity",  # the report (run-report-local)
        "WORKFLOW_EXECUTION_COMPLETED",
    ]


async def test_a_failed_run_reports_its_end_once(client: Client, task_queue: str) -> None:
    reports: list[tuple[str, str]] = []
    async with new_worker(
        client, task_queue, STANDIN_ACTIVITIES, run_report=counting_report(reports)
    ):
        handle = await start(
            client, task_queue, QUICK.replace("expr: '1'", "expr: 'input.missing'")
        )
        assert (await failure(handle)).type == "StepFailed"
    assert reports == [(handle.id, "failed")]
    assert "ACTIVITY_TASK_SCHEDULED" not in await events(handle)


def slow_real_report(delay: float, reporting: asyncio.Event):  # type: ignore[no-untyped-def]
    """kworkflow's own report, after a pause: wide enough a window for the races of the end."""

    @activity.defn(name=REPORT_ACTIVITY)
    async def slow_report(report: RunReport) -> None:
        reporting.set()
        await asyncio.sleep(delay)
        await report_run(report)

    return slow_report


def finished(name: str, status: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "kworkflow_runs_finished_total", {"workflow": name, "status": status}
        )
        or 0.0
    )


async def test_a_signal_during_the_report_runs_the_end_again_and_counts_it_once(
    client: Client, task_queue: str
) -> None:
    """The server refuses the last workflow task (a signal came meanwhile): the run ends again,
    the same way, and the worker does not count that end twice."""
    name = f"quick-{uuid.uuid4().hex[:8]}"
    reporting = asyncio.Event()
    async with new_worker(
        client, task_queue, STANDIN_ACTIVITIES, run_report=slow_real_report(0.5, reporting)
    ):
        handle = await start(client, task_queue, QUICK.replace("quick", name))
        await asyncio.wait_for(reporting.wait(), 10)
        await handle.signal(ATTEMPT_SIGNAL, AttemptReport(path="nowhere", attempt=2))
        assert await result(handle) == {"a": 1}
    history = await events(handle)
    assert history.count("WORKFLOW_TASK_FAILED") == 1  # the race did happen
    assert history.count("MARKER_RECORDED core_local_activity") == 1
    assert (finished(name, "succeeded"), finished(name, "cancelled")) == (1, 0)


async def test_a_cancel_during_the_report_cancels_the_run(client: Client, task_queue: str) -> None:
    """A cancel request that reaches the run before its end is recorded cancels it: each end the
    worker computed is counted (docs/operations.md says so)."""
    name = f"quick-{uuid.uuid4().hex[:8]}"
    reporting = asyncio.Event()
    async with new_worker(
        client, task_queue, STANDIN_ACTIVITIES, run_report=slow_real_report(0.5, reporting)
    ):
        handle = await start(client, task_queue, QUICK.replace("quick", name))
        await asyncio.wait_for(reporting.wait(), 10)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as raised:
            await result(handle)
        assert isinstance(raised.value.cause, CancelledError)
    history = await events(handle)
    assert history[-1] == "WORKFLOW_EXECUTION_CANCELED"
    assert (finished(name, "succeeded"), finished(name, "cancelled")) == (1, 1)
