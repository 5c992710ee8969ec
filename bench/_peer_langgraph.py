"""The peers bench's LangGraph part: an N-node chain of no-op nodes, SQLite checkpointer.

Run by ``bench/peers.py`` with the peers' virtual environment (not the project's); prints one
JSON object: per-step gaps (seconds), run times, and the throughput phase's figures.

    bench/.peers-venv/bin/python bench/_peer_langgraph.py --steps 20 --runs 30 --db X.sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections import defaultdict
from importlib.metadata import version
from typing import Any, TypedDict

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph

STARTS: dict[str, list[float]] = defaultdict(list)


class State(TypedDict):
    run: str
    i: int


def node(i: int) -> Any:
    async def step(state: State) -> dict[str, int]:
        STARTS[state["run"]].append(time.perf_counter())
        return {"i": i}

    return step


def chain(n: int) -> StateGraph:
    graph = StateGraph(State)
    for i in range(n):
        graph.add_node(f"s{i}", node(i))
    graph.add_edge(START, "s0")
    for i in range(n - 1):
        graph.add_edge(f"s{i}", f"s{i + 1}")
    graph.add_edge(f"s{n - 1}", END)
    return graph


async def run_once(app: Any, durability: str) -> tuple[list[float], float]:
    run = str(uuid.uuid4())
    t0 = time.perf_counter()
    config = {"configurable": {"thread_id": run}}
    await app.ainvoke({"run": run, "i": -1}, config, durability=durability)
    total = time.perf_counter() - t0
    starts = STARTS.pop(run)
    return [b - a for a, b in zip([t0, *starts], starts, strict=False)], total


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncSqliteSaver.from_conn_string(args.db) as saver:
        app = chain(args.steps).compile(checkpointer=saver)
        for _ in range(2):  # warm up
            await run_once(app, args.durability)
        gaps: list[float] = []
        totals: list[float] = []
        for _ in range(args.runs):
            steps, total = await run_once(app, args.durability)
            gaps += steps
            totals.append(total)
        pending = iter(range(args.throughput_runs))

        async def lane() -> None:
            for _ in pending:
                await run_once(app, args.durability)

        t0 = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(args.concurrency)))
        wall = time.perf_counter() - t0
    return {
        "versions": {p: version(p) for p in ("langgraph", "langgraph-checkpoint-sqlite")},
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
    parser.add_argument("--durability", default="sync", choices=["sync", "async", "exit"])
    parser.add_argument("--db", required=True)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
    sys.stdout.flush()
