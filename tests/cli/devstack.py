"""Running ``kworkflow dev`` from tests: start it on free ports, watch its output and children."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.cli import cli_argv, cli_env, free_port

STARTUP_TIMEOUT = 90.0


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_for_text(path: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} in {path}; stderr: {path.with_suffix('.err').read_text()}")


@contextlib.contextmanager
def running_dev_stack(
    tmp_path: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``kworkflow dev`` on free ports with tmp_path as its working directory; ``env`` is
    added to its environment. Yields the process, the frontend address and tmp_path."""
    port, ui_port, api_port = free_port(), free_port(), free_port()
    out, err = tmp_path / "dev.out", tmp_path / "dev.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            cli_argv(
                "dev", "--port", str(port), "--ui-port", str(ui_port), "--api-port", str(api_port)
            ),
            cwd=tmp_path,
            env=cli_env(**env),
            stdout=stdout,
            stderr=stderr,
        )
    try:
        yield process, f"127.0.0.1:{port}", tmp_path
    finally:
        if process.poll() is None:
            for pid in descendants(process.pid):
                os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()
