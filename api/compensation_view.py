"""The ``compensation`` entry of a run view: the run's own, or its compensation run's.

A run that compensated itself (``compensate_on``) or is a compensation run has the entry in its
own state. The original of a manual compensation shows its compensation run's entry, with
``run_id``, read from that run (its final view, or its ``status`` query while it runs; a run
that has not begun shows ``compensating`` with no steps yet). The compensation run has the
original's id in its ``RetryOf`` search attribute (``temporal workflow list --query "RetryOf =
'<id>'"`` lists it), but the original's ``retries`` leave it out: it is no retry.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import RPCError

from api import runview
from api.schemas_runs import CompensationOut, RunOut, tenant_of
from api.settings import ApiSettings
from client.compensation import COMPENSABLE, compensation_run_id
from interpreter.request import WORKFLOW_NAME


async def with_compensation(
    client: Client, settings: ApiSettings, view: RunOut, tenant: str
) -> RunOut:
    """``view`` with the ``compensation`` of its compensation run, when a run compensates it."""
    if view.compensation is not None or view.status not in COMPENSABLE:
        return view
    new_id = compensation_run_id(view.id)
    handle = client.get_workflow_handle(new_id)
    try:
        description = await handle.describe()
    except RPCError:  # no compensation run (or Temporal unavailable for it): none shown
        return view
    if description.workflow_type != WORKFLOW_NAME or tenant_of(description) != tenant:
        return view
    state, _ = await runview.read_state(client, handle, description, settings)
    entry = state.get("compensation")
    found = dict(entry) if isinstance(entry, dict) else {"status": "compensating", "steps": []}
    found = {**found, "mode": "manual", "run_id": new_id}
    retries = [run for run in view.retries if run != new_id]  # it is no retry (RetryOf lists it)
    update = {"compensation": CompensationOut.model_validate(found), "retries": retries}
    return view.model_copy(update=update)
