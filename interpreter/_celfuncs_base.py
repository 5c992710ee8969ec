"""What every CEL extension function shares: its signatures, type checks, errors and cost.

Private to :mod:`interpreter.celfuncs`, which registers the functions and exports their table.
An extension function is a plain Python callable wrapped by :func:`function`: the wrapper
checks the number and CEL types of the arguments against the declared signatures (a mismatch
is a CEL error naming the function and the types), turns :class:`FunctionError` into a CEL
error value, and carries a cost estimate that :mod:`interpreter.celcost` charges before the
call, so that a call which would build a huge value stops before it allocates it.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError

from interpreter._celvalues import CelProblem, dump, json_value

ITEM_WEIGHT = 10
"""What one list item (or map entry) a function builds weighs against the budget, in
characters: a CEL value in a list costs tens of bytes, a character of a string one."""


@dataclass(frozen=True)
class Signature:
    """One overload of an extension function, for typed lint and the docs.

    Attributes:
        name: The name as written in CEL: ``split``, ``math.greatest``, ``lists.range``.
        receiver: The receiver's CEL type for a method (``"a,b".split(",")``), None for a
            global or namespaced function (``math.abs(x)``).
        args: The CEL types of the arguments after the receiver (``string``, ``int``,
            ``uint``, ``double``, ``bool``, ``bytes``, ``list(string)``, ``list(dyn)``,
            ``map(dyn, dyn)``, ``dyn``).
        result: The CEL type of the result; ``dyn`` when it depends on the values.
        variadic: The last argument type repeats (one or more of them).
    """

    name: str
    receiver: str | None
    args: tuple[str, ...]
    result: str
    variadic: bool = False

    def __str__(self) -> str:
        args = ", ".join(self.args) + ("..." if self.variadic else "")
        call = f"{self.name}({args})"
        return f"{self.receiver}.{call}" if self.receiver else call

    def accepts(self, values: Sequence[Any]) -> bool:
        """Whether ``values`` (the receiver first, for a method) fit this overload."""
        wanted = ((self.receiver,) if self.receiver else ()) + self.args
        if self.variadic:
            if len(values) < len(wanted):
                return False
            wanted += (wanted[-1],) * (len(values) - len(wanted))
        if len(values) != len(wanted):
            return False
        return all(fits(value, kind) for value, kind in zip(values, wanted, strict=True))


class FunctionError(Exception):
    """Raised inside an extension function: the message for a person, without the name."""


def cel_type(value: Any) -> str:
    """The CEL type name of a celpy (or plain) value: ``int``, ``string``, ``list``..."""
    if isinstance(value, bool | celtypes.BoolType):
        return "bool"
    if isinstance(value, celtypes.UintType):
        return "uint"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "map"
    if value is None:
        return "null"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, datetime.timedelta):
        return "duration"
    if isinstance(value, CELEvalError):
        return "error"
    return "type" if isinstance(value, type) else type(value).__name__


def fits(value: Any, kind: str) -> bool:
    """Whether ``value`` has the CEL type ``kind`` (``dyn`` fits all, ``list(T)`` checks items)."""
    if kind == "dyn":
        return True
    if kind.startswith("list("):
        inner = kind[5:-1]
        is_list = isinstance(value, list | tuple)
        return is_list and (inner == "dyn" or all(fits(item, inner) for item in value))
    if kind.startswith("map("):
        return isinstance(value, Mapping)
    return cel_type(value) == kind


def weight(value: Any) -> int:
    """How big a value is, in characters: strings and bytes by length, lists and maps by
    :data:`ITEM_WEIGHT` per item plus their items (what building a copy of it costs)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, Mapping):
        return sum(ITEM_WEIGHT + weight(k) + weight(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(ITEM_WEIGHT + weight(item) for item in value)
    return 1


Estimate = Callable[..., int]
"""A cost estimate: the call's arguments (the receiver first) -> characters it builds."""


def _inputs(*values: Any) -> int:
    """The default estimate: the call reads (and may copy) its arguments."""
    return sum(weight(value) for value in values)


def function(
    signatures: Sequence[Signature], cost: Estimate = _inputs
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make a Python callable an extension function with these overloads.

    The callable gets the arguments (receiver first) once they fit one of ``signatures``;
    it returns a celpy value or raises :class:`FunctionError`.
    """
    name = signatures[0].name

    def wrap(implementation: Callable[..., Any]) -> Callable[..., Any]:
        def call(*values: Any) -> Any:
            for value in values:
                if isinstance(value, CELEvalError):
                    return value
            if not any(sig.accepts(values) for sig in signatures):
                return CELEvalError(_mismatch(name, signatures, values))
            try:
                return implementation(*values)
            except FunctionError as exc:
                return CELEvalError(f"`{name}`: {exc}")
            except RecursionError:
                return CELEvalError(f"`{name}`: the value is nested too deeply")

        call.cel_cost = cost  # type: ignore[attr-defined]  # read by interpreter.celcost
        call.cel_signatures = tuple(signatures)  # type: ignore[attr-defined]
        call.__name__ = call.__qualname__ = implementation.__name__
        call.__doc__ = implementation.__doc__
        return call

    return wrap


def _mismatch(name: str, signatures: Sequence[Signature], values: Sequence[Any]) -> str:
    method = signatures[0].receiver is not None
    types = [cel_type(value) for value in values]
    if method and types:
        got = f"{types[0]}.{name}({', '.join(types[1:])})"
    else:
        got = f"{name}({', '.join(types)})"
    wanted = " or ".join(f"`{sig}`" for sig in signatures)
    return f"no overload `{got}`: `{name}` takes {wanted}"


def cel_list(items: Any) -> celtypes.ListType:
    return celtypes.ListType(items)


def cel_str(text: str) -> celtypes.StringType:
    """A CEL string, made without celpy's slow checking constructor."""
    return str.__new__(celtypes.StringType, text)


def cel_int(number: int) -> celtypes.IntType:
    """A CEL int (made without celpy's slow checking constructor).

    Raises:
        FunctionError: ``number`` is outside 64 bits.
    """
    if not -(2**63) <= number < 2**63:
        raise FunctionError("integer overflow")
    return int.__new__(celtypes.IntType, number)


def text_of(value: Any) -> str:
    """How ``string()`` (and ``format``'s ``%s``) writes a value: a string as itself, a list or
    map as compact JSON, ``true``/``false``/``null``, a timestamp in RFC 3339, a duration as
    ``"30s"``; never a Python repr.

    Raises:
        FunctionError: The value holds a non-finite number or bytes that are not UTF-8.
    """
    kind = cel_type(value)
    if kind == "string":
        return str(value)
    if kind == "double":
        number = float(value)
        if math.isnan(number):
            return "NaN"
        return dump(number) if math.isfinite(number) else ("+Inf" if number > 0 else "-Inf")
    if kind == "bytes":
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise FunctionError("the bytes are not valid UTF-8") from None
    try:
        converted = json_value(value)
    except CelProblem as problem:
        raise FunctionError(problem.message) from None
    return converted if isinstance(converted, str) else dump(converted)
