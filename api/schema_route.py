"""``GET /v1/schema``: the definition format's JSON Schema for editors (public like the OpenAPI)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.auth import KEYLESS
from interpreter.editor_schema import definition_schema_text

router = APIRouter(tags=["workflows"])


@router.get(
    "/v1/schema",
    openapi_extra=KEYLESS,
    response_class=Response,
    responses={200: {"content": {"application/schema+json": {}}}},
)
async def definition_schema() -> Response:
    """The JSON Schema (draft 2020-12) of kworkflow/v1 definitions, as `kworkflow schema`
    prints it (no key needed: it holds no tenant's data)."""
    return Response(definition_schema_text(), media_type="application/schema+json")
