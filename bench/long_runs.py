"""Long runs: the replay CPU of long chains and the wall time of large ``for_each`` fan-outs.

Replay: a chain of N no-op tool steps (each step's args read the previous step's output with a
CEL expression) is run once on an embedded dev server and its history kept; then
``temporalio.worker.Replayer.replay_workflow`` replays that history in this process and the
process CPU it took (``time.process_time``) is printed. A history holds the whole chain: the
run's event limit and the server's continue-as-new suggestion are raised above its length.

Fan-out: the wall time of one run of a ``parallel`` ``for_each`` over N items of the same no-op
tool, with the default bound (the run continues as new past its event limit, as usual).

    .venv/bin/python bench/long_runs.py [--chain 100,1000,2000] [--for-each 1000,2000,10000]
        [--histories DIR] [--baseline DIR] [--json]

``--baseline DIR`` runs the same bench again with the kworkflow code of ``DIR`` (a checkout of
another commit) in a subprocess, replaying the same histories, and prints both and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # --code: import kworkflow from another checkout (the baseline)
    _code = sys.argv[sys.argv.index("--code") + 1] if "--code" in sys.argv else None
    sys.path.insert(0, _code or str(Path(__file__).resolve().parent.parent))

from temporalio import activity
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.contract import StepCall, StepResult
from bench.handwritten import HandChain
from client.devserver import FAST_DEV_SERVER_ARGS, temporal_binary
from interpreter.loader import load_data
from interpreter.registration import DATA_CONVERTER, new_worker, workflow_runner, workflows
from interpreter.request import WORKFLOW_NAME, RunRequest

ONE_HISTORY = 200_000
"""The event limit (and the server's continue-as-new suggestion) of the recorded chains."""


@activity.defn(name="tool")
async def noop(call: StepCall) -> StepResult:
    """Returns its args at once."""
    return StepResult(output=call.params.get("args"), attempt=activity.info().attempt)


def chain_request(n: int) -> RunRequest:
    """N tool steps, each after the previous one, each reading the previous one's output."""
    steps: list[dict[str, Any]] = [{"id": "s0", "kind": "tool", "tool": "noop", "args": {"i": 0}}]
    for i in range(1, n):
        args = {"i": f"${{ steps.s{i - 1}.output.i + 1 }}"}
        steps.append({"id": f"s{i}", "kind": "tool", "tool": "noop", "args": args})
    definition = load_data({"kworkflow": 1, "name": "chain", "steps": steps})
    return RunRequest(definition=definition, event_limit=ONE_HISTORY)


def for_each_request(n: int) -> RunRequest:
    step = {"kind": "tool", "tool": "noop", "args": {"i": "${ item }"}}
    steps = [{"id": "fan", "kind": "parallel", "for_each": "${ input.items }", "step": step}]
    definition = load_data({"kworkflow": 1, "name": "fan", "steps": steps})
    return RunRequest(definition=definition, input={"items": list(range(n))})


async def start_env() -> WorkflowEnvironment:
    extra = ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={ONE_HISTORY}"]
    return await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=temporal_binary(),
        dev_server_extra_args=[*FAST_DEV_SERVER_ARGS, *extra],
    )


async def record(env: WorkflowEnvironment, tq: str, n: int, path: Path) -> None:
    """Run a chain of ``n`` steps and keep its history in ``path``."""
    handle = await env.client.start_workflow(
        WORKFLOW_NAME, chain_request(n), id=f"chain-{n}-{uuid.uuid4()}", task_queue=tq
    )
    await handle.result()
    history = await handle.fetch_history()
    path.write_text(history.to_json())


async def record_hand(env: WorkflowEnvironment, tq: str, n: int, path: Path) -> None:
    """Run the hand-written chain of ``n`` activities (bench/handwritten.py) and keep its
    history in ``path``: the floor a replay of ``n`` steps costs with this SDK."""
    handle = await env.client.start_workflow(
        "bench.chain", n, id=f"hand-{n}-{uuid.uuid4()}", task_queue=tq
    )
    await handle.result()
    path.write_text((await handle.fetch_history()).to_json())


async def replay_cpu(
    path: Path, executor: ThreadPoolExecutor | None = None, hand: bool = False
) -> tuple[float, float]:
    """The CPU seconds one replay of the history in ``path`` takes: the whole process's, and
    the workflow thread's (the workflow code; the rest is the SDK and its Rust core).
    ``hand``: the history is the hand-written chain's."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    own = executor is None
    executor = executor or ThreadPoolExecutor(max_workers=1)
    replayer = Replayer(
        workflows=[HandChain] if hand else workflows(),
        workflow_runner=workflow_runner(),
        data_converter=DATA_CONVERTER,
        workflow_task_executor=executor,
    )
    thread_start = executor.submit(time.thread_time).result()
    start = time.process_time()
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    cpu = time.process_time() - start
    thread_cpu = executor.submit(time.thread_time).result() - thread_start
    if own:
        executor.shutdown()
    if result.replay_failure is not None:
        raise SystemExit(f"{path.name} does not replay: {result.replay_failure}")
    return cpu, thread_cpu


async def for_each_wall(env: WorkflowEnvironment, tq: str, n: int) -> float:
    start = time.perf_counter()
    await env.client.execute_workflow(
        WORKFLOW_NAME, for_each_request(n), id=f"fan-{n}-{uuid.uuid4()}", task_queue=tq
    )
    return time.perf_counter() - start


async def measure(args: argparse.Namespace, histories: Path) -> dict[str, dict[int, float]]:
    results: dict[str, dict[int, float]] = {
        "replay_cpu_s": {},
        "replay_workflow_cpu_s": {},
        "for_each_wall_s": {},
        "hand_replay_cpu_s": {},
        "hand_replay_workflow_cpu_s": {},
    }
    chains = [n for n in args.chain if not (histories / f"chain-{n}.json").exists()]
    hands = [n for n in args.chain if not (histories / f"hand-{n}.json").exists()]
    env = None
    if chains or hands or args.for_each:
        env = await start_env()
        tq = f"bench-{uuid.uuid4()}"
        async with new_worker(env.client, tq, [noop], extra_workflows=[HandChain]):
            for n in chains:
                await record(env, tq, n, histories / f"chain-{n}.json")
            for n in hands:
                await record_hand(env, tq, n, histories / f"hand-{n}.json")
            await for_each_wall(env, tq, 20)  # warm up
            for n in args.for_each:
                results["for_each_wall_s"][n] = await for_each_wall(env, tq, n)
        await env.shutdown()
    await replay_cpu(histories / f"chain-{args.chain[0]}.json")  # warm up: imports, sandbox
    for n in args.chain:
        cpu, workflow_cpu = await replay_cpu(histories / f"chain-{n}.json")
        results["replay_cpu_s"][n] = cpu
        results["replay_workflow_cpu_s"][n] = workflow_cpu
        cpu, workflow_cpu = await replay_cpu(histories / f"hand-{n}.json", hand=True)
        results["hand_replay_cpu_s"][n] = cpu
        results["hand_replay_workflow_cpu_s"][n] = workflow_cpu
    return results


async def profile(path: Path, top: int) -> None:
    """Print the functions the replay of ``path`` spends the most time in (cProfile, workflow
    thread only)."""
    profiler = cProfile.Profile()
    with ThreadPoolExecutor(max_workers=1, initializer=profiler.enable) as executor:
        await replay_cpu(path, executor)
        executor.submit(profiler.disable).result()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    if os.environ.get("LONG_RUNS_CALLERS"):
        stats.print_callers(os.environ["LONG_RUNS_CALLERS"])


def baseline(args: argparse.Namespace, histories: Path) -> dict[str, dict[int, float]]:
    """The same bench with the code of ``args.baseline``, in a subprocess."""
    command = [sys.executable, __file__, "--code", args.baseline, "--json"]
    command += ["--histories", str(histories), "--chain", ",".join(map(str, args.chain))]
    command += ["--for-each", ",".join(map(str, args.for_each))]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return {k: {int(n): v for n, v in d.items()} for k, d in data.items()}


LABELS = {
    "replay_cpu_s": "chain replay CPU, process",
    "replay_workflow_cpu_s": "chain replay CPU, workflow thread",
    "hand_replay_cpu_s": "hand-written replay CPU, process",
    "hand_replay_workflow_cpu_s": "hand-written replay, workflow thread",
    "for_each_wall_s": "for_each wall time",
}


def show(title: str, results: dict[str, dict[int, float]], base: dict | None) -> None:
    print(title)
    for key, label in LABELS.items():
        for n, value in results[key].items():
            line = f"  {label:<34}{n:>7,}  {value:8.3f} s"
            if base is not None and n in base[key]:
                old = base[key][n]
                line += f"   baseline {old:8.3f} s   ratio {old / value:6.1f}x"
            print(line)


async def main(args: argparse.Namespace) -> None:
    histories = Path(args.histories or tempfile.mkdtemp(prefix="kworkflow-long-runs-"))
    histories.mkdir(parents=True, exist_ok=True)
    if args.profile:
        await measure(argparse.Namespace(**{**vars(args), "for_each": []}), histories)
        await profile(histories / f"chain-{args.profile}.json", 20)
        return
    results = await measure(args, histories)
    base = baseline(args, histories) if args.baseline else None
    if args.json:
        print(json.dumps(results))
        return
    print(f"cpus: {os.cpu_count()}, histories in {histories}")
    show("this code", results, base)
    for n, hand in results["hand_replay_workflow_cpu_s"].items():
        ours, hand_all = results["replay_workflow_cpu_s"][n], results["hand_replay_cpu_s"][n]
        whole = results["replay_cpu_s"][n] / hand_all
        print(f"  interpreted / hand-written replay, {n:,} steps: workflow thread "
              f"{ours / hand:.2f}, process {whole:.2f}")  # fmt: skip


def _sizes(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chain", type=_sizes, default=[100, 1000, 2000])
    parser.add_argument("--for-each", type=_sizes, default=[1000, 2000, 10000])
    parser.add_argument("--histories", help="where chain histories are kept (and reused)")
    parser.add_argument("--baseline", help="a checkout of other kworkflow code to compare")
    parser.add_argument("--profile", type=int, help="profile the replay of this chain size")
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    os._exit(0)
