"""Throughput: many chains at once, interpreted and hand-written, on one worker.

``--runs`` chains of ``--steps`` no-op tool steps are started at once and waited for, first the
hand-written workflow (bench/handwritten.py), then the interpreter's (the definition of
bench/interpreter_overhead.py), alternating for ``--rounds`` rounds. Prints steps per second
of each and their ratio, and the CPU a run costs the worker and the dev server (each a process
of its own, bench/stack.py; CPU read from /proc).

    .venv/bin/python bench/throughput.py [--runs 200] [--steps 20] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.interpreter_overhead import case_arg
from bench.scale import bounded
from bench.stack import Stack, stack

CASES = ("chain hand-written", "chain interpreted")


async def one_round(s: Stack, case: str, runs: int, steps: int, concurrency: int) -> dict:
    """Start ``runs`` runs of ``case`` at once, wait for all; wall time and CPU per run."""
    name, arg = case_arg(case, steps)
    prefix = f"tp-{uuid.uuid4().hex[:6]}"
    cpu0 = s.cpu()
    t0 = time.perf_counter()
    handles = await bounded(
        [
            lambda i=i: s.client.start_workflow(
                name, arg, id=f"{prefix}-{i}", task_queue=s.task_queue
            )
            for i in range(runs)
        ],
        concurrency,
    )
    await asyncio.gather(*(h.result() for h in handles))
    wall = time.perf_counter() - t0
    worker, server = s.cpu()
    return {
        "wall_s": wall,
        "steps_per_s": runs * steps / wall,
        "worker_cpu_ms_per_run": 1000 * (worker - cpu0[0]) / runs,
        "server_cpu_ms_per_run": 1000 * (server - cpu0[1]) / runs,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rounds: dict[str, list[dict]] = {case: [] for case in CASES}
    async with stack() as s:
        for case in CASES:  # warm up: imports, caches, thread pools
            await one_round(s, case, min(args.runs, 20), args.steps, args.concurrency)
        for _ in range(args.rounds):
            for case in CASES:
                rounds[case].append(
                    await one_round(s, case, args.runs, args.steps, args.concurrency)
                )
    out: dict[str, Any] = {"runs": args.runs, "steps": args.steps, "rounds": args.rounds}
    for case in CASES:
        out[case] = {
            key: statistics.median(r[key] for r in rounds[case]) for key in rounds[case][0]
        }
    hand, interp = out["chain hand-written"], out["chain interpreted"]
    out["ratio_steps_per_s"] = interp["steps_per_s"] / hand["steps_per_s"]
    return out


def report(out: dict[str, Any]) -> None:
    print(
        f"{out['runs']} concurrent chains of {out['steps']} no-op steps, median of"
        f" {out['rounds']} rounds, cpus: {os.cpu_count()}"
    )
    print(f"{'case':<22}{'wall s':>9}{'steps/s':>10}{'worker ms/run':>15}{'server ms/run':>15}")
    for case in CASES:
        r = out[case]
        print(
            f"{case:<22}{r['wall_s']:>9.1f}{r['steps_per_s']:>10.0f}"
            f"{r['worker_cpu_ms_per_run']:>15.1f}{r['server_cpu_ms_per_run']:>15.1f}"
        )
    print(f"ratio interpreted / hand-written, steps/s: {out['ratio_steps_per_s']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="chains at once")
    parser.add_argument("--steps", type=int, default=20, help="steps of a chain")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each case")
    parser.add_argument("--concurrency", type=int, default=200, help="start calls in flight")
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    result = asyncio.run(main(arguments))
    report(result)
    if arguments.json:
        print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)
