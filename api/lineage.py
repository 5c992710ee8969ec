"""A run's lineage in its view: the retry it is (its memo) and the retries of it (visibility).

A retry's memo holds :data:`interpreter.seed.RETRY_OF_MEMO` (origin, chain root, from-step,
version, steps reused and retried, who asked) and its ``RetryOf`` search attribute the origin's
run id. A closed run's memo cannot be changed, so the original does not record its retries:
they are found with the visibility query ``RetryOf = '<run id>'`` (Temporal visibility may lag
a second behind a retry's start).
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowExecution

from api.schemas_runs import RetryOfOut, RunOut
from interpreter.request import WORKFLOW_NAME
from interpreter.seed import RETRY_OF_MEMO

MAX_RETRIES_LISTED = 100
"""How many retries of a run its view lists."""
LIVE = frozenset({"running", "paused", "stalled"})
"""Statuses of a run that cannot have been retried yet (no visibility query for them)."""


async def retry_of(execution: WorkflowExecution) -> dict[str, Any] | None:
    """The lineage a retry keeps in its memo; None for a run that is no retry."""
    if RETRY_OF_MEMO not in execution.raw_info.memo.fields:
        return None
    try:
        value = await execution.memo_value(RETRY_OF_MEMO)
    except Exception:  # an unreadable memo: the view goes without the lineage
        return None
    return value if isinstance(value, dict) else None


async def retries(client: Client, run_id: str, tenant: str) -> list[str]:
    """The run ids of the retries of ``run_id`` (oldest first); [] when none can be listed."""
    quoted = run_id.replace("\\", "\\\\").replace("'", "\\'")
    query = f"WorkflowType = '{WORKFLOW_NAME}' AND Tenant = '{tenant}' AND RetryOf = '{quoted}'"
    try:
        found = [
            (execution.start_time, execution.id)
            async for execution in client.list_workflows(query, limit=MAX_RETRIES_LISTED)
        ]
    except Exception:  # no such attribute on this server, visibility unavailable
        return []
    return [run for _, run in sorted(found, key=lambda pair: (pair[0] is None, pair[0], pair[1]))]


async def with_lineage(
    client: Client, execution: WorkflowExecution, view: RunOut, tenant: str
) -> RunOut:
    """``view`` with its ``retry_of`` (a retry) and ``retries`` (an ended run)."""
    origin = await retry_of(execution)
    found = await retries(client, view.id, tenant) if view.status not in LIVE else []
    if origin is None and not found:
        return view
    update: dict[str, Any] = {"retries": found}
    if origin is not None:
        update["retry_of"] = RetryOfOut.model_validate(origin)
    return view.model_copy(update=update)
