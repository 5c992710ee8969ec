"""A stalled run (its workflow task keeps failing) is visible in the API and can be ended.

The stall is real: runs started through the API land on a worker with a broken deploy of the
``kworkflow`` workflow, whose every workflow task fails on the real dev server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from interpreter.request import WORKFLOW_NAME
from tests.api.support import APPROVAL, Api, read_events, serving_api, start_run, wait_run
from tests.cli import cli_env, kworkflow_async

BUG = "a bug in this deploy"


@workflow.defn(name=WORKFLOW_NAME)
class BrokenDeploy:
    """What a worker with a broken build runs: every workflow task fails."""

    @workflow.run
    async def run(self, request: Any) -> None:
        raise RuntimeError(BUG)


@pytest.fixture
async def stalled_api(client: Client, task_queue: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The API over a worker whose deploy is broken (every run it takes stalls), with
    :data:`APPROVAL` published."""
    database = f"sqlite:///{tmp_path / 'registry.db'}"
    broken = Worker(
        client,
        task_queue=task_queue,
        workflows=[BrokenDeploy],
        workflow_runner=UnsandboxedWorkflowRunner(),  # this module imports what a sandbox refuses
    )
    async with (
        broken,
        serving_api(client, task_queue, database, cancel_grace=1.0, query_timeout=1.0) as api,
    ):
        api.publish(APPROVAL)
        yield api


def is_stalled(view: dict[str, Any]) -> bool:
    return view["status"] == "stalled"


async def test_a_stalled_run_is_shown_listed_streamed_and_ended_by_cancel(
    stalled_api: Api, client: Client
) -> None:
    env = cli_env(
        KWORKFLOW_URL=stalled_api.url, KWORKFLOW_API_KEY=stalled_api.keys[stalled_api.acme]
    )
    async with stalled_api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        view = await wait_run(http, run_id, is_stalled, timeout=30, what="stalled")
        error = view["error"]
        assert error["type"] == "Stalled"
        assert error["message"].startswith("the run's workflow task has failed ")
        assert error["message"].endswith(f" times in a row: {BUG}")
        listed = (await http.get("/v1/runs?status=stalled")).json()["runs"]
        assert [(r["id"], r["status"]) for r in listed] == [(run_id, "stalled")]
        assert (await http.get("/v1/runs?status=running")).json()["runs"] == []
        async with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
            events = await read_events(response.aiter_lines(), lambda e: e.event == "run_stalled")
        assert events[-1].event == "run_stalled" and events[-1].id is None
        assert events[-1].data["error"]["type"] == "Stalled"

        shown = await kworkflow_async("runs", "show", run_id, env=env)
        assert shown.code == 0 and "status    stalled" in shown.stdout
        assert f"times in a row: {BUG}" in shown.stdout
        table = await kworkflow_async("runs", "list", "--status", "stalled", env=env)
        assert run_id in table.stdout and "stalled" in table.stdout

        cancelled = await kworkflow_async("cancel", run_id, env=env)
        assert (cancelled.code, cancelled.stdout) == (
            0,
            f"run {run_id} was stalled and has been terminated\n",
        )
        description = await client.get_workflow_handle(run_id).describe()
        assert description.status == WorkflowExecutionStatus.TERMINATED
        again = await http.post(f"/v1/runs/{run_id}/cancel")
        assert again.status_code == 409
        assert again.json()["detail"] == f"run '{run_id}' has already ended (terminated)"


async def test_force_terminates_at_once(stalled_api: Api, client: Client) -> None:
    async with stalled_api.http() as http:
        run_id = (await start_run(http, "approval"))["id"]
        response = await http.post(f"/v1/runs/{run_id}/cancel?force=true")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "terminated"
        history = [e async for e in client.get_workflow_handle(run_id).fetch_history_events()]
        [terminated] = [
            e for e in history if e.HasField("workflow_execution_terminated_event_attributes")
        ]
        reason = terminated.workflow_execution_terminated_event_attributes.reason
        assert reason == "terminated on request (cancel --force)"
