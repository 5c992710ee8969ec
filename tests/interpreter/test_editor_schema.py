"""The editor schema: printed by ``kworkflow schema``, checked in, and true to the loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from interpreter.editor_schema import definition_schema, schema_errors
from interpreter.loader import load_text
from tests.cli import EXAMPLES, ROOT, kworkflow

CHECKED_IN = ROOT / "docs" / "kworkflow.schema.json"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("templates/*/workflow.yaml"))


def test_the_checked_in_schema_is_what_kworkflow_schema_prints() -> None:
    result = kworkflow("schema")
    assert result.code == 0, result.stderr
    assert result.stdout == CHECKED_IN.read_text(), (
        "docs/kworkflow.schema.json is stale: run `kworkflow schema > docs/kworkflow.schema.json`"
    )


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = definition_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    step = schema["properties"]["steps"]["items"]
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in step["oneOf"]}
    assert len(kinds) == 10 and "LLMStep" in kinds and "HumanStep" in kinds
    assert step["discriminator"]["propertyName"] == "kind"
    llm = schema["$defs"]["LLMStep"]
    assert llm["additionalProperties"] is False
    assert llm["properties"]["kind"]["const"] == "llm"
    assert llm["properties"]["join"] == {"default": "all", "enum": ["all", "any"], "type": "string"}
    assert "duration" in llm["properties"]["timeout"]["description"]
    assert "CEL" in schema["$defs"]["RepeatSpec"]["properties"]["until"]["description"]
    assert "${ expr }" in llm["properties"]["prompt"]["description"]
    assert "before the step starts" in llm["properties"]["breakpoint"]["description"]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_is_valid_and_names_the_schema(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema="), "the editor line is missing"
    target = text.splitlines()[0].split("$schema=", 1)[1].strip()
    assert (path.parent / target).resolve() == CHECKED_IN
    load_text(text, str(path))  # the loader agrees it is a definition
    assert schema_errors(yaml.safe_load(text)) == []


BASE = {"kworkflow": 1, "name": "w", "steps": [{"id": "a", "kind": "aggregate", "expr": "1"}]}


def _with_step(step: dict[str, object]) -> dict[str, object]:
    return {**BASE, "steps": [BASE["steps"][0], step]}  # type: ignore[index]


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        (
            _with_step({"id": "b", "kind": "llm", "prompt": "x", "temprature": 1}),
            "steps/1",
            "'temprature' was unexpected",
        ),
        (
            _with_step({"id": "b", "kind": "tool", "tool": "t", "retry": {"max_attempts": -1}}),
            "steps/1/retry/max_attempts",
            "less than the minimum of 0",
        ),
        (
            _with_step({"id": "b", "kind": "human", "on_timeout": "ignore"}),
            "steps/1/on_timeout",
            "'ignore' is not one of ['fail', 'continue']",
        ),
        (
            _with_step({"id": "b", "kind": "code", "source": "x", "timeout": "5 minutes"}),
            "steps/1/timeout",
            "does not match",
        ),
        (_with_step({"id": "B-2", "kind": "aggregate"}), "steps/1/id", "does not match"),
        (_with_step({"id": "b", "kind": "tool"}), "steps/1", "'tool' is a required property"),
        ({**BASE, "kworkflow": 2}, "kworkflow", "1 was expected"),
        ({**BASE, "edges": [{"from": "a", "to": "b", "on": "done"}]}, "edges/0/on", "'done'"),
        ({**BASE, "stepz": []}, "", "'stepz' was unexpected"),
    ],
)
def test_wrong_definitions_are_rejected_where_they_are_wrong(
    data: dict[str, object], path: str, words: str
) -> None:
    errors = schema_errors(data)
    assert any(p == path and words in m for p, m in errors), json.dumps(errors, indent=1)
