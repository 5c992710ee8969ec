"""Record the histories of tests/replay/cases.py into tests/replay/histories/*.json.

Run after an intended change of the interpreter's commands (behind ``workflow.patched``):

    .venv/bin/python -m tests.replay.record [CASE ...]

Name cases to record only those (a new case), keeping the histories that older interpreters
recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import textwrap
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from client.devserver import FAST_DEV_SERVER_ARGS, temporal_binary
from interpreter.limits import FlowLimits
from interpreter.loader import load_text
from interpreter.registration import DATA_CONVERTER, new_worker
from interpreter.request import WORKFLOW_NAME, RunRequest
from interpreter.seed import Seed
from limiter.names import limiter_id
from tests.replay.cases import CASES, FLOW_LIMITS, SEEDS
from tests.support.standins import STANDIN_ACTIVITIES

HISTORIES = Path(__file__).parent / "histories"
CHILD_KINDS = ("subflow", "agent")


async def record_case(client: Client, name: str) -> dict[str, str]:
    """Run one case to its end; its history and its children's, as JSON by workflow id."""
    text, run_input, answers = CASES[name]
    seed = Seed.model_validate(SEEDS[name]) if name in SEEDS else None
    flow = FlowLimits.model_validate(FLOW_LIMITS[name]) if name in FLOW_LIMITS else None
    request = RunRequest(
        definition=load_text(textwrap.dedent(text)), input=run_input, seed=seed, flow_limits=flow
    )
    handle = await client.start_workflow(
        WORKFLOW_NAME, request, id=f"replay-{name}", task_queue="replay"
    )
    for step, data, via in answers:
        if step.startswith("@"):  # "@<update>:<step>=<status>": pause or resume
            name, _, condition = step[1:].partition(":")
            sid, _, wanted = condition.partition("=")
            while (await handle.query("status"))["steps"][sid]["status"] != wanted:
                await asyncio.sleep(0.05)
            if via == "signal":
                await handle.signal(name, data)
            else:
                await handle.execute_update(name, data)
            continue
        while not any(p["step"] == step for p in (await handle.query("status"))["pending_human"]):
            await asyncio.sleep(0.05)
        payload = {"step": step, "data": data, "actor": "recorder"}
        if via == "signal":
            await handle.signal("respond", payload)
        else:
            await handle.execute_update("respond", payload)
    with contextlib.suppress(WorkflowFailureError):  # a case may fail (a compensated run)
        await handle.result()
    ids = [handle.id] + [
        f"{handle.id}/{step.id}" for step in request.definition.steps if step.kind in CHILD_KINDS
    ]
    sources = {workflow_id: workflow_id for workflow_id in ids}
    if flow is not None and flow.step_quota is not None:  # the tenant's limiter, so far
        sources[f"{handle.id}/limiter"] = limiter_id("quota", request.tenant)
    histories = {}
    for name_as, workflow_id in sources.items():
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        histories[name_as] = json.dumps(json.loads(history.to_json()), indent=1) + "\n"
    return histories


async def main(names: list[str]) -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=FAST_DEV_SERVER_ARGS,
    )
    HISTORIES.mkdir(exist_ok=True)
    async with new_worker(env.client, "replay", STANDIN_ACTIVITIES):
        for name in names or CASES:
            for workflow_id, text in (await record_case(env.client, name)).items():
                (HISTORIES / f"{workflow_id.replace('/', '.')}.json").write_text(text)
                print(f"recorded {workflow_id}")
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
    sys.stdout.flush()
    os._exit(0)
