"""``kworkflow api`` (and ``python -m api.serve``): serve the HTTP API with uvicorn.

Settings come from the environment (:class:`~api.settings.ApiSettings`); ``--host`` and
``--port`` override ``KWORKFLOW_API_HOST`` (default 127.0.0.1) and ``KWORKFLOW_API_PORT``
(default 8000). Without API keys the API is single-tenant and refuses a host that is not
loopback. Temporal and the database are checked before serving, so a wrong address is a
one-line message, not a traceback.

Exit codes: 0 after Ctrl-C/SIGTERM; 2 bad configuration (keys, port, a non-loopback host
without keys, a port in use); 3 Temporal or the database cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace

import uvicorn
from starlette.concurrency import run_in_threadpool

from api.app import create_app
from api.settings import ApiSettings, ApiSettingsError, is_loopback
from client.connect import connect
from client.errors import ServerUnavailable
from interpreter.registration import data_converter
from registry.errors import StoreUnavailable
from registry.store import DefinitionStore
from storage import StorageError

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


def build_parser() -> argparse.ArgumentParser:
    """The arguments of ``kworkflow api``."""
    parser = argparse.ArgumentParser(
        prog="kworkflow api",
        description="Serve the kworkflow HTTP API (OpenAPI at /docs).",
        epilog="Configuration: KWORKFLOW_API_KEYS or KWORKFLOW_API_KEYS_FILE (tenants), "
        "KWORKFLOW_DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, KWORKFLOW_TASK_QUEUE.",
    )
    parser.add_argument("--host", help="address to bind (default: 127.0.0.1; KWORKFLOW_API_HOST)")
    parser.add_argument("--port", type=int, help="port (default: 8000; KWORKFLOW_API_PORT)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM; returns the exit code (see the module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        settings = ApiSettings.from_env()
    except ApiSettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        data_converter()  # the blob store's settings (storage/)
    except StorageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    settings = replace(
        settings,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
    )
    if settings.single_tenant:
        if not is_loopback(settings.host):
            return _fail(
                f"no API keys configured: refusing to listen on {settings.host} (single-tenant "
                "mode serves 127.0.0.1 only); set KWORKFLOW_API_KEYS or KWORKFLOW_API_KEYS_FILE",
                EXIT_USAGE,
            )
        print(
            f"single-tenant mode: no API keys configured, listening on {settings.host} only",
            file=sys.stderr,
            flush=True,
        )
    if _port_in_use(settings.host, settings.port):
        return _fail(
            f"port {settings.port} on {settings.host} is already in use: choose another with "
            "--port / KWORKFLOW_API_PORT",
            EXIT_USAGE,
        )
    problem = asyncio.run(_preflight(settings))
    if problem:
        return _fail(problem, EXIT_UNAVAILABLE)
    level = (os.environ.get("KWORKFLOW_LOG_LEVEL") or "info").lower()
    uvicorn.run(
        create_app(settings=settings),
        host=settings.host,
        port=settings.port,
        log_level=level if level in ("critical", "error", "warning", "info", "debug") else "info",
        lifespan="on",
    )
    return EXIT_OK


async def _preflight(settings: ApiSettings) -> str | None:
    """What keeps the API from serving (Temporal or the database unreachable), if anything."""
    try:
        await connect(settings.temporal)
    except ServerUnavailable as exc:
        return str(exc)
    try:
        store = await run_in_threadpool(DefinitionStore, settings.database_url)
    except StoreUnavailable as exc:
        return str(exc)
    store.close()
    return None


def _port_in_use(host: str, port: int) -> bool:
    if port == 0:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return True
    return False


def _fail(message: str, code: int) -> int:
    print(f"kworkflow: {message}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)  # sdk-python#300: no interpreter shutdown after using the SDK
