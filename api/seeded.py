"""Runs seeded from an ended run (retry, fork, compensation): reading the original, and starting
the seeded run once under its derived id.

The original is read from its first history event (the request it started with) and, for a step
the view shows only as a size marker, from the ``step`` query. The seeded run is started once
(:func:`api.starting.start_once`), so asking again answers with the run the first request
started, and one that already ran and ended is the answer too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import HTTPException
from temporalio.client import Client, WorkflowHandle

from api.settings import ApiSettings
from api.starting import start_once
from interpreter.request import STEP_QUERY, RunRequest
from interpreter.seed import RETRY_OF_MEMO, Seed
from interpreter.spec import Definition


async def started_request(client: Client, handle: WorkflowHandle[Any, Any]) -> RunRequest:
    """The request the run's latest execution was started with (its first history event)."""
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [request] = await client.data_converter.decode(payloads, [RunRequest])
        return RunRequest.model_validate(request)
    raise LookupError(handle.id)  # pragma: no cover - a described run has a history


async def whole_step(
    handle: WorkflowHandle[Any, Any], settings: ApiSettings, run_id: str, step: str
) -> dict[str, Any]:
    """A step of the ended run with its input and output whole (a worker replays the run)."""
    try:
        answer = await handle.query(
            STEP_QUERY, step, rpc_timeout=timedelta(seconds=settings.query_timeout)
        )
    except Exception:
        answer = None
    if not isinstance(answer, dict):
        raise HTTPException(
            503, f"step '{step}' of run '{run_id}' cannot be read whole now (no worker answered)"
        )
    return answer


async def start_seeded(
    client: Client,
    settings: ApiSettings,
    original: RunRequest,
    *,
    run_id: str,
    seed: Seed,
    tenant: str,
    definition: Definition | None = None,
    version: int | None = None,
    subflows: dict[str, Any] | None = None,
) -> bool:
    """Start ``run_id`` seeded with ``seed``: the original's input, and its definition unless
    another version is given. True when this call started it; False when it was started before
    (it may be running or have ended). A run Temporal refuses is a 422."""
    request = RunRequest(
        definition=original.definition if definition is None else definition,
        input=original.carry.input if original.carry is not None else original.input,
        version=original.version if version is None else version,
        tenant=tenant,
        subflows=original.subflows if subflows is None else subflows,
        flow_limits=settings.limits.flow,
        events_out=settings.events_out is not None,
        seed=seed,
    )
    memo = {RETRY_OF_MEMO: seed.lineage()}
    return await start_once(client, settings, request, run_id, memo=memo) is not None
