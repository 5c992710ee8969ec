"""Definition text in, checked definition out: size bound, YAML or JSON, load, lint, storability.

Nothing here touches the database: :class:`~registry.store.DefinitionStore` stores what
:func:`check` accepts. YAML problems carry line and column (via :func:`interpreter.lint.lint_text`);
a JSON document is loaded as plain data (:func:`interpreter.loader.load_data`), so only its syntax
errors are located.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal, NoReturn

from interpreter.errors import DefinitionError, Problem
from interpreter.limits import Limits
from interpreter.lint import Check, lint, lint_text
from interpreter.loader import load_data
from interpreter.spec import Definition
from interpreter.yamldoc import MAX_DEPTH
from registry.errors import DefinitionRejected

MAX_DEFINITION_BYTES = 256 * 1024
"""Largest definition text accepted (UTF-8 bytes)."""
MAX_NAME_LENGTH = 200
"""Longest workflow name accepted (it is part of the table's primary key)."""

Format = Literal["yaml", "json"]
FORMATS: tuple[Format, ...] = ("yaml", "json")


def check(
    text: str,
    fmt: Format,
    tenant: str | None = None,
    limits: Limits | None = None,
    more: Check | None = None,
) -> tuple[Definition | None, list[Problem]]:
    """Load and lint a definition text.

    Args:
        text: The definition, as YAML or as a JSON document.
        fmt: Which of the two ``text`` is.
        tenant: Who publishes it: its secret grants are checked too (the worker
            configuration's, :mod:`activities.secret_grants`).
        limits: The operator's limits the definition must keep (default: the defaults).
        more: Findings of the caller's own (the API's: the tenant's schedule count).

    Returns:
        The definition (None when it does not load) and every problem found; the definition
        may be published only when none is an error (warnings are reported alongside).
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DEFINITION_BYTES:
        return None, [too_large(size)]
    extra = _both(_grants_check(tenant) if tenant is not None else None, more)
    if fmt == "yaml":
        definition, problems = lint_text(text, limits=limits, extra=extra)
    elif fmt == "json":
        definition, problems = _lint_json(text, limits, extra)
    else:
        return None, [Problem("", f"unknown format {fmt!r}: yaml or json", code="format")]
    if definition is not None and all(p.severity == "warning" for p in problems):
        problems = problems + _storage_problems(definition)
    return definition, problems


def _grants_check(tenant: str) -> Check:
    """The publish-time check of ``tenant``'s secret grants."""
    from activities.config import current_config
    from activities.secret_grants import definition_problems

    config = current_config()
    return lambda definition: definition_problems(definition, tenant, config)


def _both(first: Check | None, second: Check | None) -> Check | None:
    """One check that reports the findings of both (None when neither is given)."""
    if first is None or second is None:
        return first or second
    return lambda definition: first(definition) + second(definition)


def too_large(size: int | None = None) -> Problem:
    """The problem of a definition text over :data:`MAX_DEFINITION_BYTES`."""
    limit = f"{MAX_DEFINITION_BYTES // 1024} KiB"
    message = f"the definition is larger than {limit}"
    if size is not None:
        message += f" ({size} bytes)"
    return Problem("", message, code="too_large")


def decode(body: bytes) -> str:
    """UTF-8 bytes (a leading byte order mark is dropped) -> text.

    Raises:
        DefinitionRejected: The bytes are not UTF-8.
    """
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"the definition is not UTF-8 text (byte {exc.start})"
        raise DefinitionRejected([Problem("", message, code="encoding")]) from None


def to_data(definition: Definition) -> dict[str, Any]:
    """A definition as plain JSON data: the fields as written (by alias), defaults left out.

    Leaving unset fields out keeps the meaning of absent keys (``edges`` missing vs
    ``edges: []``, an edge's ``on``) when the data is loaded again.
    """
    return definition.model_dump(mode="json", by_alias=True, exclude_unset=True)


# --- JSON documents ----------------------------------------------------------------------


class _BadJSON(Exception):
    def __init__(self, message: str, code: str = "json") -> None:
        self.message, self.code = message, code


def _no_constant(name: str) -> NoReturn:
    raise _BadJSON(f"{name} is not a JSON value")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _BadJSON(f"duplicate key `{key}`", "duplicate_key")
        result[key] = value
    return result


def _lint_json(
    text: str, limits: Limits | None, extra: Check | None = None
) -> tuple[Definition | None, list[Problem]]:
    if not text.strip():
        message = 'the document is empty: a definition starts with `{"kworkflow": 1, ...`'
        return None, [Problem("", message, 1, 1, code="empty")]
    try:
        data = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        message = f"this is not valid JSON: {exc.msg}"
        return None, [Problem("", message, exc.lineno, exc.colno, code="json")]
    except _BadJSON as exc:
        return None, [Problem("", exc.message, code=exc.code)]
    except RecursionError:
        return None, [_too_deep()]
    if _depth(data) > MAX_DEPTH:
        return None, [_too_deep()]
    try:
        definition = load_data(data)
    except DefinitionError as exc:
        return None, exc.problems
    return definition, lint(definition, limits, extra)


def _too_deep() -> Problem:
    return Problem("", f"the document nests deeper than {MAX_DEPTH} levels", code="too_complex")


def _depth(data: Any) -> int:
    """How deep lists and mappings nest in ``data`` (a scalar is 1), without recursion."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        value, level = todo.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(value, dict):
            todo.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            todo.extend((v, level + 1) for v in value)
    return deepest


# --- what the database can hold -----------------------------------------------------------


def _storage_problems(definition: Definition) -> list[Problem]:
    """Names too long for the key, and text no database column can hold (NUL, lone surrogates)."""
    problems: list[Problem] = []
    if len(definition.name) > MAX_NAME_LENGTH:
        message = f"the name is longer than {MAX_NAME_LENGTH} characters"
        problems.append(Problem("name", message, code="name_too_long"))
    for text in _strings(to_data(definition)):
        if "\x00" in text:
            message = "the definition contains a NUL character (\\u0000), which cannot be stored"
            problems.append(Problem("", message, code="encoding"))
            break
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            code_point = ord(text[exc.start])
            message = f"the definition contains U+{code_point:04X}, which is not valid Unicode text"
            problems.append(Problem("", message, code="encoding"))
            break
    return problems


def _strings(data: Any) -> Iterator[str]:
    """Every string in plain data, mapping keys included."""
    todo = [data]
    while todo:
        value = todo.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            todo.extend(value.keys())
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
