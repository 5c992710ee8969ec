"""A run input that breaks its schema in several ways names each of them, up to a bound."""

from __future__ import annotations

import pytest

from interpreter.errors import MAX_VIOLATIONS, InputError
from interpreter.inputs import prepare_input

SCHEMA = {
    "type": "object",
    "required": ["topic", "depth"],
    "additionalProperties": False,
    "properties": {
        "topic": {"type": "string"},
        "depth": {"enum": ["shallow", "deep"]},
        "count": {"type": "integer"},
    },
}


def test_every_violation_is_kept_the_most_relevant_first() -> None:
    with pytest.raises(InputError) as caught:
        prepare_input(SCHEMA, {"count": "3", "topc": "x", "extra": 1})
    error = caught.value
    assert (error.path, error.reason, str(error)) == (
        "topic",
        "is required",
        "input.topic: is required",
    )
    assert error.violations == (
        ("topic", "is required"),
        ("depth", "is required"),
        ("topc", "is not allowed"),
        ("extra", "is not allowed"),
        ("count", "'3' is not of type 'integer'"),
    )
    assert error.describe_all() == (
        "input.topic: is required; input.depth: is required; input.topc: is not allowed; "
        "input.extra: is not allowed; input.count: '3' is not of type 'integer'"
    )


def test_a_flood_of_violations_is_bounded() -> None:
    with pytest.raises(InputError) as caught:
        prepare_input({"type": "array", "items": {"type": "integer"}}, ["x"] * 5000)
    error = caught.value
    assert len(error.violations) == MAX_VIOLATIONS
    assert error.more == 5000 - MAX_VIOLATIONS
    assert error.describe_all().endswith(f"; and {5000 - MAX_VIOLATIONS} more")


def test_one_violation_reads_as_before() -> None:
    with pytest.raises(InputError) as caught:
        prepare_input(SCHEMA, {"topic": "x", "depth": "medium"})
    assert caught.value.describe_all() == str(caught.value)
    assert caught.value.violations == (("depth", caught.value.reason),)
