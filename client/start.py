"""Starting runs from outside a workflow: pin named subflows, start, wait for the result."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    TerminatedError,
    TimeoutError,
    WorkflowAlreadyStartedError,
)

from client.errors import (
    RunAlreadyExists,
    RunCancelled,
    RunFailed,
    RunTimedOut,
    SubflowNotFound,
)
from client.priority import temporal_priority
from client.search_attributes import ensure_search_attributes, for_run
from interpreter.loader import load_file
from interpreter.request import WORKFLOW_NAME, RunRequest
from interpreter.spec import Definition
from interpreter.topology import named_subflows
from telemetry.metrics import RUNS_STARTED

DEFINITION_SUFFIXES = (".yaml", ".yml")


def pin_subflows(defn: Definition, search_dirs: Sequence[str | Path]) -> dict[str, Definition]:
    """Resolve every named subflow a run of ``defn`` can start, from definition files.

    Every ``subflow`` step with ``workflow: <name>`` is looked for among the ``*.yaml`` and
    ``*.yml`` files directly in ``search_dirs``, matched on their ``name:``; the first directory
    that has one wins. Steps inside inline subflows, ``parallel`` inner specs, ``compensate``
    specs and the pinned definitions themselves are resolved too. A file run has version 0, so a
    ``version:`` on the step does not select anything: the file's definition is pinned under the
    step's :attr:`~interpreter.spec.SubflowStep.pin_key` (``name@version``) all the same.

    Args:
        defn: The definition about to run.
        search_dirs: Directories to search, in order of precedence.

    Returns:
        The pinned definitions keyed as the steps write them (``name`` or ``name@version``).

    Raises:
        SubflowNotFound: No file, or more than one file in the same directory, has that name.
        interpreter.errors.DefinitionError: The matching file does not load.
    """
    dirs = list(dict.fromkeys(Path(d).resolve() for d in search_dirs))
    index = _index_by_name(dirs)
    pinned: dict[str, Definition] = {}
    by_path: dict[Path, Definition] = {}
    pending = list(named_subflows(defn.steps))
    while pending:
        step = pending.pop(0)
        key, name = step.pin_key, step.workflow
        if key is None or name is None or key in pinned:
            continue
        path = _pick(name, index, dirs)
        if path not in by_path:
            by_path[path] = load_file(path)
            pending.extend(named_subflows(by_path[path].steps))
        pinned[key] = by_path[path]
    return pinned


def new_run_id(name: str) -> str:
    """A fresh run id for a definition: ``<name>-<8 hex digits>``."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def start_run(
    client: Client,
    request: RunRequest,
    task_queue: str,
    run_id: str | None = None,
    *,
    id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.UNSPECIFIED,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    memo: dict[str, Any] | None = None,
    priority: int | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start the interpreter workflow on a run request.

    Args:
        client: A client connected with kworkflow's data converter.
        request: What to run (definition, input, pinned subflows).
        task_queue: The task queue kworkflow's workers poll.
        run_id: The run's workflow id (default: :func:`new_run_id`).
        id_conflict_policy: What to do when a run with that id is running (default: fail;
            ``USE_EXISTING`` returns a handle on it, see :func:`started_new`).
        id_reuse_policy: Whether a closed run's id may start a new run (default: yes;
            ``REJECT_DUPLICATE`` raises :class:`RunAlreadyExists` instead).
        memo: The run's initial memo (a retry's lineage, :mod:`client.retry`).
        priority: 1 (first) to 5 (last); None: Temporal's default, 3 (:mod:`client.priority`).

    Returns:
        A handle on the started (or, with ``USE_EXISTING``, the running) run; its ``id`` is the
        run id.

    Raises:
        RunAlreadyExists: A run with ``run_id`` is running, or (``REJECT_DUPLICATE``) existed.
    """
    workflow_id = run_id or new_run_id(request.definition.name)
    attributes = for_run(request) if await ensure_search_attributes(client) else None
    try:
        handle = await client.start_workflow(
            WORKFLOW_NAME,
            request,
            id=workflow_id,
            task_queue=task_queue,
            search_attributes=attributes,
            id_conflict_policy=id_conflict_policy,
            id_reuse_policy=id_reuse_policy,
            memo=memo,
            priority=temporal_priority(priority),
        )
    except WorkflowAlreadyStartedError:
        raise RunAlreadyExists(workflow_id) from None
    if started_new(handle):
        RUNS_STARTED.labels(request.definition.name).inc()
    return handle


def started_new(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether :func:`start_run` started a new run (False: ``USE_EXISTING`` found one running).

    The SDK keeps the server's answer (``StartWorkflowExecutionResponse.started``) on the handle
    without a public accessor; a handle without it counts as started.
    """
    response = getattr(handle, "_start_workflow_response", None)
    started = getattr(response, "started", True)
    return bool(started) if isinstance(started, bool) else True


async def start_unique(
    client: Client,
    request: RunRequest,
    task_queue: str,
    run_id: str,
    *,
    memo: dict[str, Any] | None = None,
    priority: int | None = None,
) -> WorkflowHandle[Any, Any] | None:
    """Start the run ``run_id`` unless that id already has a run, running or ended.

    Started with ``USE_EXISTING`` and ``REJECT_DUPLICATE``, so asking twice (a retried request,
    a redelivered event) never starts a second run; see :func:`start_run` for the arguments.

    Returns:
        A handle on the run this call started; None when the id had a run already.
    """
    try:
        handle = await start_run(
            client,
            request,
            task_queue,
            run_id,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo=memo,
            priority=priority,
        )
    except RunAlreadyExists:  # it ran and ended
        return None
    return handle if started_new(handle) else None


async def wait_result(handle: WorkflowHandle[Any, Any]) -> Any:
    """Wait for a run to finish and return its result.

    Raises:
        RunFailed: The run failed; for a failed step it names the step, kind, attempts and
            last error.
        RunTimedOut: The run's time limit passed.
        RunCancelled: The run was cancelled or terminated.
    """
    try:
        return await handle.result()
    except WorkflowFailureError as exc:
        raise _run_error(handle.id, exc) from exc


def _run_error(run_id: str, exc: WorkflowFailureError) -> Exception:
    """The typed error for a run that ended without a result (messages follow ``run <id> ``)."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        if cause.type == "RunTimeout":
            return RunTimedOut(
                run_id, f"timed out: {cause.message}" if cause.message else "timed out"
            )
        details = cause.details[0] if cause.details else None
        return RunFailed.from_details(run_id, cause.type, cause.message, details)
    if isinstance(cause, TimeoutError):
        return RunTimedOut(run_id, "timed out")
    if isinstance(cause, CancelledError):
        return RunCancelled(run_id, "was cancelled")
    if isinstance(cause, TerminatedError):
        reason = cause.message
        return RunCancelled(run_id, f"was terminated: {reason}" if reason else "was terminated")
    message = getattr(cause, "message", None) or str(cause or exc)
    return RunFailed(run_id, type(cause).__name__ if cause else None, message)


def _index_by_name(dirs: list[Path]) -> dict[str, list[Path]]:
    """Definition files by their ``name:``, in directory order (unreadable files are skipped)."""
    index: dict[str, list[Path]] = {}
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix not in DEFINITION_SUFFIXES or not path.is_file():
                continue
            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            if isinstance(doc, dict) and isinstance(doc.get("name"), str):
                index.setdefault(doc["name"], []).append(path)
    return index


def _pick(name: str, index: dict[str, list[Path]], dirs: list[Path]) -> Path:
    """The file that defines ``name``: the first directory's, and only one per directory."""
    found = index.get(name, [])
    if not found:
        raise SubflowNotFound(name, [str(d) for d in dirs])
    first_dir = found[0].parent
    same_dir = [p for p in found if p.parent == first_dir]
    if len(same_dir) > 1:
        files = ", ".join(str(p) for p in same_dir)
        raise SubflowNotFound(name, [str(d) for d in dirs], f"defined by several files: {files}")
    return found[0]
