"""A run's input checked against the definition's ``input`` JSON Schema, defaults applied.

Deterministic and free of I/O (it also runs inside the workflow): the schema is compiled once
by :mod:`interpreter.schemas` (RE2 regexes, ``$ref`` resolved only within the schema itself and
the JSON Schema meta-schemas, never fetched).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from interpreter.errors import MAX_VIOLATIONS, InputError, SchemaInvalid
from interpreter.schemas import Compiled, compile_schema, search
from interpreter.values import find_problem
from interpreter.yamldoc import format_path


def prepare_input(schema: dict[str, Any] | None, value: Any, *, check_values: bool = True) -> Any:
    """Apply the schema's defaults to the run input, then validate it (Draft 2020-12).

    Args:
        schema: The definition's ``input`` schema, or None.
        value: The run input as given (not modified).
        check_values: Also refuse what no run can carry, with or without a schema: NaN,
            Infinity, integers outside 64 bits, deep nesting (:mod:`interpreter.values`).

    Returns:
        The input with defaults filled in (a copy); with no schema, ``value`` itself
        (None becomes ``{}``).

    Raises:
        InputError: The input breaks the schema; ``path`` names the property (``topic``,
            ``items[2].name``) and ``reason`` says what is wrong.
    """
    value = _checked_value(value, check_values)
    if schema is None:
        return value
    try:
        compiled = compile_schema(schema)
    except SchemaInvalid as exc:
        reason = exc.reason.replace("the schema", "the input schema", 1)
        raise InputError("", reason) from None
    return prepare_compiled(compiled, value, check_values=False)


def prepare_compiled(compiled: Compiled, value: Any, *, check_values: bool = True) -> Any:
    """:func:`prepare_input` with a schema already compiled (one cache lookup, not two).

    Raises:
        InputError: As :func:`prepare_input`.
    """
    value = _checked_value(value, check_values)
    prepared = _with_defaults(compiled.schema, copy.deepcopy(value))
    try:
        errors = compiled.errors(prepared)
    except SchemaInvalid as exc:
        reason = exc.reason.replace("the schema", "the input schema", 1)
        raise InputError("", reason) from None
    if errors:
        first = best_match(errors)
        rest = [e for e in errors if e is not first]
        found: dict[tuple[str, str], None] = {}
        for each in [first, *rest]:
            for path, reason in _describe_all(each):
                found[(format_path(path), reason)] = None
        violations = tuple(found)[:MAX_VIOLATIONS]
        more = len(found) - len(violations)
        raise InputError(violations[0][0], violations[0][1], violations, more)
    return prepared


def _checked_value(value: Any, check_values: bool) -> Any:
    if value is None:
        value = {}
    if check_values and (problem := find_problem(value)) is not None:
        raise InputError(*problem)
    return value


def _with_defaults(schema: Any, value: Any) -> Any:
    """Fill missing object properties that have a ``default``, recursively, in place."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                if name in value:
                    value[name] = _with_defaults(sub, value[name])
                elif isinstance(sub, dict) and "default" in sub:
                    value[name] = _with_defaults(sub, copy.deepcopy(sub["default"]))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            value[index] = _with_defaults(schema["items"], item)
    return value


def _describe_all(error: jsonschema.ValidationError) -> list[tuple[list[str | int], str]]:
    """:func:`_describe`, one violation per missing or unexpected property of the error."""
    first = _describe(error)
    if error.validator in ("required", "additionalProperties") and first[0] != list(
        error.absolute_path
    ):
        more = [[*error.absolute_path, name] for name in _named(error) if name != first[0][-1]]
        return [first, *((p, first[1]) for p in more)]
    return [first]


def _named(error: jsonschema.ValidationError) -> list[str]:
    """The properties a ``required`` error misses, or an ``additionalProperties`` one forbids."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        return [n for n in schema.get("required", ()) if n not in instance]
    known = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    return [n for n in instance if n not in known and not any(search(p, n) for p in patterns)]


def _describe(error: jsonschema.ValidationError) -> tuple[list[str | int], str]:
    """The path of the offending property and a reason for a person."""
    path = list(error.absolute_path)
    instance = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in schema.get("required", ()) if name not in instance]
        if missing:
            return [*path, missing[0]], "is required"
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        patterns = (
            error.schema.get("patternProperties", {}) if isinstance(error.schema, dict) else {}
        )
        extra = [
            name
            for name in instance
            if name not in known and not any(search(p, name) for p in patterns)
        ]
        if extra:
            return [*path, extra[0]], "is not allowed"
    return path, error.message
