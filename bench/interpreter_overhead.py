"""Interpreter overhead: the same no-op activity run by the interpreter and by hand-written
Temporal workflows, in one process against one embedded dev server.

Two shapes, N steps each: a chain (each step after the previous one) and a fan-out (N steps at
once). Per-step latency is measured where the activity starts: in a chain, the gap between one
step's activity starting and the next one's; in a fan-out, from the run's start to each
activity's start. Prints p50/p99 per shape and the ratio interpreted / hand-written.

    .venv/bin/python bench/interpreter_overhead.py [--steps 20] [--runs 30]

Both run with kworkflow's data converter, external storage of large payloads included (its
payloads are small: only the size check runs); ``--without-external-storage`` turns it off.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

from activities.contract import StepCall, StepResult
from bench.handwritten import HandChain, HandFanout
from client.devserver import FAST_DEV_SERVER_ARGS, temporal_binary
from interpreter.loader import load_data
from interpreter.registration import DATA_CONVERTER, new_worker
from interpreter.request import WORKFLOW_NAME, RunRequest

STARTS: dict[str, list[float]] = defaultdict(list)


@activity.defn(name="tool")
async def noop(call: StepCall) -> StepResult:
    """Records when it started, per run, and returns at once."""
    STARTS[call.ref.run_id].append(time.perf_counter())
    return StepResult(output=call.params.get("args"), attempt=activity.info().attempt)


def chain_definition(n: int) -> RunRequest:
    steps = [{"id": f"s{i}", "kind": "tool", "tool": "noop", "args": {"i": i}} for i in range(n)]
    return RunRequest(definition=load_data({"kworkflow": 1, "name": "chain", "steps": steps}))


def fanout_definition(n: int) -> RunRequest:
    step = {"kind": "tool", "tool": "noop", "args": {"i": "${ item }"}}
    steps = [{"id": "fan", "kind": "parallel", "for_each": list(range(n)), "step": step}]
    return RunRequest(definition=load_data({"kworkflow": 1, "name": "fanout", "steps": steps}))


CASES = ("chain hand-written", "chain interpreted", "fanout hand-written", "fanout interpreted")


def case_arg(case: str, n: int) -> tuple[str, Any]:
    """The workflow type and argument of a case."""
    shape, how = case.split()
    if how == "hand-written":
        return f"bench.{shape}", n
    return WORKFLOW_NAME, chain_definition(n) if shape == "chain" else fanout_definition(n)


async def run_once(env: WorkflowEnvironment, tq: str, case: str, n: int) -> tuple[list, float]:
    """One run of a case: per-step latencies (seconds) and the run's wall time."""
    name, arg = case_arg(case, n)
    run_id = f"bench-{uuid.uuid4()}"
    t0 = time.perf_counter()
    await env.client.execute_workflow(name, arg, id=run_id, task_queue=tq)
    total = time.perf_counter() - t0
    starts = STARTS.pop(run_id)
    if case.startswith("chain"):
        return [b - a for a, b in zip([t0, *starts], starts, strict=False)], total
    return [s - t0 for s in starts], total


async def measure(env: WorkflowEnvironment, tq: str, n: int, runs: int) -> dict[str, dict]:
    """Every case ``runs`` times, interleaved run by run so that they share the noise."""
    per_step: dict[str, list[float]] = {c: [] for c in CASES}
    totals: dict[str, list[float]] = {c: [] for c in CASES}
    for _ in range(runs):
        for case in CASES:
            steps, total = await run_once(env, tq, case, n)
            per_step[case] += steps
            totals[case].append(total)
    out = {}
    for case in CASES:
        lat = sorted(per_step[case])
        out[case] = {
            "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "run_ms": 1000 * statistics.median(totals[case]),
        }
    return out


async def main() -> None:
    converter = DATA_CONVERTER
    if ARGS.without_external_storage:
        converter = dataclasses.replace(converter, external_storage=None)
    env = await WorkflowEnvironment.start_local(
        data_converter=converter,
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=FAST_DEV_SERVER_ARGS,
    )
    tq = f"bench-{uuid.uuid4()}"
    n = ARGS.steps
    options: dict[str, Any] = {}
    if ARGS.unsandboxed:
        options["workflow_runner"] = UnsandboxedWorkflowRunner()
    worker = new_worker(env.client, tq, [noop], extra_workflows=[HandChain, HandFanout], **options)
    results: dict[str, dict[str, Any]] = {}
    async with worker:
        await measure(env, tq, n, runs=2)  # warm up: imports, caches, sticky queues
        results = await measure(env, tq, n, runs=ARGS.runs)
    await env.shutdown()
    sandbox = "off" if ARGS.unsandboxed else "on"
    storage = converter.external_storage
    threshold = f"from {storage.payload_size_threshold // 1024} KiB" if storage else "off"
    print(
        f"steps per run: {n}, runs per case: {ARGS.runs}, cpus: {os.cpu_count()}, "
        f"sandbox {sandbox}, external storage {threshold}"
    )
    print(f"{'case':<22}{'p50 ms':>10}{'p99 ms':>10}{'run ms':>10}")
    for case, r in results.items():
        print(f"{case:<22}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['run_ms']:>10.1f}")
    for shape in ("chain", "fanout"):
        i, h = results[f"{shape} interpreted"], results[f"{shape} hand-written"]
        print(
            f"ratio {shape}: p50 {i['p50_ms'] / h['p50_ms']:.2f}, "
            f"run {i['run_ms'] / h['run_ms']:.2f}"
        )
    if ARGS.json:
        print(json.dumps(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--unsandboxed", action="store_true", help="run both without the workflow sandbox"
    )
    parser.add_argument(
        "--without-external-storage",
        action="store_true",
        help="run both without the blob store of large payloads (storage/), to compare",
    )
    ARGS = parser.parse_args()
    asyncio.run(main())
    sys.stdout.flush()
    os._exit(0)
