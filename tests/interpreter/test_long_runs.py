"""A long run picks up on a new worker without a workflow task of that worker timing out.

A new worker that takes over a run replays its whole history in one workflow task; when the
interpreter's work per step grew with the run (it rescanned every step at each wake-up and
rebuilt ``steps`` for CEL), replaying hundreds of steps took longer than Temporal's 10 s
workflow task timeout and the run stalled in timeouts. The run here is one history (no
continue-as-new), on a dev server of its own that does not suggest continuing as new early.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from client.devserver import FAST_DEV_SERVER_ARGS
from client.start import start_run
from interpreter.registration import DATA_CONVERTER, new_worker
from interpreter.request import STEP_QUERY, RunRequest
from tests.conftest import temporal_binary
from tests.interpreter.test_continue_as_new import chain
from tests.support.runs import load
from tests.support.standins import STANDIN_ACTIVITIES

ONE_HISTORY = 100_000
STEPS = 500
RESTART_AT = 400
"""About the largest history a run keeps by default (interpreter.carry.DEFAULT_EVENT_LIMIT,
2,500 events): a worker restarted there replays all of it."""
NEW_WORKER = "the-new-worker"


@pytest.fixture(scope="module")
async def roomy_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server that lets one history grow past Temporal's continue-as-new suggestion."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[
            *FAST_DEV_SERVER_ARGS,
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={ONE_HISTORY}",
        ],
    )
    yield env
    await env.shutdown()


@pytest.mark.slow
async def test_a_new_worker_resumes_a_long_chain_without_timeouts(
    roomy_env: WorkflowEnvironment,
) -> None:
    client, task_queue = roomy_env.client, f"test-{uuid.uuid4()}"
    request = RunRequest(definition=load(chain(STEPS)), event_limit=ONE_HISTORY)
    first = new_worker(client, task_queue, STANDIN_ACTIVITIES)
    runner = asyncio.create_task(first.run())
    handle = await start_run(client, request, task_queue, f"long-{uuid.uuid4()}")
    marker = f"s{RESTART_AT}"
    for _ in range(1200):  # up to 2 minutes
        step = await handle.query(STEP_QUERY, marker)
        if step is not None and step["status"] != "pending":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"{marker} never started")
    await first.shutdown()
    await runner

    async with new_worker(client, task_queue, STANDIN_ACTIVITIES, identity=NEW_WORKER):
        assert await asyncio.wait_for(handle.result(), timeout=180) == STEPS - 1

    history = await handle.fetch_history()
    types = [event.event_type for event in history.events]
    # The stopped worker may leave a task it had taken to time out (it moves on after the
    # run's task timeout) or one its sticky queue held (5 s): Temporal's hand-over. What must
    # not happen is a task of the new worker timing out: its replay of 400 steps.
    started = {
        event.event_id: event.workflow_task_started_event_attributes.identity
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    }
    timed_out = [
        started.get(event.workflow_task_timed_out_event_attributes.started_event_id)
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
    ]
    assert NEW_WORKER not in timed_out, timed_out
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in types
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW not in types
    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled.count("tool") == STEPS
