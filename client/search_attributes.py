"""The search attributes kworkflow puts on every run, so runs can be listed by tenant and workflow.

``Tenant`` and ``WorkflowName`` (Keyword) and ``WorkflowVersion`` (Int) are set when a run
starts; ``RetryOf`` (Keyword) holds the original run id of a retry (:mod:`interpreter.seed`),
so the retries of a run are found with ``RetryOf = '<run id>'``; ``KwAwaitedEvents`` (Keyword
list) holds the event types a run's ``event`` steps wait for (:mod:`interpreter.event_waits`).
The embedded dev server registers them at start; on another server they are added on first
use when the client may (``ensure_search_attributes``), and runs start without them otherwise
(they can then not be listed by the API).
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from interpreter.event_waits import AWAITED_EVENTS
from interpreter.request import RunRequest

TENANT = SearchAttributeKey.for_keyword("Tenant")
WORKFLOW_NAME = SearchAttributeKey.for_keyword("WorkflowName")
WORKFLOW_VERSION = SearchAttributeKey.for_int("WorkflowVersion")
RETRY_OF = SearchAttributeKey.for_keyword("RetryOf")
KEYS = (TENANT, WORKFLOW_NAME, WORKFLOW_VERSION, RETRY_OF, AWAITED_EVENTS)

_TYPES = {
    TENANT.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    WORKFLOW_NAME.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    WORKFLOW_VERSION.name: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    RETRY_OF.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    AWAITED_EVENTS.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}
DEV_SERVER_FLAGS = [
    arg
    for key, kind in (
        ("Tenant", "Keyword"),
        ("WorkflowName", "Keyword"),
        ("WorkflowVersion", "Int"),
        ("RetryOf", "Keyword"),
        (AWAITED_EVENTS.name, "KeywordList"),
    )
    for arg in ("--search-attribute", f"{key}={kind}")
]
"""``temporal server start-dev`` flags that register the attributes."""

log = logging.getLogger("kworkflow.client")
_ready: set[tuple[str, str]] = set()


async def ensure_search_attributes(client: Client) -> bool:
    """Whether the namespace has kworkflow's search attributes, adding those it lacks.

    Checked once per process and namespace. Returns False (and logs why) when they are missing
    and cannot be added, e.g. without operator rights.
    """
    key = (client.service_client.config.target_host, client.namespace)
    if key in _ready:
        return True
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        present = {**listed.custom_attributes, **listed.system_attributes}
        missing = {name: kind for name, kind in _TYPES.items() if name not in present}
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
    except RPCError as exc:
        log.warning("runs start without search attributes (cannot register them): %s", exc)
        return False
    _ready.add(key)
    return True


def for_run(request: RunRequest) -> TypedSearchAttributes:
    """The search attributes of a run started with ``request``."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(TENANT, request.tenant),
        SearchAttributePair(WORKFLOW_NAME, request.definition.name),
        SearchAttributePair(WORKFLOW_VERSION, request.version),
    ]
    if request.seed is not None:
        pairs.append(SearchAttributePair(RETRY_OF, request.seed.origin))
    return TypedSearchAttributes(pairs)
