"""A kworkflow worker: runs the interpreter workflows and the step activities on one task queue.

Run it as ``python worker.py`` or ``kworkflow worker``; configure it with ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE`` and ``KWORKFLOW_TASK_QUEUE``, and how much it takes on at once with the
``KWORKFLOW_*`` variables of :mod:`interpreter.tuning`; ``KWORKFLOW_METRICS_PORT`` (or
``--metrics-port``) serves Prometheus metrics, ``OTEL_EXPORTER_OTLP_ENDPOINT`` exports traces
(docs/observability.md). Any number of workers may poll the same
task queue: Temporal spreads the work among them. Ctrl-C or SIGTERM stops polling, lets running
activities finish for up to :data:`GRACEFUL_SHUTDOWN`, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from activities.errors import ConfigError
from client.connect import Settings, connect
from client.errors import ClientError
from interpreter.registration import new_worker
from interpreter.tuning import Tuning
from storage import StorageError, close_stores
from telemetry import logs
from telemetry.metrics import start_metrics_server, temporal_runtime
from telemetry.ports import add_metrics_port_option, parse_port
from telemetry.tracing import setup_tracing

GRACEFUL_SHUTDOWN = timedelta(seconds=5)
"""How long running activities may take to finish once the worker is asked to stop."""

log = logging.getLogger("kworkflow.worker")


def activities_for_worker() -> list[Callable[..., Any]]:
    """The step activities this worker runs: ``llm``, ``tool`` and ``code``.

    Reads the worker configuration and imports its tool modules first, so that a broken
    configuration stops the worker at start with a clear message instead of failing steps.

    Raises:
        activities.errors.ConfigError: The configuration or a tool module is wrong.
    """
    from activities.code import code
    from activities.config import current_config
    from activities.egress import policy_for
    from activities.llm import llm
    from activities.registry import load_tool_modules
    from activities.tool import tool

    load_tool_modules(current_config().all_tool_modules())
    policy_for(None)  # a bad KWORKFLOW_EGRESS_ALLOW entry stops the worker here, not a step
    return [llm, tool, code]


def identity() -> str:
    """This worker's identity as Temporal shows it: unique per process, so workers can share."""
    return f"kworkflow-worker-{os.getpid()}@{socket.gethostname()}"


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run a worker until ``stop`` is set, or until SIGINT or SIGTERM arrives.

    Args:
        settings: Where Temporal is and which task queue to poll.
        stop: Set it to stop the worker; when not given, SIGINT and SIGTERM set it.

    Raises:
        client.errors.ServerUnavailable: Temporal cannot be reached.
    """
    if stop is None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
    activities = activities_for_worker()  # a wrong configuration stops us before connecting
    Tuning.from_env()  # and so does a wrong pollers, slots or cache setting
    setup_tracing("kworkflow-worker")  # exports only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    client = await connect(settings)
    worker = new_worker(
        client,
        settings.task_queue,
        activities,
        identity=identity(),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    log.info(
        "kworkflow worker %s polling task queue %r at %s (namespace %r)",
        identity(),
        settings.task_queue,
        settings.address,
        settings.namespace,
    )
    reporting = _report_offer(settings.task_queue, stop)
    async with worker:  # leaving the block shuts the worker down gracefully
        await stop.wait()
        log.info("kworkflow worker stopping")
    if reporting is not None:
        await reporting
    await close_stores()
    log.info("kworkflow worker stopped")


def _report_offer(task_queue: str, stop: asyncio.Event) -> asyncio.Task[None] | None:
    """Report what this worker offers to the API (``KWORKFLOW_API_URL``) until ``stop``."""
    from activities.capabilities import Reporter, offer
    from activities.config import current_config

    reporter = Reporter.from_env(identity())
    if reporter is None:
        return None
    return asyncio.create_task(reporter.run(offer(current_config(), task_queue), stop))


def metrics_port(env: dict[str, str] | None = None) -> int | None:
    """``KWORKFLOW_METRICS_PORT`` as a port number, or None (metrics off, the default).

    Raises:
        activities.errors.ConfigError: The value is not a port number.
    """
    value = (env if env is not None else os.environ).get("KWORKFLOW_METRICS_PORT", "").strip()
    return parse_port(value, "KWORKFLOW_METRICS_PORT") if value else None


def start_metrics(port: int) -> None:
    """Serve kworkflow's metrics on ``port`` and Temporal's SDK metrics on ``port + 1``.

    Must run before the worker's client connects (the SDK runtime is chosen then).
    """
    from temporalio.runtime import Runtime

    try:
        start_metrics_server(port)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on port {port}: {exc.strerror}") from None
    Runtime.set_default(temporal_runtime(f"0.0.0.0:{port + 1}"), error_if_already_set=False)
    log.info("metrics on :%d/metrics, Temporal SDK metrics on :%d/metrics", port, port + 1)


def run(settings: Settings | None = None, port: int | None = None) -> int:
    """Configure logging, run :func:`serve` and return the process exit code.

    Args:
        settings: Default: :meth:`Settings.from_env`.
        port: The metrics port (default: ``KWORKFLOW_METRICS_PORT``, unset: no metrics).

    Returns:
        0 after a requested stop, 1 on an unexpected error, 2 for a wrong worker configuration,
        3 when Temporal cannot be reached.
    """
    from temporalio.runtime import Runtime

    logs.configure(os.environ.get("KWORKFLOW_LOG_LEVEL", "INFO"))
    try:
        port = port if port is not None else metrics_port()
        if port is not None:
            start_metrics(port)
        else:  # core's logs through Python logging all the same (telemetry.logs)
            Runtime.set_default(temporal_runtime(), error_if_already_set=False)
        asyncio.run(serve(settings or Settings.from_env()))
    except ClientError as exc:
        print(f"kworkflow: {exc}", file=sys.stderr)
        return 3
    except (ConfigError, StorageError) as exc:
        print(f"kworkflow: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not a mistake: no traceback unless asked for
        log.critical(
            "kworkflow worker failed: %s: %s",
            type(exc).__name__,
            exc,
            exc_info=bool(os.environ.get("KWORKFLOW_DEBUG")),
        )
        return 1
    finally:
        logs.stop()
    return 0


def main() -> None:
    """Entry point of ``python worker.py``: leaves with ``os._exit`` (sdk-python#300)."""
    parser = argparse.ArgumentParser(description="Run a kworkflow worker.")
    add_metrics_port_option(parser)
    code = run(port=parser.parse_args().metrics_port)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set ``stop``; a second one ends the process at once."""
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


if __name__ == "__main__":
    main()
