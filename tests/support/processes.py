"""Worker processes in tests: started like a user starts them, stopped like an operator does."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_process(command: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """``command`` in the project's folder, its stderr kept for :func:`stop`."""
    return subprocess.Popen(
        list(command), cwd=ROOT, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> str:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; the process's stderr."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return process.stderr.read().decode(errors="replace") if process.stderr else ""
