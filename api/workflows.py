"""The ``/v1/workflows`` routes: publish, validate, list and read definition versions.

Bodies of ``POST /v1/workflows`` and ``POST /v1/workflows/validate`` are the definition itself:
YAML (``application/yaml``, ``application/x-yaml``, ``text/yaml``, ``text/plain``) or a JSON
document (``application/json``), UTF-8, at most 256 KiB. Errors answer ``{"detail": "..."}``;
a definition's problems (and FastAPI's own request validation, through
:func:`request_validation_handler`) answer ``{"detail": "...", "problems": [...]}``. Every route
sees only the caller's tenant: another tenant's workflow is a 404 like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from api import events_out, schedules
from api.deps import get_store, get_tenant
from api.schemas_schedules import PublishedWithSchedulesOut
from api.schemas_workflows import (
    ErrorOut,
    ProblemOut,
    ProblemsOut,
    SummaryOut,
    ValidationOut,
    VersionListOut,
    VersionOut,
    WorkflowListOut,
    WorkflowOut,
)
from api.workers import capabilities_check
from interpreter.errors import Problem
from interpreter.lint import Check
from interpreter.yamldoc import format_path
from registry.errors import (
    DefinitionRejected,
    DefinitionTooLarge,
    NotFound,
    PublishConflict,
    RegistryError,
    StoreUnavailable,
)
from registry.source import MAX_DEFINITION_BYTES, Format, decode, too_large
from registry.store import DefinitionStore

YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/plain"})
JSON_TYPES = frozenset({"application/json"})
_BOM = len("\ufeff".encode())  # a UTF-8 byte order mark is dropped, so it may come on top

Store = Annotated[DefinitionStore, Depends(get_store)]
Tenant = Annotated[str, Depends(get_tenant)]

_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/yaml": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "object"}},
    },
}
_SENT: dict[int | str, dict[str, Any]] = {
    413: {"model": ProblemsOut, "description": "The definition is over 256 KiB"},
    415: {"model": ErrorOut, "description": "The body is neither YAML nor JSON"},
    422: {"model": ProblemsOut, "description": "The definition does not load or lint clean"},
}
_READ: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such workflow or version (for this tenant)"},
    422: {"model": ProblemsOut, "description": "The request is not valid"},
}

router = APIRouter(prefix="/v1/workflows", tags=["workflows"])


class _Refused(Exception):
    """A request body refused before it reaches the store."""

    def __init__(self, response: JSONResponse) -> None:
        self.response = response


VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="A published version")]
"""Versions are serial from 1; the bound keeps a huge number a 422, not a database overflow."""


@router.post(
    "",
    status_code=201,
    response_model=PublishedWithSchedulesOut,
    responses={**_SENT, 409: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    openapi_extra={"requestBody": _BODY},
)
async def publish_workflow(
    request: Request, response: Response, store: Store, tenant: Tenant
) -> Any:
    """Publish a definition as the next version of its name (it must load and lint clean);
    its `triggers` become the workflow's schedules (docs/triggers.md)."""
    try:
        text, fmt = await _read_definition(request)
        more = _both(schedules.quota_check(request, tenant), await capabilities_check(request))
        published = await run_in_threadpool(store.publish, tenant, text, fmt, more)
    except _Refused as refused:
        return refused.response
    except RegistryError as exc:
        return error_response(exc)
    response.headers["Location"] = f"{router.prefix}/{published.name}/versions/{published.version}"
    events_out.announce(request, tenant, published)  # kworkflow.workflow.published, if a sink
    answer = await schedules.after_publish(request, tenant, published)
    if isinstance(answer, PublishedWithSchedulesOut):
        answer.warnings = [ProblemOut.of(p) for p in published.warnings]
    return answer


def _both(first: Check, second: Check) -> Check:
    """The findings of two checks."""
    return lambda definition: [*first(definition), *second(definition)]


@router.post(
    "/validate",
    response_model=ValidationOut,
    responses={413: _SENT[413], 415: _SENT[415]},
    openapi_extra={"requestBody": _BODY},
)
async def validate_workflow(request: Request, store: Store, tenant: Tenant) -> Any:
    """Load and lint a definition without publishing it: ``ok`` and every problem found
    (the caller's secret grants included)."""
    try:
        text, fmt = await _read_definition(request)
        problems = await run_in_threadpool(store.validate, text, fmt, tenant)
    except _Refused as refused:
        return refused.response
    except DefinitionTooLarge as exc:
        return error_response(exc)
    except DefinitionRejected as exc:  # a body that is not UTF-8
        problems = exc.problems
    ok = all(p.severity == "warning" for p in problems)
    return ValidationOut(ok=ok, problems=[ProblemOut.of(p) for p in problems])


@router.get("", response_model=WorkflowListOut, responses={503: {"model": ErrorOut}})
def list_workflows(store: Store, tenant: Tenant) -> Any:
    """The caller's workflows by name, each with its latest version."""
    try:
        summaries = store.list_workflows(tenant)
    except RegistryError as exc:
        return error_response(exc)
    return WorkflowListOut(workflows=[SummaryOut.of(s) for s in summaries])


@router.get("/{name}", response_model=WorkflowOut, responses=_READ)
def get_workflow(name: str, store: Store, tenant: Tenant) -> Any:
    """The latest version of a workflow, with the text it was published from."""
    try:
        return WorkflowOut.of(store.get(tenant, name))
    except RegistryError as exc:
        return error_response(exc)


@router.get("/{name}/versions", response_model=VersionListOut, responses=_READ)
def list_versions(name: str, store: Store, tenant: Tenant) -> Any:
    """Every version of a workflow, oldest first."""
    try:
        versions = store.versions(tenant, name)
    except RegistryError as exc:
        return error_response(exc)
    return VersionListOut(name=name, versions=[VersionOut.of(v) for v in versions])


@router.get("/{name}/versions/{version}", response_model=WorkflowOut, responses=_READ)
def get_version(name: str, version: VersionNumber, store: Store, tenant: Tenant) -> Any:
    """One version of a workflow, with the text it was published from."""
    try:
        return WorkflowOut.of(store.get(tenant, name, version))
    except RegistryError as exc:
        return error_response(exc)


def error_response(exc: RegistryError) -> JSONResponse:
    """The response for a registry error: 404, 409, 413, 422 or 503."""
    if isinstance(exc, DefinitionRejected):
        if isinstance(exc, DefinitionTooLarge):
            return problems_response(413, too_large().message, exc.problems)
        count = len(exc.problems)
        detail = f"the definition has {count} problem{'s' * (count != 1)}"
        return problems_response(422, detail, exc.problems)
    status = 500
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, PublishConflict):
        status = 409
    elif isinstance(exc, StoreUnavailable):
        status = 503
    return JSONResponse({"detail": str(exc)}, status_code=status)


def problems_response(status: int, detail: str, problems: list[Problem]) -> JSONResponse:
    """``{"detail": ..., "problems": [...]}`` with ``status``."""
    body = ProblemsOut(detail=detail, problems=[ProblemOut.of(p) for p in problems])
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


async def request_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's request validation errors in the shape of a definition's problems.

    Register it on the app (``app.add_exception_handler(RequestValidationError, ...)``) so
    that a wrong path or query parameter answers like a wrong definition: 422 with
    ``problems`` whose ``path`` is e.g. ``path.version`` and whose ``code`` is pydantic's type.
    """
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    problems = [
        Problem(format_path(tuple(e.get("loc", ()))), str(e.get("msg", "")), code=e["type"])
        for e in errors
    ]
    count = len(problems)
    return problems_response(422, f"the request has {count} problem{'s' * (count != 1)}", problems)


async def _read_definition(request: Request) -> tuple[str, Format]:
    """The body as definition text and its format.

    Raises:
        _Refused: 415 for a content type other than YAML or JSON (or a charset other than
            UTF-8), 413 for a body over the size bound.
        DefinitionRejected: The body is not UTF-8.
    """
    fmt = _format_of(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length", "")
    limit = MAX_DEFINITION_BYTES + _BOM
    if declared.isdigit() and int(declared) > limit:
        raise _Refused(problems_response(413, too_large().message, [too_large(int(declared))]))
    body, size = bytearray(), 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Refused(problems_response(413, too_large().message, [too_large()]))
            body.extend(chunk)
    except ClientDisconnect:
        raise _Refused(JSONResponse({"detail": "the client went away"}, 400)) from None
    return decode(bytes(body)), fmt


def _format_of(content_type: str) -> Format:
    """``yaml`` or ``json`` from a Content-Type header.

    Raises:
        _Refused: 415 for any other media type, or a charset other than UTF-8.
    """
    media, *params = (part.strip() for part in content_type.split(";"))
    media = media.lower()
    for param in params:
        key, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            detail = f"definitions are UTF-8 text, not {charset!r}"
            raise _Refused(JSONResponse({"detail": detail}, status_code=415))
    if media in YAML_TYPES:
        return "yaml"
    if media in JSON_TYPES:
        return "json"
    shown = f"not {media!r}" if media else "and the request has no Content-Type"
    detail = (
        "send the definition as YAML (Content-Type: application/yaml) or as JSON "
        f"(Content-Type: application/json), {shown}"
    )
    raise _Refused(JSONResponse({"detail": detail}, status_code=415))
