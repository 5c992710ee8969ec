"""cel-go's strings extension (``ext/strings``): receiver-style string functions and
``strings.quote``, with cel-go's semantics (indices count code points).

Private to :mod:`interpreter.celfuncs`, which registers :data:`FUNCTIONS`.
"""

from __future__ import annotations

import math
from typing import Any

from interpreter._celfuncs_base import (
    ITEM_WEIGHT,
    FunctionError,
    Signature,
    cel_int,
    cel_list,
    cel_str,
    cel_type,
    function,
    text_of,
    weight,
)

MAX_PRECISION = 100
"""The most digits after the point a ``format`` clause may ask for (``%.100f``)."""


def _sig(name: str, *args: str, result: str = "string", receiver: str = "string") -> Signature:
    return Signature(name, receiver, args, result)


def _replace_cost(text: str, old: str, new: str, limit: int = -1) -> int:
    count = text.count(old) if old else len(text) + 1
    if limit >= 0:
        count = min(count, limit)
    return len(text) + max(0, len(new) - len(old)) * count


def _split_cost(text: str, separator: str, limit: int = -1) -> int:
    parts = text.count(separator) + 1 if separator else len(text)
    if limit >= 0:
        parts = min(parts, limit)
    return len(text) + parts * ITEM_WEIGHT


def _join_cost(items: Any, separator: str = "") -> int:
    return weight(items) + len(separator) * len(items)


@function([_sig("charAt", "int")])
def char_at(text: str, index: int) -> Any:
    """The character at ``index`` (``""`` at the end)."""
    if not 0 <= index <= len(text):
        raise FunctionError(f"index {index} out of range for a string of length {len(text)}")
    return cel_str(text[index : index + 1])


@function([_sig("indexOf", "string", result="int"), _sig("indexOf", "string", "int", result="int")])
def index_of(text: str, sub: str, offset: int = 0) -> Any:
    """The index of the first ``sub`` at or after ``offset``, or -1."""
    if not 0 <= offset <= len(text):
        raise FunctionError(f"offset {offset} out of range for a string of length {len(text)}")
    return cel_int(text.find(sub, offset))


@function(
    [
        _sig("lastIndexOf", "string", result="int"),
        _sig("lastIndexOf", "string", "int", result="int"),
    ]
)
def last_index_of(text: str, sub: str, offset: int | None = None) -> Any:
    """The index of the last ``sub`` starting at or before ``offset``, or -1."""
    if offset is None:
        offset = len(text)
    elif not 0 <= offset <= len(text):
        raise FunctionError(f"offset {offset} out of range for a string of length {len(text)}")
    return cel_int(text.rfind(sub, 0, offset + len(sub)))


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@function([_sig("lowerAscii")])
def lower_ascii(text: str) -> Any:
    """Only ASCII letters changed, as in cel-go."""
    return cel_str(text.translate(_LOWER))


@function([_sig("upperAscii")])
def upper_ascii(text: str) -> Any:
    return cel_str(text.translate(_UPPER))


@function([_sig("replace", "string", "string"), _sig("replace", "string", "string", "int")],
          cost=_replace_cost)  # fmt: skip
def replace(text: str, old: str, new: str, limit: int = -1) -> Any:
    """Replace the first ``limit`` (all if negative) occurrences of ``old`` by ``new``."""
    return cel_str(text.replace(old, new, limit if limit >= 0 else -1))


@function(
    [
        _sig("split", "string", result="list(string)"),
        _sig("split", "string", "int", result="list(string)"),
    ],
    cost=lambda text, separator, limit=-1: _split_cost(text, separator, limit),
)
def split(text: str, separator: str, limit: int = -1) -> Any:
    """Go's ``strings.SplitN``: at most ``limit`` parts (all if negative, none if 0)."""
    if limit == 0:
        return cel_list([])
    if separator:
        parts = text.split(separator, limit - 1 if limit > 0 else -1)
    else:  # every character, the last part holding the rest
        parts = list(text) if limit < 0 or limit >= len(text) else [
            *text[: limit - 1], text[limit - 1 :]
        ]  # fmt: skip
    return cel_list([cel_str(part) for part in parts])


@function([_sig("substring", "int"), _sig("substring", "int", "int")])
def substring(text: str, start: int, end: int | None = None) -> Any:
    """The characters from ``start`` up to (not including) ``end``, or to the end."""
    end = len(text) if end is None else end
    if not 0 <= start <= len(text) or not 0 <= end <= len(text):
        bad = start if not 0 <= start <= len(text) else end
        raise FunctionError(f"index {bad} out of range for a string of length {len(text)}")
    if start > end:
        raise FunctionError(f"start {start} is after end {end}")
    return cel_str(text[start:end])


@function([_sig("trim")])
def trim(text: str) -> Any:
    """Without leading and trailing white space (Unicode)."""
    return cel_str(text.strip())


@function(
    [
        _sig("join", result="string", receiver="list(string)"),
        _sig("join", "string", result="string", receiver="list(string)"),
    ],
    cost=_join_cost,
)
def join(items: Any, separator: str = "") -> Any:
    """The strings of the list, with ``separator`` between them."""
    return cel_str(separator.join(items))


_QUOTES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
           "\v": "\\v", "\\": "\\\\", '"': '\\"'}  # fmt: skip
_QUOTE_TABLE = str.maketrans(_QUOTES)


@function([Signature("strings.quote", None, ("string",), "string")],
          cost=lambda text: len(text) * 2)  # fmt: skip
def quote(text: str) -> Any:
    """The string as a double-quoted CEL string literal."""
    return cel_str('"' + text.translate(_QUOTE_TABLE) + '"')


def _reverse_string(text: str) -> Any:
    return cel_str(text[::-1])


def format_cost(template: str, args: Any) -> int:
    return len(template) + weight(args) + template.count("%") * MAX_PRECISION


@function([_sig("format", "list(dyn)")], cost=format_cost)
def format_(template: str, args: Any) -> Any:
    """cel-go's ``format``: ``%s %d %f %e %b %o %x %X %%`` clauses, ``%.Nf`` precision."""
    out: list[str] = []
    index, position, end = 0, 0, len(template)
    while position < end:
        char = template[position]
        position += 1
        if char != "%":
            out.append(char)
            continue
        if position < end and template[position] == "%":
            out.append("%")
            position += 1
            continue
        precision: int | None = None
        if position < end and template[position] == ".":
            digits_end = position + 1
            while digits_end < end and template[digits_end].isdigit():
                digits_end += 1
            if digits_end == position + 1:
                raise FunctionError(f"no digits after `%.` at {position - 1}")
            precision = int(template[position + 1 : digits_end][:6])
            if precision > MAX_PRECISION:
                raise FunctionError(f"precision {precision} is over {MAX_PRECISION}")
            position = digits_end
        if position >= end:
            raise FunctionError("the format ends with `%` (write `%%` for a percent sign)")
        verb = template[position]
        position += 1
        if index >= len(args):
            raise FunctionError(f"`%{verb}` at {position - 1} has no argument (index {index})")
        out.append(_clause(verb, precision, args[index], index))
        index += 1
    return cel_str("".join(out))


def _clause(verb: str, precision: int | None, value: Any, index: int) -> str:
    kind = cel_type(value)

    def wrong() -> FunctionError:
        return FunctionError(f"`%{verb}` cannot format argument {index}, a {kind}")

    if verb == "s":
        return text_of(value)  # the same text as string()
    if verb == "d":
        if kind not in ("int", "uint"):
            raise wrong()
        return str(int(value))
    if verb in "fe":
        if kind not in ("int", "uint", "double"):
            raise wrong()
        number = float(value)
        if not math.isfinite(number):
            return "NaN" if math.isnan(number) else ("+Inf" if number > 0 else "-Inf")
        return f"{number:.{6 if precision is None else precision}{verb}}"
    if verb in "box":
        if kind in ("int", "uint"):
            return format(int(value), verb)
        if verb == "b" and kind == "bool":
            return "true" if value else "false"
        if verb == "x" and kind in ("string", "bytes"):
            data = value.encode() if isinstance(value, str) else bytes(value)
            return data.hex()
        raise wrong()
    if verb == "X":
        if kind in ("int", "uint"):
            return format(int(value), "X")
        if kind in ("string", "bytes"):
            data = value.encode() if isinstance(value, str) else bytes(value)
            return data.hex().upper()
        raise wrong()
    raise FunctionError(f"unknown clause `%{verb}` (use %s, %d, %f, %e, %b, %o, %x, %X or %%)")


FUNCTIONS: dict[str, Any] = {
    "charAt": char_at,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "lowerAscii": lower_ascii,
    "upperAscii": upper_ascii,
    "replace": replace,
    "split": split,
    "substring": substring,
    "trim": trim,
    "join": join,
    "strings.quote": quote,
    "format": format_,
}
"""The strings functions by CEL name (``reverse`` is shared with lists: see celfuncs)."""

STRING_REVERSE = _reverse_string
REVERSE_SIGNATURE = _sig("reverse")
