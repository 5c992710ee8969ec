"""Which values a run can carry: interpreter.values.find_problem names the place and the reason."""

from __future__ import annotations

from typing import Any

import pytest

from interpreter.errors import InputError
from interpreter.inputs import prepare_input
from interpreter.values import find_problem


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": [1, 2**63]}, ("a[1]", "9223372036854775808 is outside the 64-bit integer range")),
        ({"a": -(2**63) - 1}, ("a", "-9223372036854775809 is outside the 64-bit integer range")),
        (
            {"x": {"y z": float("nan")}},
            ('x["y z"]', "nan is not a number JSON can carry (NaN and Infinity are not)"),
        ),
        (
            [float("-inf")],
            ("[0]", "-inf is not a number JSON can carry (NaN and Infinity are not)"),
        ),
        ({"deep": nested(100)}, ("deep" + "[0]" * 99, "is nested more than 100 levels deep")),
        ({"s": {1, 2}}, ("s", "is a Python set, not a JSON value")),
        ({"m": {1: "a"}}, ("m", "has a key that is not a string: 1")),
    ],
)
def test_values_a_run_cannot_carry_are_found_where_they_are(value: Any, problem: Any) -> None:
    assert find_problem(value) == problem


def test_plain_json_at_the_limits_is_fine() -> None:
    value = {"i": [2**63 - 1, -(2**63)], "f": 1e308, "b": True, "n": None, "d": nested(99)}
    assert find_problem(value) is None


def test_prepare_input_refuses_them_naming_the_path() -> None:
    with pytest.raises(InputError) as info:
        prepare_input(None, {"items": [1, 2**64]})
    assert (info.value.path, str(info.value)) == (
        "items[1]",
        "input.items[1]: 18446744073709551616 is outside the 64-bit integer range",
    )
