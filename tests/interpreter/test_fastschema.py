"""Schemas compiled once per content, and the native fast path that agrees with jsonschema."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from interpreter import schemas
from interpreter.answers import form_problem
from interpreter.schemas import cache_stats, compile_schema

FORM = {
    "type": "object",
    "required": ["approved"],
    "additionalProperties": False,
    "properties": {
        "approved": {"type": "boolean"},
        "note": {"type": "string", "maxLength": 5, "pattern": "^[a-z]*$"},
        "level": {"enum": [1, 2, 3]},
    },
}


def jsonschema_messages(schema: Any, instance: Any) -> list[str]:
    """What jsonschema alone says (the validator :class:`schemas.Compiled` falls back to)."""
    validator = schemas._Validator(schema, registry=schemas._NO_RETRIEVAL)
    return sorted(e.message for e in validator.iter_errors(instance))


def test_a_form_is_compiled_once_for_every_answer() -> None:
    form = {**FORM, "description": "compiled once (test_fastschema)"}
    before = cache_stats()
    answers = [{"approved": True}, {"approved": False, "note": "ok"}, {"approved": "yes"}]
    problems = [form_problem("review", json.loads(json.dumps(form)), a) for a in answers * 3]
    after = cache_stats()
    assert (after.builds - before.builds, after.hits - before.hits) == (1, 8)
    assert problems[:3] == [
        None,
        None,
        ("invalid_data", "data.approved: 'yes' is not of type 'boolean'"),
    ]
    assert problems[3:] == problems[:3] * 2


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        (FORM, {"approved": True, "note": "abc", "level": 2}),
        (FORM, {"approved": True, "note": "ABC"}),  # pattern, on RE2
        (FORM, {"approved": True, "note": "abcdefg"}),
        (FORM, {"approved": 1}),  # 1 is not a boolean
        (FORM, {"approved": True, "level": True}),  # True is not 1
        (FORM, {"approved": True, "level": 2.0}),  # 2.0 is 2
        (FORM, {"approved": True, "extra": 1}),
        ({"type": "array", "uniqueItems": True}, [1, 1.0]),
        ({"type": "array", "uniqueItems": True}, [1, True]),
        ({"type": "number"}, float("nan")),
        ({"type": "string", "maxLength": 3}, "a\ud800"),  # a lone surrogate
        ({"pattern": "^\\d$"}, "\u0664"),  # RE2's \d is ASCII
        ({"type": "object"}, {1: 2}),  # a key that is not a string
        ({"maximum": 10}, 2**70),
        ({"multipleOf": 3}, 10**30),
        ({"format": "date"}, "not a date"),  # an annotation, as in jsonschema here
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1}),
        ({"propertyNames": {"pattern": "^x"}}, {"y": 1}),
        ({"contains": {"type": "integer"}, "minContains": 2}, [1, "x"]),
    ],
)
def test_the_fast_path_answers_as_jsonschema(schema: Any, instance: Any) -> None:
    compiled = compile_schema(schema)
    assert compiled.has_fast_path
    got = sorted(e.message for e in compiled.errors(instance))
    assert got == jsonschema_messages(schema, instance)


@pytest.mark.parametrize(
    "schema",
    [
        {"patternProperties": {"^a": {"type": "string"}}},
        {"type": "object", "unevaluatedProperties": False},
        {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},  # loops without end
        {"multipleOf": 0.1},
        {"$schema": "http://json-schema.org/draft-07/schema#"},
        {"maximum": 2**64},
        {"properties": {"patternProperties": {"type": "string"}}},  # conservative: by name
    ],
)
def test_schemas_whose_meaning_could_differ_stay_on_jsonschema(schema: dict[str, Any]) -> None:
    assert not compile_schema(copy.deepcopy(schema)).has_fast_path


def test_a_loop_of_references_is_still_reported() -> None:
    schema = {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    with pytest.raises(schemas.SchemaInvalid, match="refers to itself without end"):
        compile_schema(schema).errors({})
