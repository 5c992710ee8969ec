"""Where a run's view comes from: the run's final view in its memo, the ``status`` query, or
the definition, so that reading a run never waits long on a worker and never lacks its steps.

One describe answers most reads: an ended run (and one that has decided its end and is only
reporting it) carries its final view in its memo (:mod:`interpreter.finalview`). A running run
is asked the ``status`` query with a short timeout (:attr:`ApiSettings.live_query_timeout`):
workers hold running runs in their cache, so it answers in milliseconds. When nothing answers,
the steps come from the definition the run was started with (its first history event), each
with status ``unknown``. Runs that ended before the final view was kept are asked the query
with the longer :attr:`ApiSettings.query_timeout` (a worker replays their history) first.
``steps_source`` in the view says which of these the steps came from.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
)

from api import stalls
from api.schemas_runs import RunOut, StepErrorOut, StepsSource, UpgradedOut
from api.settings import ApiSettings
from client.priority import DEFAULT as DEFAULT_PRIORITY
from interpreter.finalview import FINAL_VIEW_MEMO
from interpreter.request import STATUS_QUERY, RunRequest
from interpreter.spec import Definition
from interpreter.upgrading import UPGRADED_MEMO

UNKNOWN = "unknown"
"""The status of a step whose state no one could read."""
DEFINITIONS_KEPT = 256
"""How many runs' definitions the API keeps in memory for the next reads."""
FIRST_TASK_EVENTS = 3
"""The history of a run no worker has answered yet: started, workflow task scheduled, started."""


def initial_view(
    run_id: str,
    tenant: str,
    handle: WorkflowHandle[Any, Any],
    definition: Definition,
    version: int,
    priority: int | None = None,
) -> RunOut:
    """The view of a run Temporal has just accepted: running, every step ``pending``."""
    steps = {s.id or "": {"id": s.id or "", "kind": s.kind, "status": "pending"} for s in
             definition.steps}  # fmt: skip
    return RunOut.model_validate(
        {
            "id": run_id,
            "temporal_run_id": handle.result_run_id,
            "workflow": definition.name,
            "version": version,
            "tenant": tenant,
            "status": "running",
            "priority": priority or DEFAULT_PRIORITY,
            "started_at": datetime.now(UTC),
            "ended_at": None,
            "steps": steps,
            "steps_source": "definition",
            "steps_total": len(steps),
            "pending_human": [],
            "usage": {},
            "cost_usd": 0.0,
            "last_seq": 0,
        }
    )


async def read_state(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    description: WorkflowExecutionDescription,
    settings: ApiSettings,
) -> tuple[dict[str, Any], StepsSource]:
    """The run's state (as the ``status`` query answers it) and where it came from."""
    final = await final_view(description)
    if final is not None:
        return final, "final"
    running = description.status == WorkflowExecutionStatus.RUNNING
    if running and not_begun(description):  # exactly known: nothing has started yet
        definition = await run_definition(client, handle, description)
        return definition_state(definition, "pending"), "definition"
    if not stalls.is_stalled(description):  # a stalled run's worker cannot answer
        timeout = settings.live_query_timeout if running else settings.query_timeout
        state = await query_state(handle, timeout)
        if state is not None:
            return state, "live" if running and state.get("status") == "running" else "final"
    definition = await run_definition(client, handle, description)
    return definition_state(definition, UNKNOWN), "definition"


def not_begun(description: WorkflowExecutionDescription) -> bool:
    """No workflow task of the run has completed: its history is only its start and its first
    workflow task, scheduled or taken by a worker (no step has started; a worker that has not
    taken the run up yet would only answer a query once it has)."""
    return description.raw_description.workflow_execution_info.history_length <= FIRST_TASK_EVENTS


async def final_view(description: WorkflowExecutionDescription) -> dict[str, Any] | None:
    """The final view the run keeps in its memo; None for a run that has none (it has not
    ended, or ended before the view was kept) or whose view cannot be read (a lost blob)."""
    if FINAL_VIEW_MEMO not in description.raw_description.workflow_execution_info.memo.fields:
        return None
    try:
        view = await description.memo_value(FINAL_VIEW_MEMO)
    except Exception:  # a blob store that lost it: the query or the definition answer instead
        return None
    return view if isinstance(view, dict) else None


async def query_state(handle: WorkflowHandle[Any, Any], timeout: float) -> dict[str, Any] | None:
    """The ``status`` query's answer, or None when no worker answered within ``timeout`` s."""
    try:
        state = await handle.query(STATUS_QUERY, rpc_timeout=timedelta(seconds=timeout))
    except Exception:  # no worker, a replay problem, a timeout: the definition answers
        return None
    return state if isinstance(state, dict) else None


def definition_state(definition: Definition, status: str) -> dict[str, Any]:
    """A state whose steps are the definition's, each with ``status``, and nothing else known
    (``last_seq`` 0 when nothing has started, else unknown)."""
    steps = {
        s.id or "": {"id": s.id or "", "kind": s.kind, "status": status} for s in definition.steps
    }
    return {"steps": steps, "last_seq": 0 if status == "pending" else None}


async def started_definition(
    client: Client, handle: WorkflowHandle[Any, Any], temporal_run_id: str | None = None
) -> Definition:
    """The definition the run was started with (its first history event's input); kept for
    the next reads of the same execution (``temporal_run_id``: a run's definition never
    changes)."""
    key = (handle.id, temporal_run_id) if temporal_run_id else None
    if key is not None and key in _DEFINITIONS:
        _DEFINITIONS.move_to_end(key)
        return _DEFINITIONS[key]
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [request] = await client.data_converter.decode(payloads, [RunRequest])
        definition = RunRequest.model_validate(request).definition
        if key is not None:
            _DEFINITIONS[key] = definition
            while len(_DEFINITIONS) > DEFINITIONS_KEPT:
                _DEFINITIONS.popitem(last=False)
        return definition
    raise LookupError(handle.id)  # pragma: no cover - a described run has a history


_DEFINITIONS: OrderedDict[tuple[str, str], Definition] = OrderedDict()


async def upgraded(description: WorkflowExecutionDescription) -> dict[str, Any] | None:
    """The latest upgrade of the run (:mod:`interpreter.upgrading`: its memo), None when it
    was never upgraded or the memo cannot be read."""
    if UPGRADED_MEMO not in description.raw_description.workflow_execution_info.memo.fields:
        return None
    try:
        entry = await description.memo_value(UPGRADED_MEMO)
    except Exception:  # a blob store that lost it: read as never upgraded
        return None
    return entry if isinstance(entry, dict) else None


async def with_upgrade(description: WorkflowExecutionDescription, view: RunOut) -> RunOut:
    """``view`` with its latest upgrade, when the run was upgraded."""
    entry = await upgraded(description)
    if entry is None:
        return view
    try:
        out = UpgradedOut.model_validate(entry)
    except ValueError:
        return view
    return view.model_copy(update={"upgraded": out})


async def as_upgraded(request: RunRequest, description: WorkflowExecutionDescription) -> RunRequest:
    """The request the run would be started with now: ``request`` (its execution's start)
    with the definition, version and subflows of its latest upgrade, if it has one since."""
    entry = await upgraded(description)
    if entry is None or entry.get("to_version") == request.version:
        return request
    try:
        definition = Definition.model_validate(entry.get("definition"))
        subflows = {k: Definition.model_validate(v) for k, v in entry["subflows"].items()}
    except (ValueError, KeyError, AttributeError):  # unreadable: the started one
        return request
    update = {"definition": definition, "version": entry["to_version"], "subflows": subflows}
    return request.model_copy(update=update)


async def run_definition(
    client: Client, handle: WorkflowHandle[Any, Any], description: WorkflowExecutionDescription
) -> Definition:
    """The definition the run runs now: the one it was upgraded to, else the one it started
    with."""
    entry = await upgraded(description)
    if entry is not None:
        try:
            return Definition.model_validate(entry.get("definition"))
        except ValueError:  # unreadable: the started one
            pass
    return await started_definition(client, handle, description.run_id)


async def with_stall(
    client: Client, description: WorkflowExecutionDescription, view: RunOut
) -> RunOut:
    """``view``, ``stalled`` with the failure as its error when the run's workflow tasks keep
    failing (the describe says so; only then is the history read for the failure)."""
    if view.status not in ("running", "paused"):
        return view
    stall = await stalls.stall_error(client, description)
    if stall is None:
        return view
    return view.model_copy(update={"status": "stalled", "error": StepErrorOut(**stall)})


def paged(view: RunOut, page_size: int | None, page_token: str | None) -> RunOut:
    """``view`` with one page of its steps (in the definition's order): the ``page_size``
    steps after the one ``page_token`` names (from the start without a token).

    Raises:
        HTTPException: 422 when the token names no step of this run.
    """
    if page_size is None and page_token is None:
        return view
    ids = list(view.steps)
    start = 0
    if page_token is not None:
        after = _decode(page_token)
        if after not in view.steps:
            raise HTTPException(422, "steps_page_token is not valid")
        start = ids.index(after) + 1
    end = len(ids) if page_size is None else start + page_size
    page = ids[start:end]
    token = _encode(page[-1]) if page and end < len(ids) else None
    return view.model_copy(
        update={"steps": {sid: view.steps[sid] for sid in page}, "steps_next_page_token": token}
    )


def _encode(step_id: str) -> str:
    return base64.urlsafe_b64encode(step_id.encode()).decode().rstrip("=")


def _decode(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError, UnicodeError):
        raise HTTPException(422, "steps_page_token is not valid") from None
