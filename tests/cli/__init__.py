"""Tests of the ``kworkflow`` command, run as a subprocess like a user runs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.loopback import free_port as free_port  # for the CLI tests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# Definitions more than one test module uses.
SCHEMA_MISTAKES = """\
kworkflow: 1
name: bad
steps:
  - id: first
    kind: aggregate
    expr: '1'
    retry: {max_attempts: -1}
  - id: Second
    kind: aggregate
"""

FAILING = """\
kworkflow: 1
name: failing
input:
  type: object
  properties:
    values: {type: array, items: {type: integer}}
steps:
  - id: pick
    kind: aggregate
    expr: input.values[5]
"""


@dataclass(frozen=True)
class Result:
    """What a finished ``kworkflow`` process left."""

    code: int
    stdout: str
    stderr: str


def cli_argv(*args: str) -> list[str]:
    """The argv of ``kworkflow ARGS...`` from this checkout."""
    return [sys.executable, "-m", "cli.main", *args]


def cli_env(**overrides: str) -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout importable, settings overridden."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "KWORKFLOW_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(overrides)
    return env


def kworkflow(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT, timeout: float = 60
) -> Result:
    """Run ``kworkflow ARGS...`` to completion."""
    done = subprocess.run(
        cli_argv(*args),
        env=dict(env) if env is not None else cli_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


async def spawn(
    args: tuple[str, ...], env: Mapping[str, str], cwd: Path
) -> asyncio.subprocess.Process:
    """``kworkflow ARGS...`` started with its stdout and stderr as pipes."""
    return await asyncio.create_subprocess_exec(
        *cli_argv(*args),
        env=dict(env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def kworkflow_async(
    *args: str, env: Mapping[str, str], cwd: Path = ROOT, timeout: float = 60
) -> Result:
    """Run ``kworkflow ARGS...`` without blocking the event loop (an in-process worker runs)."""
    process = await spawn(args, env, cwd)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@dataclass
class Follower:
    """A ``kworkflow ... --follow`` process: its progress (stderr) as it comes, then its end."""

    process: asyncio.subprocess.Process
    seen: str = ""
    """The stderr read so far."""

    async def read_until(self, until: str | Callable[[str], bool], what: str) -> None:
        """Read stderr lines until ``until`` (a text in what was read, or a test of it) holds;
        fails naming ``what`` ("before the review") if the process ends first."""

        def holds(seen: str) -> bool:
            return until(seen) if callable(until) else until in seen

        assert self.process.stderr is not None
        while not holds(self.seen):
            line = await asyncio.wait_for(self.process.stderr.readline(), 30)
            assert line, f"follow ended {what}: {self.seen!r}"
            self.seen += line.decode()

    async def end(self) -> Result:
        """Its exit code, stdout and its whole stderr, once it exits."""
        assert self.process.stderr is not None and self.process.stdout is not None
        rest = await asyncio.wait_for(self.process.stderr.read(), 30)
        out = await asyncio.wait_for(self.process.stdout.read(), 30)
        code = await asyncio.wait_for(self.process.wait(), 30)
        return Result(code, out.decode(), self.seen + rest.decode())


@contextlib.asynccontextmanager
async def following(*args: str, env: Mapping[str, str]) -> AsyncIterator[Follower]:
    """``kworkflow ARGS...`` started for the block (killed after it if still running)."""
    process = await spawn(args, env, ROOT)
    try:
        yield Follower(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
