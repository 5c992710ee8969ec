"""The template catalog: every template is complete (workflow, README, worker config), lints
cleanly, has a worker config the worker accepts, and has an end-to-end test; `kworkflow init`
writes one and refuses what it must; `GET /v1/templates` serves them."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import httpx
import pytest

from activities.config import load_config
from cli.main import run
from examples import templates
from tests.api.support import Api, api

NAMES = templates.names()
HERE = Path(__file__).parent
__all__ = ["api"]  # the fixture used by name
SCHEMA_LINE = "# yaml-language-server: $schema=../../../docs/kworkflow.schema.json"


def test_the_catalog_holds_the_reference_workflows() -> None:
    assert NAMES == [
        "advisor",
        "bug-fix",
        "chained",
        "code-review-loop",
        "coding-sprint",
        "coding-waterfall",
        "fan-out-aggregate",
        "research-summarize",
        "review-loop",
        "sdr-pipeline",
        "single-dispatch",
        "supervisor-worker",
        "swarm-spike",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_a_template_is_complete_and_lints_cleanly(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = templates.get(name)
    assert template.workflow.splitlines()[0] == SCHEMA_LINE
    assert template.description and len(template.description) <= 160
    assert template.files["README.md"].startswith(f"# {name}\n")
    path = tmp_path / "workflow.yaml"
    path.write_text(template.workflow)
    assert run(["lint", str(path)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().err == f"{path}: ok\n"  # no finding, no warning
    config = tmp_path / "worker.yaml"
    config.write_text(template.files["worker.yaml"])
    loaded = load_config(config)
    assert loaded.default_provider in loaded.providers
    assert ("tool_modules: [tools]" in template.files["worker.yaml"]) == (
        "tools.py" in template.files
    )


def test_every_template_runs_in_a_test() -> None:
    """A template nobody runs end to end can break unseen: each is started by some test."""
    started: set[str] = set()
    for test_file in HERE.glob("test_templates_*.py"):
        for node in ast.walk(ast.parse(test_file.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "start"
                and len(node.args) >= 3
                and isinstance(node.args[2], ast.Constant)
            ):
                started.add(node.args[2].value)
    assert started == set(NAMES)


def test_init_writes_a_template_into_a_new_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "sprint"
    assert run(["init", "--template", "coding-sprint", str(target)]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in target.iterdir()) == [
        "README.md",
        "tools.py",
        "worker.yaml",
        "workflow.yaml",
    ]
    assert (target / "workflow.yaml").read_text() == templates.get("coding-sprint").workflow
    assert f"{target / 'workflow.yaml'}\n" in out
    assert run(["lint", str(target / "workflow.yaml")]) == 0


def test_init_defaults_to_single_dispatch_in_a_directory_of_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["init"]) == 0
    assert sorted(p.name for p in (tmp_path / "single-dispatch").iterdir()) == [
        "README.md",
        "worker.yaml",
        "workflow.yaml",
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["init", "-t", "chained", str(empty)]) == 0  # an empty directory is fine


def test_init_refuses_a_non_empty_directory_and_touches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert run(["init", "--template", "advisor", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"kworkflow: {tmp_path} is not empty: init writes only into a new or empty directory\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    file = tmp_path / "notes.txt"
    assert run(["init", str(file)]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_init_names_the_templates_when_one_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["init", "--template", "../etc", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kworkflow: no template named '../etc'; the templates are: advisor, ")
    assert not (tmp_path / "x").exists()


def test_init_list_gives_one_line_per_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["init", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    sdr = next(line for line in lines if line.startswith("sdr-pipeline"))
    assert sdr.split(None, 1)[1] == templates.get("sdr-pipeline").description


async def test_the_api_lists_and_serves_templates(api: Api) -> None:
    async with api.http() as http:
        listed = await http.get("/v1/templates")
        one = await http.get("/v1/templates/review-loop")
        missing = await http.get("/v1/templates/nope")
    async with httpx.AsyncClient(base_url=api.url) as anonymous:
        refused = await anonymous.get("/v1/templates")
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()["templates"]] == NAMES
    assert listed.json()["templates"][0] == {
        "name": "advisor",
        "description": templates.get("advisor").description,
    }
    body = one.json()
    assert body["workflow"] == templates.get("review-loop").workflow
    assert sorted(body["files"]) == ["README.md", "worker.yaml", "workflow.yaml"]
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("no template named 'nope'; the templates are: ")
    assert refused.status_code == 401, json.dumps(refused.json())
