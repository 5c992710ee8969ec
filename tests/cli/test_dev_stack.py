"""``kworkflow dev``: the embedded stack, driven like a user drives it (subprocesses, signals)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.dev import DevOptions, make_private
from client.devserver import temporal_binary
from tests.cli import EXAMPLES, cli_argv, cli_env, free_port, kworkflow
from tests.cli.devstack import STARTUP_TIMEOUT, alive, descendants, running_dev_stack, wait_for_text


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``kworkflow dev`` on free ports with tmp_path as its working directory."""
    with running_dev_stack(tmp_path) as stack:
        yield stack


def test_dev_stack_runs_answers_and_stops_cleanly(
    dev_stack: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, address, cwd = dev_stack
    banner = wait_for_text(cwd / "dev.out", "Try: ", process, STARTUP_TIMEOUT)
    ui_port = int(banner.split("Web UI")[1].split(":")[2].split()[0])
    api_port = int(banner.split("  API")[1].split(":")[2].split()[0])
    assert f"  Temporal frontend  {address}\n" in banner
    assert f"  Web UI             http://127.0.0.1:{ui_port}\n" in banner
    assert f"  API                http://127.0.0.1:{api_port} (OpenAPI at /docs)\n" in banner
    assert "  Task queue         kworkflow\n" in banner
    assert (
        f"Try: TEMPORAL_ADDRESS={address} kworkflow run examples/hello.yaml "
        """--input '{"name":"Ada"}'"""
    ) in banner
    env = cli_env(TEMPORAL_ADDRESS=address)

    hello = kworkflow("run", str(EXAMPLES / "hello.yaml"), "--input", '{"name":"Ada"}', env=env)
    assert (hello.code, json.loads(hello.stdout)) == (0, {"greeting": "Hello, Ada.", "length": 11})

    # the worker has told the API what it offers (lint --remote and publish check against it)
    deadline = time.monotonic() + 30
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/workers", timeout=10) as r:
            workers = json.load(r)["workers"]
        if workers or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert [w["task_queue"] for w in workers] == ["kworkflow"]

    run_id = f"approval-{uuid.uuid4().hex[:8]}"
    waiting = subprocess.Popen(
        cli_argv("run", str(EXAMPLES / "approval.yaml"), "--input", '{"title":"v1.2"}',
                 "--run-id", run_id),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    answer = [
        temporal_binary(), "workflow", "update", "execute", "--address", address,
        "--workflow-id", run_id, "--name", "respond",
        "--input", '{"step":"review","data":{"approved":true}}',
    ]  # fmt: skip
    deadline = time.monotonic() + 30
    while True:  # until the run exists and its human step waits
        update = subprocess.run(answer, capture_output=True, text=True, timeout=30)
        if update.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert update.returncode == 0, update.stderr
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert json.loads(out) == {"publish": {"status": "published", "note": "Release v1.2 is out."}}

    children = descendants(process.pid)
    assert len(children) >= 2  # the server and the worker
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    assert [pid for pid in children if alive(pid)] == []
    data = cwd / ".kworkflow"
    assert (data / "temporal.db").is_file()
    assert (data / "temporal.log").is_file()
    assert (data / "registry.db").is_file()
    assert modes(data) == {".": 0o700} | {
        e.name: 0o700 if e.is_dir() else 0o600 for e in data.iterdir()
    }  # the databases (and their -wal/-shm files), the log: private to the stack's user


def modes(directory: Path) -> dict[str, int]:
    """The permission bits of a directory (``.``) and of every entry in it."""
    found = {".": stat.S_IMODE(directory.stat().st_mode)}
    return found | {e.name: stat.S_IMODE(e.lstat().st_mode) for e in directory.iterdir()}


def test_dev_makes_its_data_private_even_when_an_older_run_left_it_readable(
    tmp_path: Path,
) -> None:
    """``make_private`` (what ``kworkflow dev`` does first): 0700 for its own directory, 0600
    for the files of the stack it finds there; another directory of the user's is left alone."""
    data = tmp_path / ".kworkflow"
    data.mkdir(mode=0o755)
    for name in ("temporal.db", "temporal.db-wal", "registry.db", "temporal.log", "notes.txt"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    make_private(options(data / "temporal.db"))
    assert modes(data) == {
        ".": 0o700,
        "temporal.db": 0o600,
        "temporal.db-wal": 0o600,
        "registry.db": 0o600,
        "temporal.log": 0o600,
        "notes.txt": 0o644,  # not the stack's
    }
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    make_private(options(mine / "temporal.db"))
    make_private(options(tmp_path / "new" / "temporal.db"))
    assert (modes(mine)["."], modes(tmp_path / "new")["."]) == (0o755, 0o700)


def options(db_filename: Path) -> DevOptions:
    return DevOptions(
        ip="127.0.0.1",
        port=1,
        ui_port=2,
        db_filename=db_filename,
        namespace="default",
        task_queue="q",
        startup_timeout=1,
    )


def test_dev_stops_everything_when_a_child_dies(
    dev_stack: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, _, cwd = dev_stack
    wait_for_text(cwd / "dev.out", "Try: ", process, STARTUP_TIMEOUT)
    children = descendants(process.pid)
    worker = next(
        pid for pid in children if b"worker.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    os.kill(worker, signal.SIGKILL)
    assert process.wait(timeout=60) == 1
    assert [pid for pid in children if alive(pid)] == []
    assert (
        (cwd / "dev.err")
        .read_text()
        .endswith(
            "kworkflow: the worker stopped unexpectedly (killed by SIGKILL)\n"
            "stopping everything else\n"
        )
    )


def test_dev_says_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = kworkflow("dev", "--port", str(port), "--ui-port", str(free_port()), cwd=tmp_path)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"kworkflow: port {port} on 127.0.0.1 (for the Temporal frontend) is already in use: "
        "is another Temporal server or `kworkflow dev` running? Stop it or choose another port "
        "with --port / KWORKFLOW_DEV_PORT\n"
    )
    assert not (tmp_path / ".kworkflow").exists()


def test_dev_reports_a_server_that_cannot_start(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()  # a directory where the SQLite file should be
    result = kworkflow(
        "dev", "--port", str(free_port()), "--ui-port", str(free_port()),
        "--db-filename", str(tmp_path / "data"), cwd=tmp_path,
    )  # fmt: skip
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.startswith(
        "kworkflow: the Temporal server stopped during startup (exit code 1)\n"
        f"last lines of {tmp_path / 'temporal.log'}:\n  | "
    )
    assert "unable to open database file" in result.stderr


def test_dev_cannot_create_its_data_directory(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the data directory should be")
    result = kworkflow(
        "dev", "--port", str(free_port()), "--ui-port", str(free_port()),
        "--db-filename", str(tmp_path / "blocker" / "temporal.db"), cwd=tmp_path,
    )  # fmt: skip
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"kworkflow: cannot create {tmp_path / 'blocker'} for the server's data: File exists\n"
    )
