"""Scale: many runs at once on one worker, against a dev server keeping its state in SQLite.

Two phases (bench/stack.py starts the server and the worker as processes of their own):

- active: ``--active`` runs (a chain of ``--active-steps`` no-op tool steps each) started at
  once; the time until all have ended, and the worker's resident memory.
- waiting: ``--waiting`` runs that each wait on a human step, started in a burst through the
  client (``client.start.start_run``, not the API) as fast as it goes. Start time: until the
  last start call returned. Intake: until all of them are at their waiting step (the worker's
  ``kworkflow_human_steps_waiting`` gauge reaches the count), from the same origin; the target
  is intake within 10% of the start time. Then the worker's memory, the database's growth per
  run, and the time to answer every run (the ``respond`` update) until all have ended.

    .venv/bin/python bench/scale.py [--active 1000] [--waiting 10000] [--json]

``--sdk-defaults`` runs the worker with Temporal's default pollers, slots and cache instead of
kworkflow's (interpreter/tuning.py), to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from bench.stack import Stack, human_waiting, rss_mib, run_and_report, stack
from client.start import start_run
from interpreter.loader import load_data
from interpreter.request import RESPOND, RespondRequest, RunRequest

WAITING = {
    "kworkflow": 1,
    "name": "scale-approval",
    "steps": [
        {"id": "prepare", "kind": "aggregate", "expr": '"release"'},
        {
            "id": "review",
            "kind": "human",
            "prompt": "Approve ${ steps.prepare.output }?",
            "form": {
                "type": "object",
                "required": ["approved"],
                "properties": {"approved": {"type": "boolean"}},
            },
        },
    ],
    "edges": [{"from": "prepare", "to": "review"}],
    "output": "${ steps.review.output.data.approved }",
}


def chain(n: int) -> RunRequest:
    """A chain of ``n`` no-op tool steps."""
    steps = [{"id": f"s{i}", "kind": "tool", "tool": "noop", "args": {"i": i}} for i in range(n)]
    return RunRequest(definition=load_data({"kworkflow": 1, "name": "scale-chain", "steps": steps}))


async def bounded(calls: list[Callable[[], Awaitable[Any]]], concurrency: int) -> list[Any]:
    """Run the calls with at most ``concurrency`` of them in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def active_phase(s: Stack, runs: int, steps: int, concurrency: int) -> dict[str, Any]:
    request = chain(steps)
    prefix = f"active-{uuid.uuid4().hex[:6]}"
    peak = rss_mib(s.worker.pid)
    cpu0 = s.cpu()
    t0 = time.perf_counter()
    handles = await bounded(
        [
            lambda i=i: start_run(s.client, request, s.task_queue, f"{prefix}-{i}")
            for i in range(runs)
        ],
        concurrency,
    )
    started = time.perf_counter() - t0
    done = asyncio.ensure_future(asyncio.gather(*(h.result() for h in handles)))
    while not done.done():
        peak = max(peak, rss_mib(s.worker.pid))
        await asyncio.wait([done], timeout=0.2)
    await done
    return {
        **s.cpu_per_run(cpu0, runs),
        "runs": runs,
        "steps": steps,
        "start_s": started,
        "completion_s": time.perf_counter() - t0,
        "worker_rss_peak_mib": peak,
    }


async def waiting_phase(s: Stack, runs: int, concurrency: int, stall: float) -> dict[str, Any]:
    request = RunRequest(definition=load_data(WAITING))
    prefix = f"waiting-{uuid.uuid4().hex[:6]}"
    before_db, before_waiting = s.db_bytes(), await human_waiting()
    rss_before = rss_mib(s.worker.pid)
    cpu0 = s.cpu()
    t0 = time.perf_counter()
    intake: dict[str, float] = {}

    async def watch() -> None:
        while True:
            waiting = await human_waiting() - before_waiting
            intake.setdefault("first_s", time.perf_counter() - t0) if waiting else None
            if waiting >= runs:
                intake["all_s"] = time.perf_counter() - t0
                return
            await asyncio.sleep(0.05)

    watcher = asyncio.ensure_future(asyncio.wait_for(watch(), stall))
    handles = await bounded(
        [
            lambda i=i: start_run(s.client, request, s.task_queue, f"{prefix}-{i}")
            for i in range(runs)
        ],
        concurrency,
    )
    started = time.perf_counter() - t0
    await watcher
    intake_cpu = s.cpu_per_run(cpu0, runs)
    rss = rss_mib(s.worker.pid)
    db_growth = s.db_bytes() - before_db
    answer = RespondRequest(step="review", data={"approved": True})
    retries = 0

    async def respond(handle: WorkflowHandle[Any, Any]) -> None:
        nonlocal retries
        for _ in range(30):
            try:
                await handle.execute_update(RESPOND, answer, result_type=dict)
                return
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
                retries += 1  # its workflow task failed or timed out: a client tries again
                await asyncio.sleep(1)
        raise RuntimeError(f"run {handle.id} never took its answer")

    t1 = time.perf_counter()
    answers = bounded([lambda h=h: respond(h) for h in handles], concurrency)
    await asyncio.wait_for(answers, stall)
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), stall)
    answered = time.perf_counter() - t1
    assert results == [True] * runs, "every answered run returns its answer"
    return {
        **intake_cpu,
        "runs": runs,
        "start_s": started,
        "start_rate": runs / started,
        "intake_s": intake["all_s"],
        "intake_over_start": intake["all_s"] / started,
        "worker_rss_mib": rss,
        "worker_rss_growth_mib": rss - rss_before,
        "db_bytes_per_run": db_growth / runs,
        "answer_all_s": answered,
        "answer_retries": retries,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"cpus": os.cpu_count(), "sdk_defaults": args.sdk_defaults}
    out["sqlite_pragmas"] = args.sqlite_pragma
    async with stack(sdk_defaults=args.sdk_defaults, pragmas=args.sqlite_pragma) as s:
        await active_phase(s, 20, 2, args.concurrency)  # warm up: imports, caches
        if args.active:
            out["active"] = await active_phase(s, args.active, args.active_steps, args.concurrency)
        if args.waiting:
            out["waiting"] = await waiting_phase(s, args.waiting, args.concurrency, args.give_up)
        out["worker_rss_peak_mib"] = rss_mib(s.worker.pid, "VmHWM")
    return out


def report(out: dict[str, Any]) -> None:
    worker = "Temporal SDK defaults" if out["sdk_defaults"] else "kworkflow defaults"
    print(f"cpus: {out['cpus']}, worker settings: {worker}")
    if "active" in out:
        a = out["active"]
        print(
            f"active: {a['runs']} runs of {a['steps']} steps: all started in {a['start_s']:.1f} s,"
            f" all ended in {a['completion_s']:.1f} s; worker RSS peak"
            f" {a['worker_rss_peak_mib']:.0f} MiB; CPU a run: worker"
            f" {a['worker_cpu_ms_per_run']:.1f} ms, server {a['server_cpu_ms_per_run']:.1f} ms"
        )
    if "waiting" in out:
        w = out["waiting"]
        print(
            f"waiting: {w['runs']} runs: started in {w['start_s']:.1f} s"
            f" ({w['start_rate']:.0f}/s), all waiting after {w['intake_s']:.1f} s"
            f" (intake/start {w['intake_over_start']:.2f}); worker RSS {w['worker_rss_mib']:.0f}"
            f" MiB (+{w['worker_rss_growth_mib']:.0f}); database +{w['db_bytes_per_run']:.0f}"
            f" bytes a run; all answered and ended in {w['answer_all_s']:.1f} s"
            f" ({w['answer_retries']} answers tried again); CPU a run"
            f" until waiting: worker {w['worker_cpu_ms_per_run']:.1f} ms, server"
            f" {w['server_cpu_ms_per_run']:.1f} ms"
        )
    print(f"worker RSS peak (whole benchmark): {out['worker_rss_peak_mib']:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--active", type=int, default=1000, help="concurrently active runs")
    parser.add_argument("--active-steps", type=int, default=10, help="steps of an active run")
    parser.add_argument("--waiting", type=int, default=10000, help="runs waiting on a person")
    parser.add_argument("--concurrency", type=int, default=200, help="client calls in flight")
    parser.add_argument("--sdk-defaults", action="store_true", help="Temporal's worker defaults")
    parser.add_argument(
        "--give-up", type=float, default=900, help="seconds the intake or the answers may take"
    )
    parser.add_argument(
        "--sqlite-pragma",
        action="append",
        default=[],
        help="PRAGMA=VALUE for the dev server's SQLite file (repeatable; default: none)",
    )
    parser.add_argument("--json", action="store_true")
    run_and_report(main, report, parser.parse_args())
