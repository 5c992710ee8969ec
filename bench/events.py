"""Events: ``POST /v1/events`` intake while many runs wait on ``event`` steps of other types.

A dev server (in memory, free ports), a worker and the API (uvicorn on ``--port``) in this
process. First ``--samples`` events of a type nobody waits for are posted one after the other
with no run waiting (baseline); then ``--waiting`` runs are started that each wait for an event
of their own type (``wait.<i>``), and once all wait (visibility lists them) the same events are
posted again. Prints the p50/p95 of both phases and their ratio (routing reads the runs waiting
for the event's type only: what many waiting runs cost intake besides). Last, one event of a
type all of ``--fanout`` runs wait for: the time until the API answered (every run
signalled) and until every run ended.

    .venv/bin/python bench/events.py [--waiting 10000] [--samples 200] [--fanout 100]
        [--port 18640] [--json]
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import uvicorn
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.settings import ApiSettings
from client.devserver import FAST_DEV_SERVER_ARGS
from client.search_attributes import KEYS
from interpreter.registration import DATA_CONVERTER, new_worker
from registry.store import DefinitionStore

WAITER = """\
kworkflow: 1
name: waiter
input: {type: object, properties: {type: {type: string}}}
steps:
  - {id: wait, kind: event, type: "${ input.type }", timeout: 1h}
output: ${ steps.wait.output.id }
"""


def event(type_: str) -> dict[str, Any]:
    return {"specversion": "1.0", "type": type_, "source": "/bench", "id": uuid.uuid4().hex}


async def post_all(http: httpx.AsyncClient, samples: int, type_: str) -> list[float]:
    """Post ``samples`` events one after the other; each answer's latency in ms."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        response = await http.post("/v1/events", json=event(type_))
        assert response.status_code == 202, response.text
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
    }


async def start_waiting(http: httpx.AsyncClient, count: int, type_of: Any) -> list[str]:
    gate = asyncio.Semaphore(50)

    async def one(i: int) -> str:
        async with gate:
            body = {"workflow": "waiter", "input": {"type": type_of(i)}}
            response = await http.post("/v1/runs", json=body)
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

    return await asyncio.gather(*(one(i) for i in range(count)))


async def all_waiting(env: WorkflowEnvironment, count: int, give_up: float) -> float:
    """Seconds until visibility lists ``count`` runs with ``KwAwaitedEvents`` set."""
    start = time.perf_counter()
    while True:
        listed = await env.client.count_workflows(
            "ExecutionStatus = 'Running' AND KwAwaitedEvents IS NOT NULL"
        )
        if listed.count >= count:
            return time.perf_counter() - start
        if time.perf_counter() - start > give_up:
            raise RuntimeError(f"only {listed.count} of {count} runs wait after {give_up} s")
        await asyncio.sleep(0.5)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"cpus": os.cpu_count(), "waiting": args.waiting}
    temporal = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(temporal) if temporal.exists() else None,
        dev_server_extra_args=FAST_DEV_SERVER_ARGS,
        search_attributes=KEYS,
    )
    task_queue = f"bench-events-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="kworkflow-bench-events-") as tmp:
        url = f"sqlite:///{tmp}/registry.db"
        os.environ["KWORKFLOW_DATABASE_URL"] = url
        store = DefinitionStore(url)
        store.publish("default", WAITER, "yaml")
        app = create_app(
            client=env.client, store=store, settings=ApiSettings(task_queue=task_queue)
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        worker = new_worker(env.client, task_queue, max_cached_workflows=args.waiting + 100)
        try:
            async with (
                worker,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}", timeout=120) as http,
            ):
                while not server.started:
                    await asyncio.sleep(0.05)
                await post_all(http, 20, "warm.up")
                out["baseline"] = summary(await post_all(http, args.samples, "nobody.waits"))
                await start_waiting(http, args.waiting, lambda i: f"wait.{i}")
                out["intake_s"] = await all_waiting(env, args.waiting, args.give_up)
                out["loaded"] = summary(await post_all(http, args.samples, "nobody.waits"))
                out["ratio_p50"] = out["loaded"]["p50_ms"] / out["baseline"]["p50_ms"]
                runs = await start_waiting(http, args.fanout, lambda i: "all.of.us")
                await all_waiting(env, args.waiting + args.fanout, args.give_up)
                start = time.perf_counter()
                response = await http.post("/v1/events", json=event("all.of.us"))
                out["fanout_answer_s"] = time.perf_counter() - start
                assert len(response.json()["signalled"]) == args.fanout, response.text
                await asyncio.gather(*(env.client.get_workflow_handle(r).result() for r in runs))
                out["fanout_ended_s"] = time.perf_counter() - start
        finally:
            server.should_exit = True
            await serving
            store.close()
            await env.shutdown()
    out["fanout"] = args.fanout
    return out


def report(out: dict[str, Any]) -> None:
    b, loaded = out["baseline"], out["loaded"]
    print(f"cpus: {out['cpus']}")
    print(f"POST /v1/events, no run waiting: p50 {b['p50_ms']:.1f} ms, p95 {b['p95_ms']:.1f} ms")
    print(
        f"POST /v1/events, {out['waiting']} runs waiting on other types: p50"
        f" {loaded['p50_ms']:.1f} ms, p95 {loaded['p95_ms']:.1f} ms"
        f" (p50 ratio {out['ratio_p50']:.2f}); all waiting after {out['intake_s']:.1f} s"
    )
    print(
        f"one event for {out['fanout']} waiting runs: answered in {out['fanout_answer_s']:.2f} s,"
        f" all ended in {out['fanout_ended_s']:.2f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiting", type=int, default=10_000, help="runs waiting on events")
    parser.add_argument("--samples", type=int, default=200, help="events posted per phase")
    parser.add_argument("--fanout", type=int, default=100, help="runs waiting on one type")
    parser.add_argument("--port", type=int, default=18640, help="the API's port")
    parser.add_argument("--give-up", type=float, default=900, help="seconds intake may take")
    parser.add_argument("--json", action="store_true")
    result = asyncio.run(main(parser.parse_args()))
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
    else:
        report(result)
    sys.stdout.flush()
    os._exit(0)
