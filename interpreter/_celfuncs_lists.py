"""cel-go's lists and math extensions (``ext/lists``, ``ext/math``).

Private to :mod:`interpreter.celfuncs`, which registers :data:`FUNCTIONS`. Lists compare and
deduplicate with CEL's equality (``1 == 1.0``); math keeps the argument's type where cel-go does.
"""

from __future__ import annotations

import math
from typing import Any

from celpy import celtypes

from interpreter._celfuncs_base import (
    ITEM_WEIGHT,
    FunctionError,
    Signature,
    cel_int,
    cel_list,
    cel_type,
    function,
    weight,
)
from interpreter._celvalues import CelProblem, dump, json_value

_NUMBERS = ("int", "uint", "double")
_ORDERED = frozenset({"number", "string", "bytes", "bool", "timestamp", "duration"})


def _sig(
    name: str, *args: str, result: str = "list(dyn)", receiver: str = "list(dyn)"
) -> Signature:
    return Signature(name, receiver, args, result)


def _order_kind(value: Any) -> str:
    kind = cel_type(value)
    return "number" if kind in _NUMBERS else kind


def _sort_cost(items: Any) -> int:
    return weight(items) + len(items) * max(1, len(items).bit_length()) * ITEM_WEIGHT // 4


@function([_sig("sort")], cost=_sort_cost)
def sort(items: Any) -> Any:
    """The items in ascending order; all numbers, all strings, all bools... (not mixed)."""
    kinds = {_order_kind(item) for item in items}
    if len(kinds) > 1 or not kinds <= _ORDERED:
        shown = ", ".join(sorted({cel_type(item) for item in items}))
        raise FunctionError(f"cannot order a list of {shown}")
    if kinds == {"number"}:
        return cel_list(sorted(items, key=_number_key))
    return cel_list(sorted(items))


SORT_BY = Signature("sortBy", "list(dyn)", ("dyn", "dyn"), "list(dyn)")
"""``list.sortBy(x, key)``, a macro: ``x`` names each item, ``key`` is an expression of it."""


def sort_by(items: Any, keys: Any) -> Any:
    """``items`` ordered by ``keys`` (one per item, evaluated by the evaluator); stable."""
    kinds = {_order_kind(key) for key in keys}
    if len(kinds) > 1 or not kinds <= _ORDERED:
        shown = ", ".join(sorted({cel_type(key) for key in keys}))
        raise FunctionError(f"cannot order by keys of {shown}")
    order = _number_key if kinds == {"number"} else (lambda key: key)
    pairs = sorted(zip(items, keys, strict=True), key=lambda pair: order(pair[1]))
    return cel_list([item for item, _ in pairs])


def _number_key(value: Any) -> Any:
    number = float(value) if cel_type(value) == "double" else int(value)
    if isinstance(number, float) and math.isnan(number):
        raise FunctionError("cannot order NaN")
    return number


def _identity(value: Any) -> str:
    """A key equal for CEL-equal values (``1`` and ``1.0``), different across kinds."""
    kind = cel_type(value)
    if kind == "double" and float(value).is_integer():
        return f"number:{int(value)}"
    if kind in _NUMBERS:
        return f"number:{value!r}" if kind == "double" else f"number:{int(value)}"
    if kind in ("list", "map"):
        return f"{kind}:" + dump(_canonical(value))
    if kind == "bytes":
        return "bytes:" + bytes(value).hex()
    try:
        return f"{kind}:" + dump(json_value(value))
    except CelProblem as problem:
        raise FunctionError(problem.message) from None


def _canonical(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_identity(item) for item in value]
    if isinstance(value, dict):
        return sorted((_identity(k), _identity(v)) for k, v in value.items())
    return _identity(value)


@function([_sig("distinct")])
def distinct(items: Any) -> Any:
    """The items without repeats (by CEL equality), first occurrences kept, in order."""
    seen: set[str] = set()
    kept = []
    for item in items:
        key = _identity(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return cel_list(kept)


def _flatten_cost(items: Any, depth: int = 1) -> int:
    return weight(items)


@function([_sig("flatten"), _sig("flatten", "int")], cost=_flatten_cost)
def flatten(items: Any, depth: int = 1) -> Any:
    """The items of nested lists, ``depth`` levels down (1 by default)."""
    if depth < 0:
        raise FunctionError(f"the depth must not be negative, got {depth}")
    flat: list[Any] = list(items)
    for _ in range(min(depth, 1000)):
        if not any(isinstance(item, list) for item in flat):
            break
        flat = [part for item in flat for part in (item if isinstance(item, list) else [item])]
    return cel_list(flat)


@function([_sig("slice", "int", "int")], cost=lambda items, *_: weight(items))
def slice_(items: Any, start: int, end: int) -> Any:
    """The items from ``start`` up to (not including) ``end``."""
    if not 0 <= start <= len(items) or not 0 <= end <= len(items):
        bad = start if not 0 <= start <= len(items) else end
        raise FunctionError(f"index {bad} out of range for a list of length {len(items)}")
    if start > end:
        raise FunctionError(f"start {start} is after end {end}")
    return cel_list(items[start:end])


def _range_cost(count: Any) -> int:
    return max(0, int(count)) * (ITEM_WEIGHT + 1)


@function([Signature("lists.range", None, ("int",), "list(int)")], cost=_range_cost)
def range_(count: int) -> Any:
    """The ints 0, 1, ... ``count`` - 1 (empty when ``count`` <= 0)."""
    make = int.__new__
    return cel_list([make(celtypes.IntType, i) for i in range(max(0, int(count)))])


def reverse_list(items: Any) -> Any:
    return cel_list(list(reversed(items)))


@function([_sig("first", result="dyn")], cost=lambda items: 1)
def first(items: Any) -> Any:
    """The first item, or null for an empty list (cel-go returns an optional)."""
    return items[0] if items else None


@function([_sig("last", result="dyn")], cost=lambda items: 1)
def last(items: Any) -> Any:
    """The last item, or null for an empty list."""
    return items[-1] if items else None


# math -------------------------------------------------------------------------------------------


def _math(
    name: str, kinds: tuple[str, ...] = _NUMBERS, result: str | None = None
) -> list[Signature]:
    return [Signature(f"math.{name}", None, (kind,), result or kind) for kind in kinds]


def _extreme(name: str, pick: Any) -> Any:
    signatures = [
        Signature(f"math.{name}", None, ("list(dyn)",), "dyn"),
        Signature(f"math.{name}", None, ("dyn",), "dyn", variadic=True),
    ]

    @function(signatures, cost=lambda *values: sum(weight(v) for v in values))
    def extreme(*values: Any) -> Any:
        numbers = values[0] if len(values) == 1 and isinstance(values[0], list) else values
        if not numbers:
            raise FunctionError("the list is empty")
        for number in numbers:
            if cel_type(number) not in _NUMBERS:
                raise FunctionError(f"takes numbers (int, uint, double), got a {cel_type(number)}")
        best = numbers[0]
        for number in numbers[1:]:
            if pick(_plain(number), _plain(best)):
                best = number
        return best

    extreme.__name__ = name
    return extreme


def _plain(number: Any) -> float | int:
    return float(number) if cel_type(number) == "double" else int(number)


@function(_math("abs"))
def abs_(number: Any) -> Any:
    """The absolute value, of the argument's type (-2**63 has none: an overflow)."""
    kind = cel_type(number)
    if kind == "int":
        return cel_int(abs(int(number)))
    return celtypes.UintType(number) if kind == "uint" else celtypes.DoubleType(abs(float(number)))


@function(_math("sign"))
def sign(number: Any) -> Any:
    """-1, 0 or 1 of the argument's type (NaN for NaN)."""
    kind = cel_type(number)
    value = _plain(number)
    if kind == "double":
        return celtypes.DoubleType(value if math.isnan(value) else (value > 0) - (value < 0))
    result = (value > 0) - (value < 0)
    return celtypes.UintType(result) if kind == "uint" else celtypes.IntType(result)


def _rounding(name: str, rule: Any) -> Any:
    @function(_math(name, ("double", "int"), "double"))
    def rounded(number: Any) -> Any:
        value = float(number)
        return celtypes.DoubleType(rule(value) if math.isfinite(value) else value)

    rounded.__name__ = name
    return rounded


def _round_half_away(value: float) -> float:
    truncated = math.trunc(value)
    if abs(value - truncated) >= 0.5:
        truncated += 1 if value > 0 else -1
    return float(truncated)


def _test(name: str, rule: Any) -> Any:
    @function(_math(name, ("double", "int"), "bool"))
    def tested(number: Any) -> Any:
        return celtypes.BoolType(rule(float(number)))

    tested.__name__ = name
    return tested


FUNCTIONS: dict[str, Any] = {
    "sort": sort,
    "distinct": distinct,
    "flatten": flatten,
    "slice": slice_,
    "lists.range": range_,
    "first": first,
    "last": last,
    "math.greatest": _extreme("greatest", lambda a, b: a > b),
    "math.least": _extreme("least", lambda a, b: a < b),
    "math.abs": abs_,
    "math.sign": sign,
    "math.ceil": _rounding("ceil", lambda v: float(math.ceil(v))),
    "math.floor": _rounding("floor", lambda v: float(math.floor(v))),
    "math.round": _rounding("round", _round_half_away),
    "math.trunc": _rounding("trunc", lambda v: float(math.trunc(v))),
    "math.isNaN": _test("isNaN", math.isnan),
    "math.isInf": _test("isInf", math.isinf),
    "math.isFinite": _test("isFinite", math.isfinite),
}
"""The lists and math functions by CEL name (``reverse`` is shared with strings: see celfuncs)."""

REVERSE_SIGNATURE = _sig("reverse")
