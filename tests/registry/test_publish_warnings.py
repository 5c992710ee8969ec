"""A publish with lint warnings only goes through and answers them; an error still refuses."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from registry.store import DefinitionStore
from tests.registry.test_workflows_api import YAML, make_app

WARNED = """\
kworkflow: 1
name: warned
steps:
  - {id: fetch, kind: tool, tool: http_get, on_error: continue}
  - {id: use, kind: aggregate, expr: "steps.fetch.output.body"}
edges:
  - {from: fetch, to: use}
"""


def test_warnings_are_returned_with_the_published_version(tmp_path: Path) -> None:
    with (
        DefinitionStore(f"sqlite:///{tmp_path / 'registry.db'}") as store,
        TestClient(make_app(store)) as http,
    ):
        tenant = {"X-Test-Tenant": "acme", **YAML}
        published = http.post("/v1/workflows", content=WARNED, headers=tenant)
        checked = http.post("/v1/workflows/validate", content=WARNED, headers=tenant)
        typo = WARNED.replace('expr: "steps.fetch.output.body"', 'expr: "join([1], 2)"')
        rejected = http.post("/v1/workflows", content=typo, headers=tenant)
    assert published.status_code == 201, published.text
    [warning] = published.json()["warnings"]
    assert (warning["code"], warning["severity"], warning["path"], warning["line"]) == (
        "maybe_null",
        "warning",
        "steps[1].expr",
        5,
    )
    assert checked.json()["ok"] is True
    assert [p["code"] for p in checked.json()["problems"]] == ["maybe_null"]
    assert rejected.status_code == 422
    assert [(p["code"], p["severity"]) for p in rejected.json()["problems"]] == [
        ("unknown_function", "error")
    ]
