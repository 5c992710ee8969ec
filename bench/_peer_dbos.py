"""The peers bench's DBOS part: a workflow of N no-op steps, SQLite system database.

Run by ``bench/peers.py`` with the peers' virtual environment (not the project's); prints one
JSON object: per-step gaps (seconds), run times, and the throughput phase's figures.

    bench/.peers-venv/bin/python bench/_peer_dbos.py --steps 20 --runs 30 --db X.sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections import defaultdict
from importlib.metadata import version
from typing import Any

from dbos import DBOS, SetWorkflowID

STARTS: dict[str, list[float]] = defaultdict(list)


@DBOS.step()
async def step(run: str, i: int) -> dict[str, int]:
    STARTS[run].append(time.perf_counter())
    return {"i": i}


@DBOS.workflow()
async def chain(run: str, n: int) -> list[dict[str, int]]:
    return [await step(run, i) for i in range(n)]


async def run_once(n: int) -> tuple[list[float], float]:
    run = str(uuid.uuid4())
    t0 = time.perf_counter()
    with SetWorkflowID(run):
        handle = await DBOS.start_workflow_async(chain, run, n)
    await handle.get_result()
    total = time.perf_counter() - t0
    starts = STARTS.pop(run)
    return [b - a for a, b in zip([t0, *starts], starts, strict=False)], total


async def main(args: argparse.Namespace) -> dict[str, Any]:
    for _ in range(2):  # warm up
        await run_once(args.steps)
    gaps: list[float] = []
    totals: list[float] = []
    for _ in range(args.runs):
        steps, total = await run_once(args.steps)
        gaps += steps
        totals.append(total)
    pending = iter(range(args.throughput_runs))

    async def lane() -> None:
        for _ in pending:
            await run_once(args.steps)

    t0 = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(args.concurrency)))
    wall = time.perf_counter() - t0
    return {
        "versions": {"dbos": version("dbos")},
        "gaps": gaps,
        "totals": totals,
        "throughput_wall": wall,
        "throughput_steps": args.throughput_runs * args.steps,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--throughput-runs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--db", required=True)
    options = parser.parse_args()
    logging.disable(logging.WARNING)
    DBOS(
        config={
            "name": "peers-bench",
            "system_database_url": f"sqlite:///{options.db}",
            "run_admin_server": False,
        }
    )
    DBOS.launch()
    result = asyncio.run(main(options))
    DBOS.destroy()
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)
