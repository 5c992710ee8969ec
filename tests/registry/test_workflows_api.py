"""The /v1/workflows routes over a minimal app, on SQLite and PostgreSQL: the HTTP contract."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from api.workflows import error_response, request_validation_handler, router
from registry.errors import PublishConflict, StoreUnavailable
from registry.source import MAX_DEFINITION_BYTES
from registry.store import DefinitionStore

YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}

HELLO = """\
kworkflow: 1
name: hello
description: Says hello
steps:
  - {id: greet, kind: aggregate, expr: '"Hello"'}
"""

BAD = """\
kworkflow: 1
name: bad
steps:
  - id: a
    kind: aggregate
    expr: steps.nope.output
  - {id: b, kind: aggregate, expr: '1 +'}
edges:
  - {from: a, to: ghost}
"""


def make_app(store: DefinitionStore) -> FastAPI:
    """The router, the store and a tenant taken from the ``X-Test-Tenant`` header."""
    app = FastAPI()
    app.include_router(router)
    app.state.store = store
    app.add_exception_handler(RequestValidationError, request_validation_handler)

    @app.middleware("http")
    async def tenant_from_header(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if "x-test-tenant" in request.headers:
            request.state.tenant = request.headers["x-test-tenant"]
        return await call_next(request)

    return app


@pytest.fixture
def http(store: DefinitionStore) -> Iterator[TestClient]:
    """A client of the minimal app (server exceptions are raised: a 500 fails the test)."""
    with TestClient(make_app(store)) as client:
        yield client


def publish(http: TestClient, text: str, tenant: str = "acme", **headers: str) -> Any:
    return http.post(
        "/v1/workflows",
        content=text,
        headers={"X-Test-Tenant": tenant, **(headers or YAML)},
    )


def test_publish_then_read_every_way(http: TestClient) -> None:
    first = publish(http, HELLO)
    second = publish(http, HELLO.replace("Says hello", "Says hello again"))

    assert first.status_code == 201
    body = first.json()
    assert set(body) == {
        "name",
        "version",
        "created_at",
        "definition",
        "schedules",
        "schedules_deleted",
        "warnings",
    }
    assert (body["name"], body["version"], body["schedules"]) == ("hello", 1, [])
    assert body["definition"] == {
        "kworkflow": 1,
        "name": "hello",
        "description": "Says hello",
        "steps": [{"id": "greet", "kind": "aggregate", "expr": '"Hello"'}],
    }
    assert first.headers["location"] == "/v1/workflows/hello/versions/1"
    assert second.json()["version"] == 2

    tenant = {"X-Test-Tenant": "acme"}
    latest = http.get("/v1/workflows/hello", headers=tenant).json()
    assert set(latest) == {"name", "version", "created_at", "source", "format", "definition"}
    assert (latest["version"], latest["format"]) == (2, "yaml")
    assert latest["definition"]["description"] == "Says hello again"
    old = http.get("/v1/workflows/hello/versions/1", headers=tenant).json()
    assert (old["source"], old["created_at"]) == (HELLO, body["created_at"])
    versions = http.get("/v1/workflows/hello/versions", headers=tenant).json()
    assert versions == {
        "name": "hello",
        "versions": [
            {"version": 1, "created_at": body["created_at"]},
            {"version": 2, "created_at": second.json()["created_at"]},
        ],
    }
    listed = http.get("/v1/workflows", headers=tenant).json()
    assert listed == {
        "workflows": [
            {
                "name": "hello",
                "latest_version": 2,
                "description": "Says hello again",
                "updated_at": second.json()["created_at"],
            }
        ]
    }


def test_a_json_body_publishes_the_same_definition(http: TestClient) -> None:
    data = {
        "kworkflow": 1,
        "name": "hello",
        "description": "Says hello",
        "steps": [{"id": "greet", "kind": "aggregate", "expr": '"Hello"'}],
    }
    created = publish(http, json.dumps(data), **JSON)
    assert created.status_code == 201
    assert created.json()["definition"] == data
    got = http.get("/v1/workflows/hello", headers={"X-Test-Tenant": "acme"}).json()
    assert (got["format"], got["source"]) == ("json", json.dumps(data))

    data["steps"] = 5
    rejected = publish(http, json.dumps(data), **JSON)
    assert rejected.status_code == 422
    assert rejected.json()["problems"] == [
        {
            "path": "steps",
            "line": None,
            "column": None,
            "message": "`steps` must be a list, not a number",
            "step": None,
            "code": "schema",
            "severity": "error",
        }
    ]


def test_lint_findings_are_a_422_with_every_finding_located(http: TestClient) -> None:
    response = publish(http, BAD)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "the definition has 3 problems"
    assert body["problems"] == [
        {
            "path": "edges[0].to",
            "line": 9,
            "column": 19,
            "message": "`ghost` is not a step id",
            "step": None,
            "code": "unknown_step",
            "severity": "error",
        },
        {
            "path": "steps[0].expr",
            "line": 6,
            "column": 11,
            "message": "`steps.nope` names no step",
            "step": "a",
            "code": "unknown_reference",
            "severity": "error",
        },
        {
            "path": "steps[1].expr",
            "line": 7,
            "column": 36,
            "message": body["problems"][2]["message"],
            "step": "b",
            "code": "cel",
            "severity": "error",
        },
    ]
    assert body["problems"][2]["message"].startswith("the expression does not compile")
    assert http.get("/v1/workflows", headers={"X-Test-Tenant": "acme"}).json()["workflows"] == []


@pytest.mark.parametrize(
    ("text", "headers", "code", "line"),
    [
        ("kworkflow: 1\nname: [oops\n", YAML, "yaml", 3),
        ("kworkflow: 1\n\tname: x\n", YAML, "yaml", 2),
        ("", YAML, "empty", 1),
        ("", JSON, "empty", 1),
        ("- a\n- b\n", YAML, "not_mapping", 1),
        ("null", JSON, "empty", 1),
        ('{"kworkflow": 1,', JSON, "json", 1),
        ("kworkflow: 1\nname: x\nsteps: 5\n", {"Content-Type": "text/plain"}, "schema", 3),
    ],
)
def test_malformed_bodies_are_a_422_not_a_500(
    http: TestClient, text: str, headers: dict[str, str], code: str, line: int | None
) -> None:
    response = publish(http, text, **headers)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert (problem["code"], problem["line"]) == (code, line)


def test_a_body_that_is_not_utf8_is_a_problem(http: TestClient) -> None:
    response = http.post("/v1/workflows", content=b"name: caf\xe9\n", headers=YAML)
    assert response.status_code == 422
    (problem,) = response.json()["problems"]
    assert (problem["code"], problem["message"]) == (
        "encoding",
        "the definition is not UTF-8 text (byte 9)",
    )
    checked = http.post("/v1/workflows/validate", content=b"\xff", headers=YAML).json()
    assert (checked["ok"], checked["problems"][0]["code"]) == (False, "encoding")


@pytest.mark.parametrize(
    ("content_type", "detail"),
    [
        ("application/x-www-form-urlencoded", "not 'application/x-www-form-urlencoded'"),
        ("application/xml", "not 'application/xml'"),
        ("", "and the request has no Content-Type"),
        ("application/yaml; charset=latin-1", "definitions are UTF-8 text, not 'latin-1'"),
    ],
)
def test_other_content_types_are_a_415(http: TestClient, content_type: str, detail: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    for path in ("/v1/workflows", "/v1/workflows/validate"):
        response = http.post(path, content=HELLO.encode(), headers=headers)
        assert response.status_code == 415
        (message,) = response.json().values()
        assert message.endswith(detail)
    assert http.get("/v1/workflows").json() == {"workflows": []}


@pytest.mark.parametrize(
    "content_type", ["application/x-yaml", "text/yaml", "text/plain; charset=UTF-8"]
)
def test_every_yaml_content_type_is_accepted(http: TestClient, content_type: str) -> None:
    assert publish(http, HELLO, **{"Content-Type": content_type}).status_code == 201


def test_a_definition_over_256_kib_is_a_413(http: TestClient) -> None:
    huge = HELLO + "# " + "x" * MAX_DEFINITION_BYTES + "\n"
    for path in ("/v1/workflows", "/v1/workflows/validate"):
        response = http.post(path, content=huge, headers=YAML)
        assert response.status_code == 413
        body = response.json()
        assert body["detail"] == "the definition is larger than 256 KiB"
        assert [p["code"] for p in body["problems"]] == ["too_large"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        yield HELLO.encode()
        for _ in range(300):
            yield b"#" * 1023 + b"\n"

    response = http.post("/v1/workflows", content=chunks(), headers=YAML)
    assert response.status_code == 413


def test_validate_lints_without_publishing(http: TestClient) -> None:
    clean = http.post("/v1/workflows/validate", content=HELLO, headers=YAML)
    assert clean.status_code == 200
    assert clean.json() == {"ok": True, "problems": []}
    dirty = http.post("/v1/workflows/validate", content=BAD, headers=YAML).json()
    assert dirty["ok"] is False
    assert [p["path"] for p in dirty["problems"]] == [
        "edges[0].to",  # the root cause first
        "steps[0].expr",
        "steps[1].expr",
    ]
    assert http.get("/v1/workflows").json() == {"workflows": []}


def test_a_tenant_cannot_see_another_tenants_workflows(http: TestClient) -> None:
    assert publish(http, HELLO, tenant="a").status_code == 201
    b = {"X-Test-Tenant": "b"}
    for path in (
        "/v1/workflows/hello",
        "/v1/workflows/hello/versions",
        "/v1/workflows/hello/versions/1",
    ):
        response = http.get(path, headers=b)
        assert response.status_code == 404
        assert response.json() == {"detail": "no workflow 'hello'"}
        assert http.get(path).status_code == 404  # the default tenant is a tenant too
        assert http.get(path, headers={"X-Test-Tenant": "a"}).status_code == 200
    assert http.get("/v1/workflows", headers=b).json() == {"workflows": []}
    assert publish(http, HELLO, tenant="b").json()["version"] == 1


def test_unknown_workflows_and_versions_are_a_404(http: TestClient) -> None:
    publish(http, HELLO)
    tenant = {"X-Test-Tenant": "acme"}
    missing = http.get("/v1/workflows/nope", headers=tenant)
    assert (missing.status_code, missing.json()) == (404, {"detail": "no workflow 'nope'"})
    version = http.get("/v1/workflows/hello/versions/9", headers=tenant)
    assert (version.status_code, version.json()) == (
        404,
        {"detail": "no version 9 of workflow 'hello'"},
    )


def test_a_version_beyond_any_database_integer_is_a_422(http: TestClient) -> None:
    for version in ("0", str(2**31), str(2**70)):
        response = http.get(f"/v1/workflows/hello/versions/{version}")
        assert response.status_code == 422, version
        assert response.json()["problems"][0]["path"] == "path.version"


def test_fastapi_validation_errors_look_like_definition_problems(http: TestClient) -> None:
    response = http.get("/v1/workflows/hello/versions/latest")
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "the request has 1 problem"
    (problem,) = body["problems"]
    assert (problem["path"], problem["code"], problem["line"]) == (
        "path.version",
        "int_parsing",
        None,
    )


def test_store_failures_map_to_409_and_503() -> None:
    conflict = error_response(PublishConflict("hello", 8))
    assert conflict.status_code == 409
    unavailable = error_response(StoreUnavailable("connection refused"))
    assert unavailable.status_code == 503
    assert json.loads(bytes(unavailable.body)) == {
        "detail": "the definitions database is unavailable: connection refused"
    }


def test_the_openapi_document_describes_the_bodies(http: TestClient) -> None:
    spec = http.get("/openapi.json").json()
    publish_op = spec["paths"]["/v1/workflows"]["post"]
    assert set(publish_op["requestBody"]["content"]) == {"application/yaml", "application/json"}
    assert set(publish_op["responses"]) >= {"201", "413", "415", "422"}


def test_a_pattern_re2_cannot_compile_is_a_located_422(http: TestClient) -> None:
    text = HELLO.replace(
        "kworkflow: 1\n", "kworkflow: 1\ninput: {properties: {p: {pattern: '(?=a)'}}}\n"
    )
    assert text != HELLO
    response = publish(http, text)
    assert response.status_code == 422, response.text
    [problem] = response.json()["problems"]
    assert (problem["path"], problem["line"], problem["column"], problem["code"]) == (
        "input.properties.p.pattern",
        2,
        35,
        "json_schema",
    )
    assert problem["message"] == (
        "not a valid JSON Schema: '(?=a)' in `pattern` is not a regular expression RE2 "
        "accepts: invalid perl operator: (?="
    )
