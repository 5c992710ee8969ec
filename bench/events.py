"""Events: ``POST /v1/events`` intake and event-to-step latency with many runs waiting on events.

A dev server and a worker, each a process of its own (:mod:`bench.stack`, on ports 18750-18755),
and the API (uvicorn on ``--port``) in this process. Two phases, measured the same way in one
run so their ratio means something:

- baseline: no run waiting. ``--samples`` events of a type nobody waits for are posted one after
  the other (intake: the time until the API answered, p50/p99); then ``--probes`` times, one run
  waits on a type of its own, visibility lists it, an event of that type is posted, and the time
  until the API answered (it signalled the run) and until the run's ``event`` step completed
  (the run ends right after it: ``handle.result()``) is taken.
- loaded: ``--waiting`` runs started through the API in batches of ``--batch`` (each batch is
  waiting, as visibility lists it, before the next starts), each waiting on a type of its own
  (``wait.<i>``); then the same intake and probe measurements.

Routing reads only the runs waiting for the event's type (one visibility query on the
``KwAwaitedEvents`` search attribute), so the loaded figures should stay near the baseline.
Last, one event of a type ``--fanout`` runs all wait for: the time until the API answered
(every run signalled) and until every run ended.

    .venv/bin/python bench/events.py [--waiting 10000] [--batch 500] [--samples 200]
        [--probes 20] [--fanout 100] [--port 18760] [--stack-port 18750] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn
from temporalio.client import Client

from api.app import create_app
from api.settings import ApiSettings
from bench import stack as stack_module
from interpreter.event_waits import awaited_value
from registry.store import DefinitionStore

STACK_PORTS = ("frontend", "http", "metrics", "ui", "worker_metrics")
"""The stack's ports, from ``--stack-port`` on (the worker's SDK metrics take the one after)."""
TENANT = "default"

WAITER = """\
kworkflow: 1
name: waiter
input: {type: object, properties: {type: {type: string}}}
steps:
  - {id: wait, kind: event, type: "${ input.type }", timeout: 2h}
output: ${ steps.wait.output.id }
"""


def event(type_: str) -> dict[str, Any]:
    return {"specversion": "1.0", "type": type_, "source": "/bench", "id": uuid.uuid4().hex}


async def post(http: httpx.AsyncClient, type_: str) -> dict[str, Any]:
    response = await http.post("/v1/events", json=event(type_))
    assert response.status_code == 202, response.text
    return dict(response.json())


async def post_all(http: httpx.AsyncClient, samples: int, type_: str) -> list[float]:
    """Post ``samples`` events one after the other; each answer's latency in ms."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        await post(http, type_)
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": statistics.median(ordered),
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


async def start_waiting(
    http: httpx.AsyncClient, first: int, count: int, type_of: Callable[[int], str]
) -> list[str]:
    """Start runs ``first .. first+count-1`` through the API (50 requests at a time)."""
    gate = asyncio.Semaphore(50)

    async def one(i: int) -> str:
        async with gate:
            body = {"workflow": "waiter", "input": {"type": type_of(i)}}
            response = await http.post("/v1/runs", json=body)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

    return await asyncio.gather(*(one(i) for i in range(first, first + count)))


async def listed(client: Client, query: str, count: int, give_up: float) -> float:
    """Seconds until visibility counts ``count`` running runs matching ``query``."""
    start = time.perf_counter()
    full = f"ExecutionStatus = 'Running' AND {query}"
    while (await client.count_workflows(full)).count < count:
        if time.perf_counter() - start > give_up:
            raise RuntimeError(f"fewer than {count} runs match {query!r} after {give_up} s")
        await asyncio.sleep(0.2)
    return time.perf_counter() - start


async def waiting_batches(
    http: httpx.AsyncClient, client: Client, total: int, batch: int, give_up: float
) -> float:
    """Start ``total`` runs waiting on ``wait.<i>``, batch by batch; seconds it took."""
    start = time.perf_counter()
    for first in range(0, total, batch):
        await start_waiting(http, first, min(batch, total - first), lambda i: f"wait.{i}")
        done = min(first + batch, total)
        await listed(client, "KwAwaitedEvents IS NOT NULL", done, give_up)
        print(f"  {done} runs waiting after {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return time.perf_counter() - start


async def probes(
    http: httpx.AsyncClient, client: Client, count: int, tag: str, give_up: float
) -> dict[str, Any]:
    """``count`` times: one run waits on its own type, then one event of that type is posted;
    the time until the API answered and until the run's ``event`` step completed, in ms."""
    answered, completed = [], []
    for i in range(count):
        type_ = f"probe.{tag}.{i}"
        (run_id,) = await start_waiting(http, 0, 1, lambda _, t=type_: t)
        await listed(client, f"KwAwaitedEvents = '{awaited_value(TENANT, type_)}'", 1, give_up)
        start = time.perf_counter()
        out = await post(http, type_)
        answered.append((time.perf_counter() - start) * 1000)
        assert out["signalled"] == [run_id], out
        await client.get_workflow_handle(run_id).result()
        completed.append((time.perf_counter() - start) * 1000)
    return {"answered": summary(answered), "step_completed": summary(completed)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"cpus": os.cpu_count(), "waiting": args.waiting}
    stack_module.PORTS.update({name: args.stack_port + i for i, name in enumerate(STACK_PORTS)})
    with tempfile.TemporaryDirectory(prefix="kworkflow-bench-events-") as tmp:
        url = f"sqlite:///{tmp}/registry.db"
        os.environ["KWORKFLOW_DATABASE_URL"] = url  # the worker reads recent events there
        store = DefinitionStore(url)
        store.publish(TENANT, WAITER, "yaml")
        async with stack_module.stack() as running:
            client = running.client
            settings = ApiSettings(task_queue=running.task_queue)
            app = create_app(client=client, store=store, settings=settings)
            config = uvicorn.Config(
                app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False
            )
            server = uvicorn.Server(config)
            serving = asyncio.create_task(server.serve())
            base_url = f"http://127.0.0.1:{args.port}"
            try:
                async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
                    while not server.started:
                        await asyncio.sleep(0.05)
                    await post_all(http, 20, "warm.up")
                    await probes(http, client, 2, "warm", args.give_up)
                    out["baseline"] = summary(await post_all(http, args.samples, "nobody.waits"))
                    out["baseline_probe"] = await probes(
                        http, client, args.probes, "base", args.give_up
                    )
                    out["intake_s"] = await waiting_batches(
                        http, client, args.waiting, args.batch, args.give_up
                    )
                    out["loaded"] = summary(await post_all(http, args.samples, "nobody.waits"))
                    out["loaded_probe"] = await probes(
                        http, client, args.probes, "load", args.give_up
                    )
                    print(f"  {json.dumps(out)}", file=sys.stderr)  # kept if the fanout fails
                    await fanout(http, client, args, out)
            finally:
                server.should_exit = True
                await serving
        store.close()
    out["ratios"] = ratios(out)
    return out


async def fanout(
    http: httpx.AsyncClient, client: Client, args: argparse.Namespace, out: dict[str, Any]
) -> None:
    """One event for ``--fanout`` runs all waiting on its type."""
    out["fanout"] = args.fanout
    if not args.fanout:
        return
    runs = await start_waiting(http, 0, args.fanout, lambda _: "all.of.us")
    value = awaited_value(TENANT, "all.of.us")
    await listed(client, f"KwAwaitedEvents = '{value}'", args.fanout, args.give_up)
    start = time.perf_counter()
    answer = await post(http, "all.of.us")
    out["fanout_answer_s"] = time.perf_counter() - start
    signalled = set(answer["signalled"]) & set(runs)
    out["fanout_signalled"] = len(signalled)  # visibility may list a run late: said, not hidden
    missing = sorted(set(runs) - signalled)
    listed_now = {
        wf.id
        async for wf in client.list_workflows(
            f"ExecutionStatus = 'Running' AND KwAwaitedEvents = '{value}'"
        )
    }
    out["fanout_missing"] = [  # which path lost it: still listed now? still running?
        {
            "run": run_id,
            "listed_now": run_id in listed_now,
            "status": str((await client.get_workflow_handle(run_id).describe()).status),
        }
        for run_id in missing
    ]
    await asyncio.gather(*(client.get_workflow_handle(r).result() for r in sorted(signalled)))
    out["fanout_ended_s"] = time.perf_counter() - start


def ratios(out: dict[str, Any]) -> dict[str, float]:
    """Loaded over baseline, for each figure."""
    pairs = {
        "intake_p50": (out["loaded"]["p50_ms"], out["baseline"]["p50_ms"]),
        "intake_p99": (out["loaded"]["p99_ms"], out["baseline"]["p99_ms"]),
    }
    for phase in ("answered", "step_completed"):
        for q in ("p50", "p99"):
            loaded = out["loaded_probe"][phase][f"{q}_ms"]
            pairs[f"{phase}_{q}"] = (loaded, out["baseline_probe"][phase][f"{q}_ms"])
    return {key: round(a / b, 2) if b else float("nan") for key, (a, b) in pairs.items()}


def report(out: dict[str, Any]) -> None:
    def line(name: str, figures: dict[str, float]) -> str:
        return f"{name}: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms"

    r = out["ratios"]
    print(f"cpus: {out['cpus']}; {out['waiting']} runs started waiting in {out['intake_s']:.0f} s")
    for phase, label in (("baseline", "no run waiting"), ("loaded", f"{out['waiting']} waiting")):
        probe = out[f"{phase}_probe"]
        print(f"{label}:")
        print("  " + line("POST /v1/events (nobody waits for it)", out[phase]))
        print("  " + line("POST /v1/events (one run waits for it)", probe["answered"]))
        print("  " + line("POST to the waiting step completed", probe["step_completed"]))
    print(
        f"ratios loaded/baseline: intake p50 {r['intake_p50']}, p99 {r['intake_p99']};"
        f" answered p50 {r['answered_p50']}, p99 {r['answered_p99']};"
        f" step completed p50 {r['step_completed_p50']}, p99 {r['step_completed_p99']}"
    )
    if out.get("fanout"):
        print(
            f"one event for {out['fanout']} waiting runs ({out['fanout_signalled']} signalled):"
            f" answered in"
            f" {out['fanout_answer_s']:.2f} s, all ended in {out['fanout_ended_s']:.2f} s"
        )
        for lost in out.get("fanout_missing", []):
            print(f"  not signalled: {lost}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiting", type=int, default=10_000, help="runs waiting on events")
    parser.add_argument("--batch", type=int, default=500, help="runs started per batch")
    parser.add_argument("--samples", type=int, default=200, help="events posted per phase")
    parser.add_argument("--probes", type=int, default=20, help="event-to-step probes per phase")
    parser.add_argument("--fanout", type=int, default=100, help="runs waiting on one type")
    parser.add_argument("--port", type=int, default=18760, help="the API's port")
    parser.add_argument(
        "--stack-port", type=int, default=18750, help="the first of 6 ports of server and worker"
    )
    parser.add_argument("--give-up", type=float, default=600, help="seconds a wait may take")
    parser.add_argument("--json", action="store_true")
    result = asyncio.run(main(parser.parse_args()))
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
    else:
        report(result)
    sys.stdout.flush()
    os._exit(0)
