"""Run inputs: defaults applied (without touching the argument), errors naming the property."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from interpreter.errors import InputError
from interpreter.inputs import prepare_input

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["topic"],
    "additionalProperties": False,
    "properties": {
        "topic": {"type": "string"},
        "depth": {"type": "string", "enum": ["shallow", "deep"], "default": "shallow"},
        "options": {
            "type": "object",
            "default": {"n": 1},
            "properties": {"n": {"type": "integer"}, "lang": {"type": "string", "default": "en"}},
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "weight": {"default": 1}},
            },
        },
    },
}


def error(value: Any, schema: dict[str, Any] | None = None) -> tuple[str, str]:
    with pytest.raises(InputError) as info:
        prepare_input(SCHEMA if schema is None else schema, value)
    return info.value.path, info.value.reason


def test_defaults_are_applied_recursively_to_a_copy() -> None:
    given = {"topic": "owls", "items": [{"name": "a"}, {"name": "b", "weight": 3}]}
    before = copy.deepcopy(given)
    assert prepare_input(SCHEMA, given) == {
        "topic": "owls",
        "depth": "shallow",
        "options": {"n": 1, "lang": "en"},
        "items": [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}],
    }
    assert given == before
    assert SCHEMA["properties"]["options"]["default"] == {"n": 1}


def test_given_values_win_over_defaults() -> None:
    value = {"topic": "owls", "depth": "deep", "options": {"n": 2}}
    assert prepare_input(SCHEMA, value) == {
        "topic": "owls",
        "depth": "deep",
        "options": {"n": 2, "lang": "en"},
    }


def test_a_missing_required_property_is_named() -> None:
    assert error({}) == ("topic", "is required")
    assert error(None) == ("topic", "is required")
    assert error({"topic": "x", "items": [{"name": "a"}, {"name": "b"}, {}]}) == (
        "items[2].name",
        "is required",
    )


def test_wrong_values_name_their_path() -> None:
    assert error({"topic": 5}) == ("topic", "5 is not of type 'string'")
    assert error({"topic": "x", "depth": "medium"}) == (
        "depth",
        "'medium' is not one of ['shallow', 'deep']",
    )
    assert error({"topic": "x", "items": [{"name": "a"}, {"name": 3}]}) == (
        "items[1].name",
        "3 is not of type 'string'",
    )
    assert error({"topic": "x", "extra": 1}) == ("extra", "is not allowed")
    assert error([1]) == ("", "[1] is not of type 'object'")


def test_odd_property_names_are_quoted_in_the_path() -> None:
    schema = {"type": "object", "properties": {"a b": {"type": "integer"}}}
    assert error({"a b": "x"}, schema) == ('["a b"]', "'x' is not of type 'integer'")
    with pytest.raises(InputError) as info:
        prepare_input(schema, {"a b": "x"})
    assert str(info.value) == "input.[\"a b\"]: 'x' is not of type 'integer'"


def test_without_a_schema_the_value_passes_as_is() -> None:
    value = {"anything": [1, 2]}
    assert prepare_input(None, value) is value
    assert prepare_input(None, None) == {}
    assert prepare_input(None, "text") == "text"


def test_refs_resolve_locally_and_remote_refs_are_never_fetched() -> None:
    local = {"$defs": {"n": {"type": "integer"}}, "properties": {"k": {"$ref": "#/$defs/n"}}}
    assert prepare_input(local, {"k": 1}) == {"k": 1}
    assert error({"k": "x"}, local) == ("k", "'x' is not of type 'integer'")
    remote = {"properties": {"k": {"$ref": "https://example.invalid/schema.json"}}}
    path, reason = error({"k": 1}, remote)
    assert (path, reason.split(":")[0]) == (
        "",
        "the input schema has a `$ref` that cannot be resolved",
    )
