"""What the routes that start runs share: the published version a start names, its input
checked and its subflows pinned, and starting a run once under its id.

``POST /v1/runs`` and webhook deliveries start from a published version (:func:`checked_start`);
they and the runs seeded from an ended run (:mod:`api.seeded`) start under an id that makes the
start idempotent (:func:`start_once`): asking again finds the run the first request started,
running or ended, and starts nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from api.settings import ApiSettings
from client.start import start_unique
from interpreter.errors import InputError
from interpreter.inputs import prepare_input
from interpreter.request import RunRequest
from interpreter.spec import Definition
from registry.errors import NotFound
from registry.store import DefinitionStore, Published


def checked_start(
    store: DefinitionStore, tenant: str, name: str, version: int | None, value: Any
) -> tuple[Published, dict[str, Definition]]:
    """The published version of ``name`` a start asks for (None: the latest), with ``value``
    checked against its ``input`` schema, and the named subflows its run pins.

    Raises:
        HTTPException: 404 no such workflow or version; 422 a bad input or a missing subflow.
    """
    try:
        published = store.get(tenant, name, version)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    definition = published.definition
    try:
        prepare_input(definition.input, value)
    except InputError as exc:
        raise HTTPException(422, exc.describe_all()) from None
    try:
        subflows = store.resolve_subflows(tenant, definition)
    except NotFound as exc:
        raise HTTPException(
            422, f"a subflow of {definition.name!r} cannot be found: {exc}"
        ) from None
    return published, subflows


async def start_once(
    client: Client,
    settings: ApiSettings,
    request: RunRequest,
    run_id: str,
    *,
    memo: dict[str, Any] | None = None,
    priority: int | None = None,
) -> WorkflowHandle[Any, Any] | None:
    """Start ``run_id`` on the server's task queue unless that id has a run already
    (:func:`client.start.start_unique`).

    Returns:
        A handle on the run this call started; None when the id had a run, running or ended.

    Raises:
        HTTPException: 422 Temporal refused the run (a search attribute or memo it rejects).
    """
    try:
        return await start_unique(
            client, request, settings.task_queue, run_id, memo=memo, priority=priority
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise HTTPException(422, f"Temporal refused the run: {exc.message}") from None
        raise
