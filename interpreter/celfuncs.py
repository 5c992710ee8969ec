"""The CEL extension functions kworkflow adds to celpy, and the table of their signatures.

cel-go's standard extensions (strings, lists, math, base64) with cel-go's semantics, kworkflow's
``json.encode``/``json.decode``, and a ``string()`` that writes lists and maps as JSON. The
reference is ``docs/cel-functions.md``. Deterministic: no clock, no I/O (imported inside the
workflow sandbox).

- :data:`FUNCTIONS`: CEL name -> callable, loaded into the activation by :mod:`interpreter.expr`.
  Methods get their receiver first (``"a,b".split(",")`` calls ``split("a,b", ",")``);
  namespaced names (``math.greatest``) are dispatched by :mod:`interpreter.celcost`'s
  evaluator, which also charges each call's estimated cost before making it.
- ``list.sortBy(x, key)`` is a macro (like ``map``): the evaluator computes ``key`` for each
  item, then calls the ``sortBy`` entry with the items and their keys.
- :data:`SIGNATURES`: every overload (name, receiver or None, argument types, result type),
  for typed lint and the docs; :data:`NAMES` the names alone; :data:`NAMESPACES` the prefixes.
"""

from __future__ import annotations

from typing import Any

from celpy.evaluation import CELEvalError

from interpreter import _celfuncs_encoders, _celfuncs_lists, _celfuncs_strings
from interpreter._celfuncs_base import (
    ITEM_WEIGHT,
    FunctionError,
    Signature,
    cel_str,
    cel_type,
    function,
    text_of,
)

__all__ = [
    "FUNCTIONS",
    "ITEM_WEIGHT",
    "MACROS",
    "NAMES",
    "NAMESPACES",
    "SIGNATURES",
    "Signature",
    "signatures_of",
    "text_of",
]

_REVERSE = [_celfuncs_strings.REVERSE_SIGNATURE, _celfuncs_lists.REVERSE_SIGNATURE]


@function(_REVERSE)
def _reverse(value: Any) -> Any:
    """A string's characters or a list's items in reverse order."""
    if cel_type(value) == "string":
        return _celfuncs_strings.STRING_REVERSE(value)
    return _celfuncs_lists.reverse_list(value)


_STRING_SIGNATURES = [
    Signature("string", None, (kind,), "string")
    for kind in ("string", "int", "uint", "double", "bool", "bytes", "null", "list(dyn)",
                 "map(dyn, dyn)", "timestamp", "duration")
]  # fmt: skip


@function(_STRING_SIGNATURES)
def _string(value: Any) -> Any:
    """CEL's ``string()``, with JSON for lists and maps and ``true``/``null`` for those."""
    try:
        return cel_str(text_of(value))
    except FunctionError:
        if cel_type(value) == "bytes":
            raise FunctionError("the bytes are not valid UTF-8") from None
        raise


def _sort_by(items: Any, keys: Any) -> Any:
    """The macro ``list.sortBy(x, key)`` once the evaluator has computed the keys (celcost)."""
    try:
        return _celfuncs_lists.sort_by(items, keys)
    except FunctionError as exc:
        return CELEvalError(f"`sortBy`: {exc}")


_sort_by.cel_signatures = (_celfuncs_lists.SORT_BY,)  # type: ignore[attr-defined]
_sort_by.cel_macro = True  # type: ignore[attr-defined]


FUNCTIONS: dict[str, Any] = {
    **_celfuncs_strings.FUNCTIONS,
    **_celfuncs_lists.FUNCTIONS,
    **_celfuncs_encoders.FUNCTIONS,
    "reverse": _reverse,
    "sortBy": _sort_by,
    "string": _string,
}
"""Every extension function (and the replaced ``string``) by its CEL name."""

NAMESPACES = frozenset(name.split(".")[0] for name in FUNCTIONS if "." in name)
"""The prefixes of namespaced functions: ``math``, ``lists``, ``strings``, ``base64``, ``json``."""


def _collect() -> tuple[Signature, ...]:
    found: list[Signature] = []
    for name, implementation in FUNCTIONS.items():
        declared = getattr(implementation, "cel_signatures", None)
        if declared is None:
            raise RuntimeError(f"{name} has no signatures")  # a programming error, at import
        found += declared
    return tuple(found)


SIGNATURES: tuple[Signature, ...] = _collect()
"""Every overload of every extension function, in :data:`FUNCTIONS` order."""

NAMES = frozenset(FUNCTIONS)
"""The CEL names of the extension functions."""

MACROS = frozenset(name for name, f in FUNCTIONS.items() if getattr(f, "cel_macro", False))
"""The extension functions that are macros (``sortBy``): their first argument names a variable
bound in the second, as with ``map``; their signature's first argument is that name."""


def signatures_of(name: str) -> tuple[Signature, ...]:
    """The overloads of one function (empty if it is not an extension function)."""
    return tuple(sig for sig in SIGNATURES if sig.name == name)
