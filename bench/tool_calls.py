"""Tool calls on the worker: the ``tool`` activity against a loopback HTTP server, and the cost
of checking a call's ``args`` against the tool's ``input_schema`` (``check_args``).

Two figures: ``check_args`` alone (CPU ms per call, each call with its own copy of the
schema, as a worker gets one decoded from every activity's input), and the whole activity
(calls/s and the process's CPU ms per call, ``C`` at once, through
:class:`temporalio.testing.ActivityEnvironment`: the activity's own code with its HTTP request,
without a Temporal server; the tool answers from another process). ``--profile`` runs the
activity phase under cProfile (CPU time) and prints where its time goes and ``check_args``'
share of it.

    .venv/bin/python bench/tool_calls.py [--calls 2000] [--concurrency 20] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import cProfile
import json
import multiprocessing
import os
import pstats
import socket
import statistics
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.testing import ActivityEnvironment

from activities.config import current_config
from activities.contract import RunRef, StepCall
from activities.tool import check_args
from activities.tool import tool as tool_activity

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["company", "country"],
    "additionalProperties": False,
    "properties": {
        "company": {"type": "string", "minLength": 1, "maxLength": 200},
        "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
        "fields": {
            "type": "array",
            "items": {"enum": ["name", "revenue", "employees", "industry", "founded"]},
            "uniqueItems": True,
            "default": ["name"],
        },
        "filters": {
            "type": "object",
            "properties": {
                "min_revenue": {"type": "number", "minimum": 0},
                "industries": {"type": "array", "items": {"type": "string"}},
                "since": {"type": "string", "format": "date"},
            },
            "additionalProperties": False,
        },
        "contact": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "pattern": "^[^@ ]+@[^@ ]+$"},
                "phone": {"type": "string"},
            },
        },
        "include_archived": {"type": "boolean", "default": False},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
    },
}
"""A tool's input schema of an ordinary size (a CRM search)."""

ARGS: dict[str, Any] = {
    "company": "acme",
    "country": "FR",
    "fields": ["name", "revenue"],
    "filters": {"min_revenue": 1000000, "industries": ["retail"]},
    "tags": ["lead", "q3"],
}


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real tool server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve_forever(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Ok)
    server.daemon_threads = True
    server.serve_forever()


def serve(port: int) -> multiprocessing.Process:
    """A loopback HTTP tool answering ``{"ok": true}`` to every POST, in its own process (so
    that the profile of the worker side holds only the worker's work)."""
    process = multiprocessing.get_context("fork").Process(
        target=_serve_forever, args=(port,), daemon=True
    )
    process.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return process
        time.sleep(0.05)
    raise SystemExit(f"the loopback tool did not start on port {port}")


def measure_check_args(calls: int) -> float:
    """CPU milliseconds per ``check_args`` call, each on a fresh copy of the schema."""
    schemas = [copy.deepcopy(SCHEMA) for _ in range(calls)]
    check_args("crm", copy.deepcopy(SCHEMA), ARGS)  # warm: the first call compiles
    t0 = time.process_time()
    for schema in schemas:
        check_args("crm", schema, ARGS)
    return 1000 * (time.process_time() - t0) / calls


async def measure_activity(url: str, calls: int, concurrency: int) -> dict[str, float]:
    """Calls/s and per-call latency of the ``tool`` activity, ``concurrency`` at once."""
    env = ActivityEnvironment()
    tools = json.dumps({"crm": {"url": url, "input_schema": SCHEMA}})
    latencies: list[float] = []

    async def one(i: int) -> None:
        ref = RunRef(run_id=f"r{i}", workflow="bench", step="lookup")
        # a fresh decode of the definition's tools for each call, as the worker gets them
        call = StepCall(
            ref=ref, kind="tool", params={"tool": "crm", "args": ARGS}, tools=json.loads(tools)
        )
        t0 = time.perf_counter()
        result = await env.run(tool_activity, call)
        latencies.append(time.perf_counter() - t0)
        assert result.output == {"ok": True}, result

    await one(-1)  # warm: imports, the client, the schema's compile
    latencies.clear()
    pending = iter(range(calls))

    async def lane() -> None:
        for i in pending:
            await one(i)

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "calls_per_s": calls / wall,
        "cpu_ms_per_call": 1000 * cpu / calls,
        "p50_ms": 1000 * statistics.median(latencies),
    }


def profile_activity(url: str, calls: int, concurrency: int) -> tuple[dict[str, float], str]:
    """:func:`measure_activity` under cProfile: its figures, and the top of the profile."""
    profiler = cProfile.Profile(time.process_time)  # CPU time: the machine is shared
    profiler.enable()
    figures = asyncio.run(measure_activity(url, calls, concurrency))
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    check = next(
        (v for k, v in stats.stats.items() if k[2] == "check_args"),  # type: ignore[attr-defined]
        None,
    )
    share = 100 * check[3] / total if check else 0.0
    figures["check_args_share_pct"] = share
    out = _top(stats, 25)
    return figures, out + f"\ncheck_args: {share:.1f}% of the profiled time\n"


def _top(stats: pstats.Stats, n: int) -> str:
    import io

    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(n)
    stats.sort_stats("tottime").print_stats(n)
    return buffer.getvalue()


def main() -> None:
    server = serve(ARGS_NS.port)
    os.environ["KWORKFLOW_EGRESS_ALLOW"] = f"127.0.0.1:{ARGS_NS.port}"
    current_config.cache_clear()
    url = f"http://127.0.0.1:{ARGS_NS.port}/crm"
    results: dict[str, Any] = {"check_args_ms": measure_check_args(ARGS_NS.check_calls)}
    if ARGS_NS.profile:
        figures, text = profile_activity(url, ARGS_NS.calls, ARGS_NS.concurrency)
        print(text)
    else:
        figures = asyncio.run(measure_activity(url, ARGS_NS.calls, ARGS_NS.concurrency))
    results.update(figures)
    server.terminate()
    print(
        f"check_args: {results['check_args_ms']:.3f} CPU ms a call ({ARGS_NS.check_calls} calls); "
        f"tool activity: {results['calls_per_s']:.0f} calls/s, "
        f"{results['cpu_ms_per_call']:.2f} CPU ms a call, p50 {results['p50_ms']:.2f} ms "
        f"({ARGS_NS.calls} calls, {ARGS_NS.concurrency} at once"
        f"{', under cProfile' if ARGS_NS.profile else ''})"
    )
    if ARGS_NS.json:
        print(json.dumps(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="tool activity calls")
    parser.add_argument("--check-calls", type=int, default=5000, help="check_args calls")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--port", type=int, default=18300, help="the loopback tool's port")
    parser.add_argument("--profile", action="store_true", help="cProfile the activity phase")
    parser.add_argument("--json", action="store_true")
    ARGS_NS = parser.parse_args()
    main()
    sys.stdout.flush()
    os._exit(0)
