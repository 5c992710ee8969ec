"""The step quota's cost per step: a chain of no-op tool steps with the quota on and off.

One worker (a no-op ``tool`` activity) against one embedded dev server. The same chain of N
no-op tool steps runs with no quota (``limits.flow.step_quota`` unset: no limiter round-trip at
all) and under a per-tenant quota large enough never to make a step wait (every step still asks
the tenant's limiter, gets its slot in the answer and releases it), interleaved run by run so both
share the machine's noise. Prints the median run time of each, the cost per step in ms and the
ratio on/off.

    .venv/bin/python bench/quota.py [--steps 20] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.contract import StepCall, StepResult
from client.devserver import FAST_DEV_SERVER_ARGS, temporal_binary
from interpreter.limits import FlowLimits, StepQuota
from interpreter.loader import load_data
from interpreter.registration import DATA_CONVERTER, new_worker
from interpreter.request import WORKFLOW_NAME, RunRequest


@activity.defn(name="tool")
async def noop(call: StepCall) -> StepResult:
    """Returns at once."""
    return StepResult(output=None, attempt=activity.info().attempt)


def chain(n: int, quota: StepQuota | None) -> RunRequest:
    steps = [{"id": f"s{i}", "kind": "tool", "tool": "noop", "args": {}} for i in range(n)]
    return RunRequest(
        definition=load_data({"kworkflow": 1, "name": "chain", "steps": steps}),
        tenant="bench",
        flow_limits=FlowLimits(step_quota=quota),
    )


async def main(args: argparse.Namespace) -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=FAST_DEV_SERVER_ARGS,
    )
    tq = f"bench-{uuid.uuid4()}"
    cases = {"off": chain(args.steps, None), "on": chain(args.steps, StepQuota(default=1000))}
    times: dict[str, list[float]] = {name: [] for name in cases}
    async with new_worker(env.client, tq, [noop]):
        for request in cases.values():  # warm up both paths
            await env.client.execute_workflow(
                WORKFLOW_NAME, request, id=f"warm-{uuid.uuid4()}", task_queue=tq
            )
        for _ in range(args.runs):
            for name, request in cases.items():
                t0 = time.perf_counter()
                await env.client.execute_workflow(
                    WORKFLOW_NAME, request, id=f"bench-{uuid.uuid4()}", task_queue=tq
                )
                times[name].append(time.perf_counter() - t0)
    await env.shutdown()
    print(f"steps per run: {args.steps}, runs per case: {args.runs}, cpus: {os.cpu_count()}")
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    for name, ms in medians.items():
        print(f"quota {name:<4} run p50 {ms:8.1f} ms   per step {ms / args.steps:6.2f} ms")
    cost = (medians["on"] - medians["off"]) / args.steps
    print(f"quota cost per step: {cost:.2f} ms; ratio on/off: {medians['on'] / medians['off']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    os._exit(0)
