"""Encoders: cel-go's ``base64.encode``/``base64.decode`` (``ext/encoders``) and kworkflow's own
``json.encode``/``json.decode``.

Private to :mod:`interpreter.celfuncs`, which registers :data:`FUNCTIONS`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from celpy import celtypes

from interpreter._celfuncs_base import ITEM_WEIGHT, FunctionError, Signature, cel_str, function
from interpreter._celvalues import CelProblem, dump, json_value, to_cel

MAX_JSON_DEPTH = 100
"""The deepest nesting ``json.decode`` accepts."""


@function(
    [
        Signature("base64.encode", None, ("bytes",), "string"),
        Signature("base64.encode", None, ("string",), "string"),
    ],
    cost=lambda data: len(data) * 2,
)
def b64encode(data: Any) -> Any:
    """Standard base64 (with padding) of bytes, or of a string's UTF-8 bytes."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return cel_str(base64.b64encode(raw).decode("ascii"))


@function([Signature("base64.decode", None, ("string",), "bytes")], cost=lambda text: len(text))
def b64decode(text: str) -> Any:
    """The bytes of standard base64 text, padded or not."""
    padded = text + "=" * (-len(text) % 4)
    try:
        return celtypes.BytesType(base64.b64decode(padded, validate=True))
    except (binascii.Error, ValueError):
        raise FunctionError("the text is not valid base64") from None


@function([Signature("json.encode", None, ("dyn",), "string")])
def json_encode(value: Any) -> Any:
    """Compact JSON text of a value (as a value is written into text by `${ }`)."""
    try:
        return cel_str(dump(json_value(value)))
    except CelProblem as problem:
        raise FunctionError(problem.message) from None


def _no_constant(name: str) -> Any:
    raise FunctionError(f"`{name}` is not JSON")


def _depth(value: Any) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            pending += [(child, level + 1) for child in children]
    return deepest


def _decode_cost(text: str) -> int:
    items = text.count(",") + text.count("[") + text.count("{")  # at least one per item
    return len(text) * 2 + items * ITEM_WEIGHT


@function([Signature("json.decode", None, ("string",), "dyn")], cost=_decode_cost)
def json_decode(text: str) -> Any:
    """The value of JSON text: objects become maps, integers ints, other numbers doubles."""
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nesting(text) > MAX_JSON_DEPTH:
        raise FunctionError(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise FunctionError(f"not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise FunctionError(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise FunctionError(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return to_cel(_finite(value))
    except CelProblem as problem:
        raise FunctionError(problem.message) from None


def _nesting(text: str) -> int:
    """The deepest bracket nesting of ``text``, outside strings (a pre-check before parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):  # 1e999
        raise CelProblem(f"the number {value} is out of range")
    if isinstance(value, list):
        for item in value:
            _finite(item)
    elif isinstance(value, dict):
        for item in value.values():
            _finite(item)
    return value


FUNCTIONS: dict[str, Any] = {
    "base64.encode": b64encode,
    "base64.decode": b64decode,
    "json.encode": json_encode,
    "json.decode": json_decode,
}
"""The encoder functions by CEL name."""
