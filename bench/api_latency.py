"""API latency: ``POST /v1/runs`` and ``GET /v1/runs/{id}`` under concurrent clients, on the
embedded stack (a dev server, a worker process, the API served by uvicorn in its own process).

Each of ``--clients`` clients starts ``--runs`` runs of a short workflow (three aggregate steps)
one after the other, reading each run twice right after its start. Prints p50/p95/p99 of each
route and the share of answers whose steps are unknown (``steps: null``, or a step with status
``unknown``). Then one ``--long-steps`` chain is run to its end and read: the read's time and
whether its steps are present.

    .venv/bin/python bench/api_latency.py [--clients 20] [--runs 10] [--long-steps 2000]
        [--base /tmp/h2-base] [--port 18100] [--json]

``--base`` names another checkout of kworkflow (main's, say): its worker and API are measured
first, against the same dev server, in the same run (each stack on its own task queue and port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent

SHORT = """\
kworkflow: 1
name: short
input: {type: object, properties: {name: {type: string, default: Ada}}}
steps:
  - {id: hello, kind: aggregate, expr: '"Hello, " + input.name'}
  - {id: shout, kind: aggregate, expr: 'steps.hello.output + "!"'}
  - {id: size, kind: aggregate, expr: 'size(steps.shout.output)'}
output: ${ steps.shout.output }
"""


def long_chain(n: int) -> str:
    """A chain of ``n`` no-op tool steps, each after the previous one (one workflow task each;
    a chain of aggregates would run in one workflow task)."""
    step = "  - {{id: s{0}, kind: tool, tool: noop, args: {{i: {0}}}}}\n"
    return "kworkflow: 1\nname: long\nsteps:\n" + "".join(step.format(i) for i in range(n))


# ---- the roles run in their own processes, over the checkout given by --code -------------


async def serve_worker(address: str, task_queue: str) -> None:
    """Run a worker of the interpreter on ``task_queue`` until killed."""
    from temporalio import activity
    from temporalio.client import Client

    from interpreter.registration import DATA_CONVERTER, new_worker

    @activity.defn(name="tool")
    async def noop(call):  # type: ignore[no-untyped-def]  # a StepCall, read as JSON
        """Every tool step returns its arguments at once (a StepResult, as JSON)."""
        args = (call.get("params") or {}).get("args")
        return {"output": args, "attempt": activity.info().attempt}

    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    print("worker from", sys.modules["interpreter.registration"].__file__, file=sys.stderr)
    await new_worker(client, task_queue, [noop]).run()


async def serve_api(
    address: str, task_queue: str, port: int, db: str, long_steps: int, live_timeout: float | None
) -> None:
    """Publish the bench's workflows and serve the API on ``port`` until killed."""
    import uvicorn
    from temporalio.client import Client

    from api.app import create_app
    from api.settings import ApiSettings
    from interpreter.registration import DATA_CONVERTER
    from registry.store import DefinitionStore

    store = DefinitionStore(f"sqlite:///{db}")
    store.publish("default", SHORT, "yaml")
    store.publish("default", long_chain(long_steps), "yaml")
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    extra = {} if live_timeout is None else {"live_query_timeout": live_timeout}
    settings = ApiSettings(task_queue=task_queue, port=port, **extra)
    app = create_app(client=client, store=store, settings=settings)
    print("api from", sys.modules["api.app"].__file__, file=sys.stderr)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    await uvicorn.Server(config).serve()


# ---- the measurement ---------------------------------------------------------------------


def unknown_steps(view: Any) -> bool:
    """The answer does not say where the run's steps are."""
    steps = view.get("steps") if isinstance(view, dict) else None
    if not isinstance(steps, dict):
        return True
    return any(s.get("status") == "unknown" for s in steps.values())


def quantiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    if len(values) < 2:
        value = values[0] * 1000 if values else float("nan")
        return {"p50": value, "p95": value, "p99": value, "n": len(values)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": cuts[49] * 1000,
        "p95": cuts[94] * 1000,
        "p99": cuts[98] * 1000,
        "n": len(values),
    }


class Stack:
    """A worker process and an API process over one checkout."""

    def __init__(self, label: str, code: Path, address: str, port: int, tmp: Path) -> None:
        self.label, self.code, self.address, self.port = label, code, address, port
        self.task_queue = f"bench-api-{label}"
        self.db = tmp / f"{label}.db"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.url = f"http://127.0.0.1:{port}"

    def start(self, long_steps: int, live_timeout: float | None, worker: bool) -> None:
        common = [sys.executable, str(Path(__file__).resolve()), "--code", str(self.code)]
        common += ["--address", self.address, "--task-queue", self.task_queue]
        if worker:
            self.procs.append(subprocess.Popen([*common, "--role", "worker"], stdout=sys.stderr))
        api = [*common, "--role", "api", "--port", str(self.port), "--db", str(self.db)]
        api += ["--long-steps", str(long_steps)]
        if live_timeout is not None and self.label == "after":
            api += ["--live-query-timeout", str(live_timeout)]
        self.procs.append(subprocess.Popen(api, stdout=sys.stderr))

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)


async def wait_up(http: Any, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if (await http.get(f"{url}/healthz")).status_code == 200:
                return
        except Exception:  # not listening yet
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"the API at {url} did not come up")


async def measure(
    temporal: Any,
    stack: Stack,
    clients: int,
    runs: int,
    long_steps: int,
    long_run: bool,
    long_timeout: float,
) -> dict[str, Any]:
    """Drive one stack: the concurrent load, then the long run (waited for ``long_timeout``
    seconds at most)."""
    import httpx

    limits = httpx.Limits(max_connections=clients * 2)
    async with httpx.AsyncClient(base_url=stack.url, timeout=120, limits=limits) as http:
        await wait_up(http, stack.url)
        await http.post("/v1/runs", json={"workflow": "short"})  # warm up both processes
        posts: list[float] = []
        gets: list[float] = []
        unknown = {"post": 0, "get": 0}
        errors: list[str] = []

        async def client() -> None:
            for _ in range(runs):
                t0 = time.perf_counter()
                response = await http.post("/v1/runs", json={"workflow": "short"})
                posts.append(time.perf_counter() - t0)
                if response.status_code != 201:
                    errors.append(f"POST {response.status_code}: {response.text[:200]}")
                    continue
                view = response.json()
                unknown["post"] += unknown_steps(view)
                for _ in range(2):
                    t0 = time.perf_counter()
                    got = await http.get(f"/v1/runs/{view['id']}")
                    gets.append(time.perf_counter() - t0)
                    if got.status_code != 200:
                        errors.append(f"GET {got.status_code}: {got.text[:200]}")
                        continue
                    unknown["get"] += unknown_steps(got.json())

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        load_seconds = time.perf_counter() - t0

        if not long_run:
            return result(stack, clients, runs, load_seconds, posts, gets, unknown, errors, None)
        started = (await http.post("/v1/runs", json={"workflow": "long"})).json()
        run_id = started["id"]
        t0 = time.perf_counter()
        with contextlib.suppress(TimeoutError):  # the view then says how far it got
            await asyncio.wait_for(temporal.get_workflow_handle(run_id).result(), long_timeout)
        long_run_seconds = time.perf_counter() - t0
        await asyncio.sleep(2)  # the worker has let the ended run go from its cache
        t0 = time.perf_counter()
        long_view = (await http.get(f"/v1/runs/{run_id}")).json()
        long_get = time.perf_counter() - t0
    steps = long_view.get("steps")
    long = {
        "steps": long_steps,
        "run_seconds": round(long_run_seconds, 1),
        "get_ms": round(long_get * 1000, 1),
        "status": long_view.get("status"),
        "steps_present": isinstance(steps, dict) and not unknown_steps(long_view),
        "steps_count": len(steps) if isinstance(steps, dict) else None,
        "steps_source": long_view.get("steps_source"),
    }
    return result(stack, clients, runs, load_seconds, posts, gets, unknown, errors, long)


def result(
    stack: Stack,
    clients: int,
    runs: int,
    load_seconds: float,
    posts: list[float],
    gets: list[float],
    unknown: dict[str, int],
    errors: list[str],
    long: dict[str, Any] | None,
) -> dict[str, Any]:
    """The figures of one stack."""
    return {
        "label": stack.label,
        "clients": clients,
        "runs": clients * runs,
        "load_seconds": round(load_seconds, 2),
        "post_ms": quantiles(posts),
        "get_ms": quantiles(gets),
        "post_unknown_share": unknown["post"] / max(len(posts), 1),
        "get_unknown_share": unknown["get"] / max(len(gets), 1),
        "errors": errors[:5],
        "long": long,
    }


def report(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        lines.append(f"{r['label']}: {r['runs']} runs by {r['clients']} clients in "
                     f"{r['load_seconds']} s")  # fmt: skip
        for route in ("post", "get"):
            q = r[f"{route}_ms"]
            lines.append(
                f"  {route.upper():4} p50 {q['p50']:7.1f} ms  p95 {q['p95']:7.1f} ms  "
                f"p99 {q['p99']:7.1f} ms  (n={q['n']})  unknown steps "
                f"{100 * r[f'{route}_unknown_share']:.1f}%"
            )
        long = r["long"]
        if long is None:
            continue
        lines.append(
            f"  GET of an ended {long['steps']}-step run: {long['get_ms']} ms, status "
            f"{long['status']}, steps present: {long['steps_present']} ({long['steps_count']}"
            f", source {long['steps_source']}); the run took {long['run_seconds']} s"
        )
        if r["errors"]:
            lines.append(f"  errors: {r['errors']}")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    from temporalio.testing import WorkflowEnvironment

    from client.devserver import FAST_DEV_SERVER_ARGS, temporal_binary
    from client.search_attributes import KEYS
    from interpreter.registration import DATA_CONVERTER

    stdout = os.dup(1)
    os.dup2(2, 1)  # the dev server's banner and log go to stderr: stdout is the figures
    try:
        env = await WorkflowEnvironment.start_local(
            data_converter=DATA_CONVERTER,
            dev_server_existing_path=temporal_binary(),
            dev_server_extra_args=FAST_DEV_SERVER_ARGS,
            search_attributes=KEYS,
        )
    finally:
        os.dup2(stdout, 1)
    address = env.client.service_client.config.target_host
    checkouts = ([("before", Path(args.base).resolve())] if args.base else []) + [("after", HERE)]
    results = []
    with tempfile.TemporaryDirectory(prefix="kworkflow-bench-api-") as tmp:
        os.environ["KWORKFLOW_BLOB_DIR"] = str(Path(tmp) / "blobs")
        try:
            for offset, (label, code) in enumerate(checkouts):
                stack = Stack(label, code, address, args.port + offset, Path(tmp))
                stack.start(args.long_steps, args.live_query_timeout, not args.without_worker)
                try:
                    results.append(
                        await measure(
                            env.client, stack, args.clients, args.runs, args.long_steps,
                            long_run=not args.without_worker, long_timeout=args.long_timeout,
                        )
                    )  # fmt: skip
                finally:
                    stack.stop()
        finally:
            await env.shutdown()
    print(json.dumps(results, indent=2) if args.json else report(results), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10, help="runs started by each client")
    parser.add_argument("--long-steps", type=int, default=2000)
    parser.add_argument(
        "--long-timeout", type=float, default=900, help="seconds the long run may take"
    )
    parser.add_argument("--base", help="another checkout to measure first (main's, say)")
    parser.add_argument("--port", type=int, default=18100, help="the first API's port")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--without-worker", action="store_true", help="no worker: the API and Temporal alone"
    )
    parser.add_argument(
        "--live-query-timeout", type=float, help="the API's live_query_timeout (default: its own)"
    )
    parser.add_argument("--role", choices=("worker", "api"), help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--task-queue", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.code).resolve() if args.code else HERE))
    try:
        if args.role == "worker":
            asyncio.run(serve_worker(args.address, args.task_queue))
        elif args.role == "api":
            asyncio.run(serve_api(args.address, args.task_queue, args.port, args.db,
                                  args.long_steps, args.live_query_timeout))  # fmt: skip
        else:
            asyncio.run(main(args))
    except KeyboardInterrupt:
        pass
    sys.stdout.flush()
    os._exit(0)
