"""Bad requests get a 4xx with the right message, never a 500: sizes, types, JSON, ids."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from api.app import create_app
from api.settings import ApiSettings
from registry.store import DefinitionStore
from tests.api.support import (
    APPROVAL,
    GREET,
    Api,
    api,
    serving_api,
    start_run,
    wait_status,
    wait_waiting,
)
from tests.support.postgres import postgres_url

__all__ = ["api", "postgres_url"]

MiB = 1024 * 1024


async def test_a_huge_body_is_413_before_it_is_read(api: Api) -> None:
    huge = b'{"workflow": "greet", "input": {"x": "' + b"a" * (2 * MiB) + b'"}}'

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    async with api.http() as http:
        declared = await http.post(
            "/v1/runs", content=huge, headers={"Content-Type": "application/json"}
        )
        streamed = await http.post(
            "/v1/runs", content=chunks(), headers={"Content-Type": "application/json"}
        )
        definition = await http.post(
            "/v1/workflows", content=b"x" * (2 * MiB), headers={"Content-Type": "application/yaml"}
        )
    expected = {"detail": "the request body is larger than 1 MiB"}
    assert (declared.status_code, declared.json()) == (413, expected)
    assert (streamed.status_code, streamed.json()) == (413, expected)
    assert definition.status_code == 413


async def test_a_huge_input_is_413(api: Api) -> None:
    api.publish(GREET)
    big = {"name": "Ada", "notes": "n" * (300 * 1024)}
    size = len(json.dumps(big, separators=(",", ":")))
    async with api.http() as http:
        response = await http.post("/v1/runs", json={"workflow": "greet", "input": big})
    assert (response.status_code, response.json()) == (
        413,
        {"detail": f"the run input is larger than 256 KiB ({size} bytes)"},
    )


async def test_input_a_run_cannot_carry_is_422(api: Api) -> None:
    api.publish(GREET)
    api.publish(APPROVAL)
    deep: Any = "bottom"
    for _ in range(150):
        deep = [deep]
    json_type = {"Content-Type": "application/json"}
    async with api.http() as http:
        too_deep = await http.post(
            "/v1/runs", json={"workflow": "greet", "input": {"name": "A", "x": deep}}
        )
        nan = await http.post(
            "/v1/runs",
            content=b'{"workflow": "greet", "input": {"name": "A", "x": NaN}}',
            headers=json_type,
        )
        surrogate = await http.post(
            "/v1/runs",
            content=b'{"workflow": "greet", "input": {"name": "\\ud800"}}',
            headers=json_type,
        )
        run_id = (await start_run(http, "approval"))["id"]
        await wait_waiting(http, run_id, "review")
        answer = await http.post(
            f"/v1/runs/{run_id}/steps/review/respond", json={"data": {"approved": deep}}
        )
    assert (too_deep.status_code, too_deep.json()) == (
        422,
        {"detail": "input: the run input nests deeper than 100 levels"},
    )
    assert (nan.status_code, nan.json()) == (
        422,
        {"detail": "input: the run input holds NaN or Infinity, which JSON does not have"},
    )
    assert (surrogate.status_code, surrogate.json()) == (
        422,
        {"detail": "input: the run input holds text that is not valid Unicode (a lone surrogate)"},
    )
    assert (answer.status_code, answer.json()) == (
        422,
        {"detail": "data: the answer nests deeper than 100 levels"},
    )


async def test_wrong_types_and_malformed_json_are_422(api: Api) -> None:
    async with api.http() as http:
        wrong = await http.post("/v1/runs", json={"workflow": 5, "input": {}})
        version = await http.post("/v1/runs", json={"workflow": "greet", "version": "latest"})
        extra = await http.post("/v1/runs", json={"workflow": "greet", "inputs": {}})
        malformed = await http.post(
            "/v1/runs",
            content=b'{"workflow": "greet",',
            headers={"Content-Type": "application/json"},
        )
        not_object = await http.post("/v1/runs", json=["greet"])
        bad_name = await http.post("/v1/runs", json={"workflow": "Bad Name"})
        bad_key = await http.post(
            "/v1/runs", json={"workflow": "greet"}, headers={"Idempotency-Key": "a/b"}
        )
        bad_run_id = await http.post("/v1/runs", json={"workflow": "greet", "run_id": "../x"})
        no_data = await http.post("/v1/runs/x/steps/review/respond", json={})
        bad_status = await http.get("/v1/runs", params={"status": "sleeping"})
        bad_token = await http.get("/v1/runs", params={"page_token": "%%%"})
        # base64 of bytes that are not a visibility token: refused before Temporal sees them
        # (its "invalid character" error is retried by the client for seconds)
        not_token = await http.get("/v1/runs", params={"page_token": "np6enp6e"})
        bad_size = await http.get("/v1/runs", params={"page_size": 0})
    for response in (wrong, version, extra, malformed, not_object, bad_name, bad_key, bad_run_id):
        assert response.status_code == 422, response.text
    assert wrong.json()["detail"][0]["loc"] == ["body", "workflow"]
    assert wrong.json()["detail"][0]["msg"] == "Input should be a valid string"
    assert version.json()["detail"][0]["loc"] == ["body", "version"]
    assert extra.json()["detail"][0]["loc"] == ["body", "inputs"]
    assert extra.json()["detail"][0]["type"] == "extra_forbidden"
    assert malformed.json()["detail"][0]["type"] == "json_invalid"
    assert bad_key.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert bad_run_id.json()["detail"][0]["loc"] == ["body", "run_id"]
    assert no_data.status_code == 422
    assert no_data.json()["detail"][0]["loc"] == ["body", "data"]
    assert bad_status.status_code == 422
    assert (bad_token.status_code, bad_token.json()) == (422, {"detail": "page_token is not valid"})
    assert (not_token.status_code, not_token.json()) == (422, {"detail": "page_token is not valid"})
    assert bad_size.status_code == 422


async def test_unknown_routes_and_methods_answer_json(api: Api) -> None:
    async with api.http() as http:
        route = await http.get("/v1/nothing")
        method = await http.delete("/v1/runs")
        weird_id = await http.get("/v1/runs/" + "x" * 2000)
    assert (route.status_code, route.json()) == (404, {"detail": "Not Found"})
    assert (method.status_code, method.json()) == (405, {"detail": "Method Not Allowed"})
    assert (weird_id.status_code, weird_id.json()) == (404, {"detail": f"no run '{'x' * 2000}'"})


async def test_start_and_read_a_run_over_postgresql(
    client: Client, task_queue: str, worker: Worker, postgres_url: str, tmp_path: Path
) -> None:
    async with serving_api(client, task_queue, postgres_url) as served_api:
        served_api.publish(GREET)
        async with served_api.http() as http:
            response = await http.post(
                "/v1/runs", json={"workflow": "greet", "input": {"name": "Pg"}}
            )
            assert response.status_code == 201, response.text
            done = await wait_status(http, response.json()["id"], "succeeded")
            listed = await http.get("/v1/workflows")
    assert done["result"] == "echo: Hello, Pg"
    assert [w["name"] for w in listed.json()["workflows"]] == ["greet"]


async def test_an_unexpected_error_is_a_json_500_without_its_traceback(
    client: Client, tmp_path: Path
) -> None:
    with DefinitionStore(f"sqlite:///{tmp_path / 'r.db'}") as store:
        app = create_app(client=client, store=store, settings=ApiSettings())

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("a secret detail")

        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, client=("127.0.0.1", 1234)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            response = await http.get("/boom")
    assert (response.status_code, response.json()) == (500, {"detail": "internal server error"})


EVIL_INPUT = """\
kworkflow: 1
name: evil-input
input:
  type: object
  properties: {s: {type: string, pattern: "^(a|a)+$"}}
steps:
  - {id: echo, kind: aggregate, expr: input.s}
"""


async def test_an_input_against_an_evil_pattern_is_422_at_once_and_blocks_nobody(
    api: Api,
) -> None:
    """`^(a|a)+$` against 28 characters blocked the whole API for 9.7 s; 33 took minutes."""
    api.publish(EVIL_INPUT)
    long = "a" * 32 + "!"
    began = time.monotonic()
    async with api.http() as http:
        refused, health = await asyncio.gather(
            http.post("/v1/runs", json={"workflow": "evil-input", "input": {"s": long}}),
            http.get("/healthz"),
        )
    assert time.monotonic() - began < 5.0
    assert (refused.status_code, refused.json()) == (
        422,
        {"detail": f"input.s: {long!r} does not match '^(a|a)+$'"},
    )
    assert health.status_code == 200


async def test_an_input_integer_beyond_64_bits_is_422_naming_the_path(api: Api) -> None:
    api.publish(GREET)
    async with api.http() as http:
        response = await http.post(
            "/v1/runs", json={"workflow": "greet", "input": {"name": "A", "ids": [1, 2**64]}}
        )
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "input.ids[1]: 18446744073709551616 is outside the 64-bit integer range"},
    )
