"""``kworkflow run``: check a definition and its input, start it on Temporal, print its result."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from temporalio.service import RPCError

from activities.config import current_config
from activities.errors import ConfigError
from cli.args import parse_input
from cli.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    CLIError,
)
from cli.offline import print_problems, read_definition_text
from client.connect import Settings, connect
from client.errors import (
    RunAlreadyExists,
    RunError,
    RunFailed,
    ServerUnavailable,
    SubflowNotFound,
)
from client.start import new_run_id, pin_subflows, start_run, wait_result
from interpreter.errors import DefinitionError, InputError
from interpreter.inputs import prepare_input
from interpreter.limits import FlowLimits
from interpreter.lint import lint_text
from interpreter.lint_types import model_problems
from interpreter.request import RunRequest
from interpreter.spec import Definition


def worker_flow_limits() -> FlowLimits:
    """The flow limits of the worker configuration here (``KWORKFLOW_CONFIG``, else
    ``kworkflow.worker.yaml``), which the run is started with.

    Raises:
        CLIError: The configuration cannot be read (exit 2).
    """
    try:
        return current_config().limits.flow
    except ConfigError as exc:
        raise CLIError(str(exc)) from None


def run_command(args: argparse.Namespace) -> int:
    """``kworkflow run FILE``: check, start, wait, print; exit codes in :mod:`cli.errors`."""
    value = parse_input(args.input)
    defn = load_checked(args.file)
    check_input(defn, value)
    subflows = pin(defn, [Path(args.file).parent, *args.lib])
    request = RunRequest(
        definition=defn, input=value, subflows=subflows, flow_limits=worker_flow_limits()
    )

    run_id = args.run_id or new_run_id(defn.name)
    try:
        return asyncio.run(_start_and_follow(request, run_id, wait=not args.no_wait))
    except KeyboardInterrupt:
        print(f"kworkflow: stopped waiting; run {run_id} goes on", file=sys.stderr)
        return EXIT_INTERRUPTED


def load_checked(path: str) -> Definition:
    """Load and lint a definition file; print every finding and stop if there is any.

    Raises:
        CLIError: The file cannot be read, does not load, or has lint errors (warnings are
            printed, and do not stop it).
    """
    text = read_definition_text(path)
    defn, problems = lint_text(text, path, extra=model_problems)
    print_problems(path, problems)
    count = sum(p.severity != "warning" for p in problems)
    if count or defn is None:
        raise CLIError(f"{path}: {count} problem(s); the run was not started")
    return defn


def check_input(defn: Definition, value: Any) -> None:
    """Check the run input against the definition's ``input`` schema.

    Raises:
        CLIError: The input breaks the schema; the message names the property.
    """
    try:
        prepare_input(defn.input, value)
    except InputError as exc:
        raise CLIError(f"{exc.describe_all()}; the run was not started") from None


def pin(defn: Definition, search_dirs: list[Path]) -> dict[str, Definition]:
    """Pin the named subflows of ``defn`` from the search directories.

    Raises:
        CLIError: A subflow cannot be found, or its file does not load.
    """
    try:
        return pin_subflows(defn, search_dirs)
    except SubflowNotFound as exc:
        raise CLIError(f"{exc}; the run was not started") from None
    except DefinitionError as exc:
        source = exc.source or "a subflow definition"
        count = print_problems(source, exc.problems)
        raise CLIError(f"{source}: {count} problem(s); the run was not started") from None


async def _start_and_follow(request: RunRequest, run_id: str, *, wait: bool) -> int:
    """Connect, start the run, and (unless ``wait`` is false) print its result."""
    settings = Settings.from_env()
    try:
        client = await connect(settings)
        handle = await start_run(client, request, settings.task_queue, run_id)
    except ServerUnavailable as exc:
        raise CLIError(str(exc), EXIT_UNAVAILABLE) from None
    except RunAlreadyExists as exc:
        raise CLIError(str(exc)) from None
    except RPCError as exc:
        raise CLIError(
            f"the Temporal server at {settings.address} refused to start the run: {exc}",
            EXIT_UNAVAILABLE,
        ) from None
    if not wait:
        print(handle.id)
        return EXIT_OK
    print(
        f"run {handle.id} started on task queue {settings.task_queue!r}; waiting for its result",
        file=sys.stderr,
    )
    try:
        result = await wait_result(handle)
    except RunFailed as exc:
        print(f"run {handle.id} failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except RunError as exc:
        print(f"run {handle.id} {exc}", file=sys.stderr)  # "timed out", "was cancelled"
        return EXIT_FAILED
    except RPCError as exc:
        raise CLIError(
            f"lost the Temporal server at {settings.address} while waiting for run "
            f"{handle.id} (it goes on): {exc}",
            EXIT_UNAVAILABLE,
        ) from None
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return EXIT_OK
