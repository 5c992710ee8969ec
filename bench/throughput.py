"""Throughput: many chains at once, interpreted and hand-written, on one worker.

``--runs`` chains of ``--steps`` no-op tool steps are started at once and waited for, first the
hand-written workflow (bench/handwritten.py), then the interpreter's (the definition of
bench/interpreter_overhead.py), alternating for ``--rounds`` rounds. Prints steps per second
of each and their ratio, and the CPU a run costs the worker and the dev server (each a process
of its own, bench/stack.py; CPU read from /proc). Then the same for ``--free-runs`` runs without
any activity: an ``aggregate`` and a ``branch`` interpreted, against a hand-written workflow
that returns at once (runs per second).

    .venv/bin/python bench/throughput.py [--runs 200] [--steps 20] [--free-runs 200] [--json]
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

from bench.interpreter_overhead import case_arg
from bench.scale import bounded
from bench.stack import Stack, run_and_report, stack
from interpreter.loader import load_data
from interpreter.request import WORKFLOW_NAME, RunRequest

CASES = ("chain hand-written", "chain interpreted")
FREE_CASES = ("free hand-written", "free interpreted")
FREE = {
    "kworkflow": 1,
    "name": "free",
    "steps": [
        {"id": "count", "kind": "aggregate", "expr": "input.n + 1"},
        {
            "id": "route",
            "kind": "branch",
            "cases": [{"when": "steps.count.output > 1", "to": "big"}],
            "default": "small",
        },
        {"id": "big", "kind": "aggregate", "expr": '"big"'},
        {"id": "small", "kind": "aggregate", "expr": '"small"'},
    ],
    "edges": [{"from": "count", "to": "route"}, {"from": "route", "to": ["big", "small"]}],
}


def free_arg(case: str) -> tuple[str, Any]:
    """The workflow type and argument of an activity-free case."""
    if case == "free hand-written":
        return "bench.nothing", 1
    return WORKFLOW_NAME, RunRequest(definition=load_data(FREE), input={"n": 1})


async def one_round(s: Stack, case: str, runs: int, steps: int, concurrency: int) -> dict:
    """Start ``runs`` runs of ``case`` at once, wait for all; wall time and CPU per run."""
    name, arg = free_arg(case) if case.startswith("free") else case_arg(case, steps)
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
    return {
        "wall_s": wall,
        "steps_per_s": runs * steps / wall,
        "runs_per_s": runs / wall,
        **s.cpu_per_run(cpu0, runs),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    rounds: dict[str, list[dict]] = {case: [] for case in (*CASES, *FREE_CASES)}
    sizes = {**dict.fromkeys(CASES, args.runs), **dict.fromkeys(FREE_CASES, args.free_runs)}
    async with stack(sdk_defaults=args.sdk_defaults) as s:
        for case in (c for c in rounds if sizes[c]):  # warm up: imports, caches, threads
            await one_round(s, case, min(sizes[case], 20), args.steps, args.concurrency)
        for _ in range(args.rounds):
            for case in rounds:
                if sizes[case]:
                    rounds[case].append(
                        await one_round(s, case, sizes[case], args.steps, args.concurrency)
                    )
    out: dict[str, Any] = {
        "runs": args.runs,
        "steps": args.steps,
        "free_runs": args.free_runs,
        "rounds": args.rounds,
    }
    for case in (c for c in rounds if rounds[c]):
        out[case] = {
            key: statistics.median(r[key] for r in rounds[case]) for key in rounds[case][0]
        }
    if args.runs:
        hand, interp = out["chain hand-written"], out["chain interpreted"]
        out["ratio_steps_per_s"] = interp["steps_per_s"] / hand["steps_per_s"]
    if args.free_runs:
        free_hand, free_interp = out["free hand-written"], out["free interpreted"]
        out["ratio_free_runs_per_s"] = free_interp["runs_per_s"] / free_hand["runs_per_s"]
    return out


def report(out: dict[str, Any]) -> None:
    print(f"median of {out['rounds']} rounds, cpus: {os.cpu_count()}")
    if "ratio_steps_per_s" in out:
        print(f"{out['runs']} concurrent chains of {out['steps']} no-op steps:")
        _table(out, CASES, "steps/s", "steps_per_s")
        print(f"ratio interpreted / hand-written, steps/s: {out['ratio_steps_per_s']:.2f}")
    if "ratio_free_runs_per_s" in out:
        print(f"{out['free_runs']} activity-free runs at once:")
        _table(out, FREE_CASES, "runs/s", "runs_per_s")
        ratio = out["ratio_free_runs_per_s"]
        print(f"ratio hand-written / interpreted, runs/s: {1 / ratio:.2f}")


def _table(out: dict[str, Any], cases: tuple[str, ...], rate: str, key: str) -> None:
    """One row per case: wall time, the rate ``key`` (headed ``rate``), CPU a run."""
    print(f"{'case':<22}{'wall s':>9}{rate:>10}{'worker ms/run':>15}{'server ms/run':>15}")
    for case in cases:
        r = out[case]
        print(
            f"{case:<22}{r['wall_s']:>9.1f}{r[key]:>10.0f}"
            f"{r['worker_cpu_ms_per_run']:>15.1f}{r['server_cpu_ms_per_run']:>15.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="chains at once")
    parser.add_argument("--steps", type=int, default=20, help="steps of a chain")
    parser.add_argument("--free-runs", type=int, default=200, help="activity-free runs at once")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each case")
    parser.add_argument("--concurrency", type=int, default=200, help="start calls in flight")
    parser.add_argument("--sdk-defaults", action="store_true", help="Temporal's worker defaults")
    parser.add_argument("--json", action="store_true")
    run_and_report(main, report, parser.parse_args())
