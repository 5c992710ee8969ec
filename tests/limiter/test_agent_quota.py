"""Agent steps under the tenant's step quota: an agent holds one slot while its child runs, so
two agents of a tenant with a quota of 1 run one after the other, the second shown queued."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from interpreter.limits import FlowLimits, StepQuota
from interpreter.request import RunRequest
from tests.support.runs import load, new_run_id, result

TWO_AGENTS = """
kworkflow: 1
name: two-agents
steps:
  - {id: a, kind: agent, model: m, prompt: "first", tools: [echo]}
  - {id: b, kind: agent, model: m, prompt: "second", tools: [echo]}
"""


async def test_two_agents_of_a_tenant_with_a_quota_of_one_do_not_overlap(
    client: Client, task_queue: str, worker: Worker
) -> None:
    tenant = f"agents-{task_queue}"
    request = RunRequest(
        definition=load(TWO_AGENTS),
        input={},
        tenant=tenant,
        flow_limits=FlowLimits(step_quota=StepQuota(default=1, lease="5s")),
    )
    handle = await client.start_workflow(
        "kworkflow", request, id=new_run_id(), task_queue=task_queue
    )
    await result(handle, 60)
    children = [await client.get_workflow_handle(f"{handle.id}/{step}").describe() for step in "ab"]
    first, second = sorted(children, key=lambda d: d.start_time)
    assert first.close_time is not None and second.start_time is not None
    assert second.start_time >= first.close_time  # never both at once
    view = await handle.query("status")
    assert {s: view["steps"][s]["status"] for s in "ab"} == {"a": "succeeded", "b": "succeeded"}
    transitions = (await handle.query("transitions", 0))["transitions"]
    queued = [t["step"] for t in transitions if t["type"] == "step_queued"]
    assert sorted(queued) == ["a", "b"]  # both asked; one of them waited for the other's slot
    granted = [t["step"] for t in transitions if t["type"] == "step_granted"]
    assert sorted(granted) == ["a", "b"]
