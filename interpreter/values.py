"""Which values a run can carry: plain JSON with finite numbers, 64-bit integers, bounded depth.

A run's input, every step's output and its result travel as JSON through Temporal's history and
are read by CEL. Some Python values survive neither: JSON has no NaN or Infinity (Temporal's
pydantic converter silently writes ``null``), CEL's ``int`` is 64 bits (a larger integer makes
every later expression that reads ``steps`` fail, blaming the wrong step), and deep nesting
passes the JSON parser's recursion limit, so the value can be written but never read back.
:func:`find_problem` says where such a value is, so that it is refused where it enters.
"""

from __future__ import annotations

import math
from typing import Any

from interpreter.yamldoc import format_path

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
"""CEL's ``int`` range; JSON integers outside it are refused."""
MAX_DEPTH = 100
"""The deepest nesting of lists and maps a value may have (the JSON reader stops near 200,
and a step's output is nested a few levels deeper in the run's state)."""


def find_problem(value: Any, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """The first place in ``value`` that a run cannot carry, and why.

    Returns:
        ``(path, reason)``: the path as ``items[2].name`` (empty for ``value`` itself) and a
        reason for a person; None when the whole value is fine.
    """
    pending: list[tuple[list[str | int], Any]] = [([], value)]
    while pending:
        path, item = pending.pop()
        if item is None or isinstance(item, bool | str):
            continue
        if isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                return format_path(path), f"{item} is outside the 64-bit integer range"
        elif isinstance(item, float):
            if not math.isfinite(item):
                reason = f"{item} is not a number JSON can carry (NaN and Infinity are not)"
                return format_path(path), reason
        elif isinstance(item, dict | list):
            if len(path) >= max_depth:
                return format_path(path), f"is nested more than {max_depth} levels deep"
            if isinstance(item, list):
                pending += [([*path, i], v) for i, v in reversed(list(enumerate(item)))]
                continue
            for key in item:
                if not isinstance(key, str):
                    return format_path(path), f"has a key that is not a string: {key!r}"
            pending += [([*path, k], v) for k, v in reversed(list(item.items()))]
        else:
            return format_path(path), f"is a Python {type(item).__name__}, not a JSON value"
    return None


def describe(where: str, path: str) -> str:
    """``where`` with ``path`` appended: ``output.items[2]``, ``output`` for the whole value."""
    if not path:
        return where
    return f"{where}{path}" if path.startswith("[") else f"{where}.{path}"
