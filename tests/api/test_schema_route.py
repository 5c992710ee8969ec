"""``GET /v1/schema``: the same JSON as ``kworkflow schema``, served without a key."""

from __future__ import annotations

import httpx

from interpreter.editor_schema import definition_schema_text
from tests.api.support import Api, api

__all__ = ["api"]


async def test_the_schema_is_served_without_a_key_and_equals_the_cli_output(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        response = await anonymous.get("/v1/schema")
        openapi = (await anonymous.get("/openapi.json")).json()
        runs = await anonymous.get("/v1/runs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    assert response.text == definition_schema_text()
    assert openapi["paths"]["/v1/schema"]["get"]["security"] == []
    assert runs.status_code == 401  # only the schema is public
