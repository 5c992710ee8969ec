"""Runs started by the client carry Tenant, WorkflowName and WorkflowVersion, and can be listed."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from client.search_attributes import TENANT, WORKFLOW_NAME, WORKFLOW_VERSION
from client.start import start_run
from interpreter.request import RunRequest
from tests.support.runs import load

DEFINITION = """
kworkflow: 1
name: listed
steps:
  - {id: a, kind: aggregate, expr: "1"}
"""


async def test_started_runs_carry_and_are_listed_by_their_attributes(
    client: Client, task_queue: str, worker: object
) -> None:
    request = RunRequest(definition=load(DEFINITION), tenant="acme", version=3)
    handle = await start_run(client, request, task_queue)
    await handle.result()
    described = await handle.describe()
    attributes = described.typed_search_attributes
    assert (attributes.get(TENANT), attributes.get(WORKFLOW_NAME)) == ("acme", "listed")
    assert attributes.get(WORKFLOW_VERSION) == 3
    query = f'Tenant = "acme" AND WorkflowName = "listed" AND WorkflowId = "{handle.id}"'
    for _ in range(100):  # visibility is eventually consistent
        found = [w.id async for w in client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [handle.id]
