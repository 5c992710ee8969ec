"""What CEL values mean as JSON: conversion both ways, CEL's equality, and readable errors.

Private to :mod:`interpreter.expr`, which is the public face of expressions.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import celpy
from celpy import celtypes
from celpy.evaluation import CELEvalError

_TRUE, _FALSE = celtypes.BoolType(True), celtypes.BoolType(False)
_KINDS = ((bool, "bool"), (celtypes.BoolType, "bool"), (int, "number"), (float, "number"),
          (str, "string"), (bytes, "bytes"), (Mapping, "map"), (list, "list"))  # fmt: skip
_OPERATORS = {
    "addition_add": "+", "addition_sub": "-", "multiplication_mul": "*",
    "multiplication_div": "/", "multiplication_mod": "%", "relation_lt": "<",
    "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=", "relation_eq": "==",
    "relation_ne": "!=", "relation_in": "in", "unary_neg": "-", "unary_not": "!", "_[_]": "[]",
}  # fmt: skip
_PY_TYPES = {"float": "double", "str": "string", "dict": "map", "NoneType": "null"}
_UNKNOWN = re.compile(r"undeclared reference to '(\w+)'")
_NO_MEMBER = re.compile(r"no such member in mapping: (.*)")
_NO_OVERLOAD = re.compile(r"found no matching overload for (?:Token\('RULE', '(\w+)'\)|(\S+))")
_CLASS = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")
_NO_FIELDS = re.compile(r"with type: '<class '(?:[\w.]+\.)?(\w+)'>' does not support field")
_CELPY_REPR = re.compile(r" ?<class '[\w.]+'>|\b[A-Z]\w*Type\((.*?)\)")


class CelProblem(Exception):
    """Internal: what went wrong, and where in the source for syntax errors."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset


def _kind(value: Any) -> str:
    return next((name for cls, name in _KINDS if isinstance(value, cls)), type(value).__name__)


def _same(left: Any, right: Any) -> bool:
    """CEL's heterogeneous equality: other kinds are unequal, numbers compare by value."""
    kind = _kind(left)
    if kind != _kind(right):
        return False
    if kind == "list":
        return len(left) == len(right) and all(map(_same, left, right))
    if kind == "map":
        return len(left) == len(right) and all(
            k in right and _same(v, right[k]) for k, v in left.items()
        )
    if kind == "number":
        return bool(_plain_number(left) == _plain_number(right))
    try:
        return bool(left == right)
    except TypeError:
        return False


def _plain_number(value: Any) -> int | float:
    return int(value) if isinstance(value, int) else float(value)


def equal(left: Any, right: Any) -> Any:
    if isinstance(left, CELEvalError) or isinstance(right, CELEvalError):
        return left if isinstance(left, CELEvalError) else right
    return celtypes.BoolType(_same(left, right))


def not_equal(left: Any, right: Any) -> Any:
    result = equal(left, right)
    return result if isinstance(result, CELEvalError) else celtypes.BoolType(not result)


_INT64 = range(-(2**63), 2**63)


def is_cel_json(value: Any) -> bool:
    """A plain JSON value that CEL holds as is (finite floats, 64-bit ints, string keys)."""
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return value in _INT64
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(is_cel_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_cel_json(v) for k, v in value.items())
    return False


def eval_reason(exc: BaseException) -> str:
    """Turn a celpy evaluation error into a sentence for a person."""
    if isinstance(exc, RecursionError):
        return "the expression is nested too deeply"
    if not isinstance(exc, CELEvalError) or not exc.args:
        return f"{type(exc).__name__}: {exc}"
    args = [*exc.args, None, None]
    message, cause, detail = str(args[0]), args[1], args[2]
    if match := _UNKNOWN.match(message):  # celpy puts a token on calls, a tree on names
        return f"unknown {'function' if exc.token else 'name'} `{match[1]}`"
    if match := _NO_MEMBER.match(message):
        return f"no key {match[1]} in map"
    if message == "no such key" and detail:
        key = detail[0]
        return f"no key {repr(str(key)) if isinstance(key, str) else json_key(key)} in map"
    if "divide by zero" in message:
        return "division by zero"
    if cause is IndexError:
        return "list index out of range"
    if match := _NO_OVERLOAD.match(message):
        operator = _OPERATORS.get(match[1] or match[2], match[1] or match[2])
        types = [type_name(name) for name in _CLASS.findall(message)]
        return f"no operator `{operator}` for {' and '.join(types)}"
    if match := _NO_FIELDS.search(message):
        return f"cannot select a field from {type_name(match[1])}"
    if message == "return error for overflow":
        overflow = not detail or detail == ("overflow",)
        return "integer overflow" if overflow else f"invalid argument: {_clean(str(detail[0]))}"
    if message == "no such overload" and exc.token is not None:
        return f"`{exc.token}` cannot take arguments of these types"
    if message == "match error" and detail:
        return f"bad regular expression: {_clean(str(detail[0]).removeprefix('b'))}"
    return _clean(message.split(" (in activation")[0])


def type_name(name: str) -> str:
    """CEL's name for a celpy or Python class name: ``StringType`` and ``str`` -> ``string``."""
    return _PY_TYPES.get(name) or name.removesuffix("Type").lower().replace("none", "null")


def _clean(text: str) -> str:
    """Strip celpy's type wrappers from a message: ``StringType('x')`` -> ``'x'``."""
    return _CELPY_REPR.sub(r"\1", text[:2000])[:200]  # cut first: the text may be a tenant's


def to_cel(value: Any) -> Any:
    """A plain Python (JSON) value -> a celpy value; an int stays a CEL int, a float a double."""
    kind = type(value)  # exact types first, built without celpy's slow checking constructors
    if kind is str:
        return str.__new__(celtypes.StringType, value)
    if kind is dict:
        cel_map = celtypes.MapType()
        dict.update(cel_map, {to_cel(k): to_cel(v) for k, v in value.items()})
        return cel_map
    if kind is int:
        if not -(2**63) <= value < 2**63:
            raise CelProblem(f"{value} is outside the 64-bit integer range")
        return int.__new__(celtypes.IntType, value)
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is float:
        return float.__new__(celtypes.DoubleType, value)
    if kind is list or kind is tuple:
        return celtypes.ListType([to_cel(item) for item in value])
    if value is None or type(value).__module__ == celtypes.__name__:
        return value  # already a celpy value
    if isinstance(value, Mapping):
        return celtypes.MapType({to_cel(k): to_cel(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return celtypes.ListType([to_cel(item) for item in value])
    try:
        return celpy.json_to_cel(value)  # subclasses of bool/int/float/str, datetime, timedelta
    except ValueError:
        raise CelProblem(f"a {kind.__name__} is not a JSON value") from None


def converts(value: Any) -> bool:
    """Whether :func:`to_cel` takes ``value`` (of plain JSON values, only integers outside
    64 bits fail)."""
    kind = type(value)
    if kind is str or kind is bool or kind is float or value is None:
        return True
    if kind is int:
        return -(2**63) <= value < 2**63
    if kind is dict:
        return all(converts(k) and converts(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(converts(item) for item in value)
    try:
        to_cel(value)
    except (CelProblem, ValueError, TypeError):
        return False
    return True


def json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, celtypes.BoolType):  # an int subclass: before int
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CelProblem(f"the result {value} is not a finite number")
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {json_key(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        plain = datetime.datetime.combine(value.date(), value.timetz())
        plain = plain.replace(tzinfo=plain.tzinfo or datetime.UTC).astimezone(datetime.UTC)
        micros = plain.microsecond
        spec = "microseconds" if micros % 1000 else "milliseconds" if micros else "seconds"
        return plain.replace(tzinfo=None).isoformat(timespec=spec) + "Z"
    if isinstance(value, datetime.timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        seconds, fraction = divmod(abs(micros), 1_000_000)
        digits = f".{fraction:06d}".rstrip("0") if fraction else ""
        return f"{'-' if micros < 0 else ''}{seconds}{digits}s"
    if isinstance(value, CELEvalError):  # celpy leaves some errors inside maps
        raise CelProblem(eval_reason(value))
    if isinstance(value, type):  # type(x)
        return type_name(value.__name__)
    raise CelProblem(f"a {type(value).__name__} cannot be turned into JSON")


def json_key(key: Any) -> str:
    return str(key) if isinstance(key, str) else dump(json_value(key))


def dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
