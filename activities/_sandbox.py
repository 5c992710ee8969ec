"""The sandbox behind the ``code`` activity: runs untrusted Python in a separate, limited process.

Standard library only, so it can be tried on its own. What it isolates, how, and where it
degrades is written up in ``docs/code-sandbox.md``. The process tree of one run::

    worker ── unshare --net --pid --fork --kill-child --mount-proc --ipc --uts   (when available)
               └── stage    python -I -S -c STAGE   root; pid 1 of the new namespaces; mounts
                    │                                 a private tmpfs at /tmp, an empty /sys
                    └── code python -I -S -u -c BOOTSTRAP   a private uid, rlimits, nice 10,
                                                     no new privileges, a seccomp filter
                                                     (:mod:`activities._seccomp`), an empty
                                                     environment

The request (``source`` and ``input`` as JSON) is the code process's stdin; it writes its result
as JSON to fd 3; stdout and stderr go to files. All four are files in a fresh host directory
that only root can read, opened by the worker and inherited as descriptors, so the code never
needs (or gets) a path to them. The worker kills the whole process group at the wall-clock
deadline; killing ``unshare`` kills the stage (``--kill-child``), and the end of the stage, pid 1,
ends every process left in the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from activities._sandbox_programs import BOOTSTRAP, STAGE
from activities._seccomp import user_namespace_filter

log = logging.getLogger(__name__)

STREAM_LIMIT = 10_000
"""Bytes of stdout and of stderr kept for logs and error details."""
OUTPUT_LIMIT = 1_000_000
"""Bytes of JSON an ``output`` may take (Temporal refuses payloads of a few MB)."""
FILE_LIMIT_MB = 10
"""RLIMIT_FSIZE: the largest file the code may write (stdout and stderr included)."""
PROCESS_LIMIT = 16
"""RLIMIT_NPROC: processes (and threads) of the sandbox uid; only binds with a private uid."""
TMP_MB = 64
"""Size of the private tmpfs mounted at /tmp (also /var/tmp, /dev/shm, /run/lock)."""
SANDBOX_UIDS = range(2_000_000_000, 2_000_000_000 + (1 << 20))
"""A root worker runs each attempt under its own uid from this range (no passwd entry)."""
CODE_NICE = 10
"""The code's nice value (and its autogroup's): CPU weight 110 against the worker's 1024, so the
worker's other runs keep about 90% of a contended CPU while code spins, and code still gets
about 10% of it, enough to start within a short timeout on a busy machine (nice 19, weight 15,
starved code steps into timeouts there). See ``bench/code_cpu_weight.py``."""
ENV_PATH = "/usr/bin:/bin"
NAMESPACES = ("--net", "--pid", "--fork", "--kill-child", "--mount-proc", "--ipc", "--uts")


@dataclass(frozen=True)
class Isolation:
    """How this machine runs code (found once by :func:`isolation`).

    Attributes:
        python: The interpreter the code runs with (the sandbox uid must be able to run it).
        unshare: The ``unshare`` command line that wraps the stage, or ``()``.
        private_tmp: The stage mounts a private tmpfs at /tmp (needs a mount namespace).
        pid_namespace: Every process of the run ends with the stage.
        private_uid: Each run gets its own unprivileged uid (the worker is root).
        syscall_filter: The seccomp filter that refuses new user namespaces is installed.
    """

    python: str
    unshare: tuple[str, ...] = ()
    private_tmp: bool = False
    pid_namespace: bool = False
    private_uid: bool = False
    syscall_filter: bool = False

    @property
    def network(self) -> bool:
        """The code has no network (a network namespace of its own)."""
        return "--net" in self.unshare

    def describe(self) -> str:
        """One line for the worker's log."""
        return (
            f"python {self.python}; network {'none' if self.network else 'SHARED'}; "
            f"pid namespace {'yes' if self.pid_namespace else 'no'}; "
            f"/tmp {'private tmpfs' if self.private_tmp else 'shared'}; "
            f"/sys {'hidden' if self.private_tmp else 'SHARED'}; "
            f"uid {'private per run' if self.private_uid else 'shared with the worker'}; "
            f"user namespaces {'refused' if self.syscall_filter else 'ALLOWED'}"
        )


@dataclass(frozen=True)
class Finished:
    """What one run of the code left behind (:mod:`activities.code` says what it means).

    Attributes:
        result: What was written to fd 3 (``{}`` if nothing readable): the bootstrap's
            ``{"status": "ok", "output": ...}``, ``error``, ``memory``, ``no_output``,
            ``unserializable``, ``too_large`` or ``exit``; the stage's ``signal`` (the code's
            process was killed) or ``setup`` (it never started).
        exit_code: The return code of the outermost process (negative: killed by that signal).
        timed_out: The worker killed the run at the wall-clock deadline.
        stdout: The first :data:`STREAM_LIMIT` bytes the code printed, as text.
        stderr: Same for stderr.
    """

    result: dict[str, Any]
    exit_code: int | None = None
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""


_isolation: Isolation | None = None


async def isolation() -> Isolation:
    """How code runs here: probed on first use, then cached for the process."""
    global _isolation
    if _isolation is None:
        found = await detect()
        if _isolation is None:
            _isolation = found
            log.info("code sandbox: %s", found.describe())
            if not found.network:
                log.warning("code sandbox: no network namespace; code steps can reach the network")
            if not found.private_uid:
                log.warning("code sandbox: not root; code runs as the worker's own uid")
            if not found.syscall_filter:
                log.warning("code sandbox: no seccomp filter; code can create user namespaces")
    return _isolation


async def detect() -> Isolation:
    """Probe the interpreter the code can run with, the strongest ``unshare`` that works and
    whether the seccomp filter can be installed."""
    root = os.geteuid() == 0
    uid = random.choice(SANDBOX_UIDS) if root else None
    python = await _find_python(uid)
    unshare = shutil.which("unshare")
    wrappers: list[tuple[tuple[str, ...], bool]] = []
    if unshare is not None:
        user = () if root else ("--user", "--map-root-user")
        wrappers = [((unshare, *user, *NAMESPACES), True), ((unshare, *user, "--net"), False)]
    program = user_namespace_filter()
    filters = (True, False) if program is not None else (False,)
    for command, full in [*wrappers, ((), False)]:
        for filtered in filters:
            config = _stage_config(
                python=python,
                uid=uid,
                private_tmp=full,
                probe=True,
                seccomp=program if filtered else None,
            )
            if await _succeeds(*command, python, "-I", "-S", "-c", STAGE, config):
                return Isolation(python, command, full, full, root, filtered)
    return Isolation(python, private_uid=root)


async def run(
    source: str,
    value: Any,
    *,
    timeout: float,
    memory_mb: int,
    cpu_seconds: float | None = None,
    heartbeat: Callable[[], None] | None = None,
    where: Isolation | None = None,
) -> Finished:
    """Run ``source`` with ``input`` bound to ``value``; never raises for what the code does.

    Args:
        source: Python source that reads ``input`` and sets ``output``.
        value: The JSON value bound to ``input``.
        timeout: Seconds the step's attempt may take; the code is killed a little before, so
            the activity can still report why.
        memory_mb: RLIMIT_AS of the code's process, in MiB.
        cpu_seconds: RLIMIT_CPU of the code's process, rounded up (default: ``timeout``).
        heartbeat: Called about every second while the code runs.
        where: The isolation to use (default: :func:`isolation`).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout - min(1.0, max(0.25, timeout / 10))
    try:
        iso = where or await isolation()
    except RuntimeError as exc:
        return Finished({"status": "setup", "reason": str(exc)})
    request = {"source": source, "input": value, "limit": OUTPUT_LIMIT}
    workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="kworkflow-code-")
    try:
        cpu = timeout if cpu_seconds is None else min(timeout, cpu_seconds)
        limits = _limits(cpu, memory_mb, iso.private_uid)
        return await _run_in(
            workdir, iso, json.dumps(request).encode(), limits, deadline, heartbeat
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


def _limits(cpu_seconds: float, memory_mb: int, private_uid: bool) -> dict[str, tuple[int, int]]:
    """The code process's rlimits (soft, hard); CPU seconds rounded up."""
    cpu = max(1, math.ceil(cpu_seconds))
    limits = {
        "RLIMIT_CPU": (cpu, cpu + 1),
        "RLIMIT_AS": (memory_mb << 20, memory_mb << 20),
        "RLIMIT_FSIZE": (FILE_LIMIT_MB << 20, FILE_LIMIT_MB << 20),
        "RLIMIT_CORE": (0, 0),
    }
    if private_uid:  # NPROC counts every process of the real uid: only useful with our own uid
        limits["RLIMIT_NPROC"] = (PROCESS_LIMIT, PROCESS_LIMIT)
    return limits


async def _run_in(
    workdir: str,
    iso: Isolation,
    request: bytes,
    limits: dict[str, tuple[int, int]],
    deadline: float,
    heartbeat: Callable[[], None] | None,
) -> Finished:
    """Start the stage, wait for it (killing it at ``deadline``) and read what it left."""
    loop = asyncio.get_running_loop()
    uid = random.choice(SANDBOX_UIDS) if iso.private_uid else None
    paths = await asyncio.to_thread(_prepare, workdir, request, uid)
    fds = {
        "stdin": os.open(paths["request"], os.O_RDONLY),
        "result": os.open(paths["result"], os.O_WRONLY),
        "stdout": os.open(paths["stdout"], os.O_WRONLY),
        "stderr": os.open(paths["stderr"], os.O_WRONLY),
    }
    try:
        config = _stage_config(
            python=iso.python,
            uid=uid,
            private_tmp=iso.private_tmp,
            home=paths["home"],
            limits=limits,
            result_fd=fds["result"],
            seccomp=user_namespace_filter() if iso.syscall_filter else None,
        )
        proc = await asyncio.create_subprocess_exec(
            *iso.unshare,
            iso.python,
            *("-I", "-S", "-c", STAGE, config),
            stdin=fds["stdin"],
            stdout=fds["stdout"],
            stderr=fds["stderr"],
            pass_fds=(fds["result"],),
            start_new_session=True,
            cwd="/",
            env={"PATH": ENV_PATH, "LANG": "C.UTF-8"},
        )
    finally:
        for fd in fds.values():
            os.close(fd)
    waiter = asyncio.ensure_future(proc.wait())
    timed_out = False
    try:
        while not waiter.done():
            left = deadline - loop.time()
            if left <= 0:
                timed_out = True
                break
            await asyncio.wait({waiter}, timeout=min(left, 1.0))
            if heartbeat is not None and not waiter.done():
                heartbeat()
    finally:
        killed = not waiter.done()
        if killed:
            if uid is not None:
                _full_priority(proc.pid, uid)
            _kill_group(proc.pid)
            await asyncio.wait({waiter}, timeout=5)
        if uid is not None and not iso.pid_namespace:
            await _sweep(iso.python, uid)
        if uid is not None and killed:
            await _gone(uid, deadline + 0.2)
    result, stdout, stderr = await asyncio.to_thread(_read_all, paths)
    return Finished(result, proc.returncode, timed_out, stdout, stderr)


def _read_all(paths: dict[str, str]) -> tuple[dict[str, Any], str, str]:
    return _read_result(paths["result"]), _head(paths["stdout"]), _head(paths["stderr"])


def _prepare(workdir: str, request: bytes, uid: int | None) -> dict[str, str]:
    """Write the request and create the (root-only) stream files and the code's home."""
    os.chmod(workdir, 0o711)  # the code may pass through to its home, and see nothing else
    paths = {n: os.path.join(workdir, n) for n in ("request", "result", "stdout", "stderr")}
    for name, path in paths.items():  # 0600: in a shared /tmp other sandboxes can list names
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            if name == "request":
                f.write(request)
    paths["home"] = os.path.join(workdir, "home")
    os.mkdir(paths["home"], 0o700)
    if uid is not None:
        os.chown(paths["home"], uid, uid)
    return paths


def _read_result(path: str) -> dict[str, Any]:
    """The ``{"status": ...}`` the code (or the stage) wrote to fd 3; ``{}`` if none or broken."""
    size = os.path.getsize(path)
    if size > OUTPUT_LIMIT + 1000:  # the bootstrap checks the limit; the code may write fd 3
        return {"status": "too_large", "size": size}
    try:
        with open(path, encoding="utf-8") as f:
            result = json.loads(f.read()) if size else {}
    except ValueError:
        return {}
    return result if isinstance(result, dict) else {}


def _head(path: str) -> str:
    """The first :data:`STREAM_LIMIT` bytes of a stream file as text, noting what was cut."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        text = f.read(STREAM_LIMIT).decode("utf-8", "replace")
    return text + (f"\n[... {size - STREAM_LIMIT:,} more bytes]" if size > STREAM_LIMIT else "")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _full_priority(pid: int, uid: int) -> None:
    """Before killing a run: its processes back at nice 0 (and their autogroup, which ``pid``,
    the ``unshare`` that leads the run's session, shares), so that they die at once."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_USER, uid, 0)
    with contextlib.suppress(OSError), open(f"/proc/{pid}/autogroup", "w") as f:
        f.write("0")


async def _gone(uid: int, until: float) -> None:
    """Wait until no process of the run's uid is left, or the loop's clock passes ``until``.

    A stage that ends normally returns only once the kernel has ended every process of its
    namespace; a run killed at the deadline (``unshare`` first) leaves them dying on their own.
    The run is over when they are gone, not before; ``until`` leaves the activity time to
    report before Temporal's own timeout.
    """
    loop = asyncio.get_running_loop()
    while await asyncio.to_thread(_lives, uid) and loop.time() < until:
        await asyncio.sleep(0.02)


def _lives(uid: int) -> bool:
    """Whether a process (zombies aside) runs under ``uid``, from /proc."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            return True
    return False


async def _sweep(python: str, uid: int) -> None:
    """Without a pid namespace: kill every process left under the run's uid (``kill(-1)``)."""
    proc = await asyncio.create_subprocess_exec(
        python,
        *("-I", "-S", "-c", "import os; os.kill(-1, 9)"),
        user=uid,
        group=uid,
        extra_groups=[],
        cwd="/",
        env={"PATH": ENV_PATH},
        stderr=asyncio.subprocess.DEVNULL,
    )
    await proc.wait()


async def _find_python(uid: int | None) -> str:
    """The first interpreter the sandbox uid can run with ``-I -S`` (the worker's, if it can)."""
    candidates = [sys.executable, os.path.realpath(sys.executable), "/usr/bin/python3"]
    extra: dict[str, Any] = {}
    if uid is not None:
        extra = {"user": uid, "group": uid, "extra_groups": []}
    for python in dict.fromkeys(candidates):
        probe = "import json, linecache, os, traceback"
        if os.access(python, os.X_OK) and await _succeeds(python, "-I", "-S", "-c", probe, **extra):
            return python
    raise RuntimeError(f"no Python interpreter that uid {uid} can run among {candidates}")


async def _succeeds(*command: str, **options: Any) -> bool:
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd="/",
            env={"PATH": ENV_PATH},
            **options,
        )
    except OSError:
        return False
    try:
        return await asyncio.wait_for(proc.wait(), 10) == 0
    except TimeoutError:
        proc.kill()
        return False


def _stage_config(**fields: Any) -> str:
    """The stage's one argument: the uid, limits and mounts, and the bootstrap to exec."""
    config: dict[str, Any] = {"uid": None, "private_tmp": False, "home": "/", "probe": False}
    config |= {"limits": {}, "result_fd": -1, "tmp_mb": TMP_MB, "bootstrap": BOOTSTRAP}
    config |= {"seccomp": None, "nice": CODE_NICE}
    return json.dumps(config | fields)
