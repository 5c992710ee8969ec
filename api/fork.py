"""The fork route: ``POST /v1/runs/{run_id}/fork``, a new run from a step of an ended run with
some outputs before it replaced (time travel).

A fork is a retry from ``from`` (:mod:`api.retry`) whose taken-over steps may have new outputs
(``set``, checked by :mod:`client.fork` against each step's ``form`` or ``output_schema``). The
new run records each edit as a ``step_edited`` transition with who made it, its seed (in its
history) holds the edited values, and its memo's lineage says ``mode: fork`` and which steps
were edited. Idempotent like a retry: the same fork (same step, version, edits and
``Idempotency-Key``) names the same run, ``<root>-fork-<10 hex>``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from api.limits import check_carried
from api.retry import _Key, retry_one
from api.runs import _NO_RUN, Actor, Settings, Store, TemporalClient, Tenant
from api.schemas_retry import ForkIn, RetryOut
from api.schemas_runs import ErrorOut

router = APIRouter(tags=["runs"])

_ONE: dict[int | str, dict[str, Any]] = {
    200: {"model": RetryOut, "description": "This fork was asked before: its run"},
    **_NO_RUN,
    409: {"model": ErrorOut, "description": "The run has not ended, or cannot be forked"},
    413: {"model": ErrorOut, "description": "The edited outputs are too large"},
    422: {
        "model": ErrorOut,
        "description": "No such step, an edit of a step that runs again or that breaks its "
        "form or output_schema, or a version whose steps do not match",
    },
    503: {"model": ErrorOut, "description": "The run's state cannot be read now"},
}


@router.post("/v1/runs/{run_id}/fork", status_code=201, response_model=RetryOut, responses=_ONE)
async def fork(
    run_id: str,
    response: Response,
    client: TemporalClient,
    settings: Settings,
    store: Store,
    tenant: Tenant,
    actor: Actor,
    body: Annotated[ForkIn, Body()],
    idempotency_key: _Key = None,
) -> RetryOut:
    """Fork an ended run (succeeded or not) from a step: that step and everything downstream
    of it run again in a new run; the steps before it keep their outputs, or take the ones
    given in `set`. 201 with the new run; 200 when this fork was asked before."""
    check_carried(body.set, settings.max_input_bytes, "set: ", "the edited outputs are")
    out = await retry_one(
        client, settings, store, tenant, actor, run_id, body.from_, body.version,
        idempotency_key, edits=body.set,
    )  # fmt: skip
    if not out.created:
        response.status_code = 200
    response.headers["Location"] = out.links["run"]
    return out
