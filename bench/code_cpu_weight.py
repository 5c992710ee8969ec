"""CPU weight of code steps: how much a CPU-bound code step slows the worker's other runs.

One worker (the real ``code`` activity and a no-op ``tool`` activity) against one embedded dev
server. A stream of ordinary runs (a chain of no-op tool steps, one run after the other) is
timed in three phases, interleaved round by round so they share the machine's noise:

- ``idle``: nothing else runs;
- ``busy``: a code step keeps every CPU busy (one spinning process per CPU) at the sandbox's
  own priority (nice 10, in an autogroup of nice 10);
- ``busy nice 0``: the same code step at the worker's priority, for comparison.

Prints the median run time of each phase, the slowdown ratio against ``idle``, and how many CPUs
the spinning code got on average (CPU seconds per second).

    .venv/bin/python bench/code_cpu_weight.py [--rounds 5] [--seconds 6] [--steps 5]
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities import _sandbox
from activities.code import code
from activities.contract import StepCall, StepResult
from client.devserver import FAST_DEV_SERVER_ARGS, temporal_binary
from interpreter.loader import load_data
from interpreter.registration import DATA_CONVERTER, new_worker
from interpreter.request import WORKFLOW_NAME, RunRequest

SPIN = """
import os, time
end = time.monotonic() + input
children = []
for _ in range(os.cpu_count() - 1):
    pid = os.fork()
    if pid == 0:
        while time.monotonic() < end:
            pass
        os._exit(0)
    children.append(pid)
while time.monotonic() < end:
    pass
cpu = time.process_time()
for pid in children:
    cpu += os.wait4(pid, 0)[2].ru_utime
output = {"nice": os.getpriority(os.PRIO_PROCESS, 0), "cpu": cpu}
"""


@activity.defn(name="tool")
async def noop(call: StepCall) -> StepResult:
    """Returns at once."""
    return StepResult(output=None, attempt=activity.info().attempt)


def ordinary(n: int) -> RunRequest:
    steps = [{"id": f"s{i}", "kind": "tool", "tool": "noop", "args": {}} for i in range(n)]
    return RunRequest(definition=load_data({"kworkflow": 1, "name": "chain", "steps": steps}))


def busy(seconds: float) -> RunRequest:
    step = {"id": "spin", "kind": "code", "source": SPIN, "input": seconds, "timeout": "2m"}
    return RunRequest(definition=load_data({"kworkflow": 1, "name": "spin", "steps": [step]}))


async def run_for(env: WorkflowEnvironment, tq: str, request: RunRequest, until: Any) -> list:
    """Ordinary runs one after the other until ``until()`` is true; their wall times."""
    times = []
    while not until():
        t0 = time.perf_counter()
        await env.client.execute_workflow(
            WORKFLOW_NAME, request, id=f"bench-{uuid.uuid4()}", task_queue=tq
        )
        times.append(time.perf_counter() - t0)
    return times


SPUN: dict[int, list[float]] = {}
"""CPU seconds per wall second the spinning code got, by nice value."""


async def phase(env: WorkflowEnvironment, tq: str, nice: int | None, seconds: float) -> list:
    """One phase: ordinary runs for ``seconds``, beside a spinning code step at ``nice``."""
    request = ordinary(ARGS.steps)
    if nice is None:
        end = time.monotonic() + seconds
        return await run_for(env, tq, request, lambda: time.monotonic() > end)
    _sandbox.CODE_NICE = nice
    spin = asyncio.ensure_future(
        env.client.execute_workflow(
            WORKFLOW_NAME, busy(seconds), id=f"spin-{uuid.uuid4()}", task_queue=tq
        )
    )
    await asyncio.sleep(0.5)  # the sandbox starts and the code spins
    times = await run_for(env, tq, request, spin.done)
    spun = (await spin)["spin"]
    assert spun["nice"] == nice, "the code step did not run at the expected priority"
    SPUN.setdefault(nice, []).append(spun["cpu"] / seconds)
    return times


async def main() -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=FAST_DEV_SERVER_ARGS,
    )
    tq = f"bench-{uuid.uuid4()}"
    phases: dict[str, int | None] = {"idle": None, "busy": _sandbox.CODE_NICE, "busy nice 0": 0}
    times: dict[str, list[float]] = {name: [] for name in phases}
    async with new_worker(env.client, tq, [noop, code]):
        await phase(env, tq, None, 2)  # warm up
        for _ in range(ARGS.rounds):
            for name, nice in phases.items():
                times[name] += await phase(env, tq, nice, ARGS.seconds)
    await env.shutdown()
    iso = await _sandbox.isolation()
    print(f"cpus: {os.cpu_count()}, steps per ordinary run: {ARGS.steps}, rounds: {ARGS.rounds}")
    print(f"sandbox: {iso.describe()}")
    print(
        f"{'phase':<14}{'runs':>6}{'median ms':>11}{'p90 ms':>9}{'slowdown':>10}{'code cpus':>11}"
    )
    idle = statistics.median(times["idle"])
    for name, values in times.items():
        values.sort()
        median = statistics.median(values)
        p90 = values[int(0.9 * (len(values) - 1))]
        nice = phases[name]
        spun = f"{statistics.mean(SPUN[nice]):.2f}" if nice is not None else "-"
        print(f"{name:<14}{len(values):>6}{1000 * median:>11.1f}{1000 * p90:>9.1f}", end="")
        print(f"{median / idle:>10.2f}{spun:>11}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--steps", type=int, default=5)
    ARGS = parser.parse_args()
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
