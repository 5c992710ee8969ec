"""A run's input checked against the definition's ``input`` JSON Schema, defaults applied.

Deterministic and free of I/O (it also runs inside the workflow): the schema is compiled once
by :mod:`interpreter.schemas` (RE2 regexes, ``$ref`` resolved only within the schema itself and
the JSON Schema meta-schemas, never fetched).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from interpreter.errors import InputError, SchemaInvalid
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
        error = compiled.best_error(prepared)
    except SchemaInvalid as exc:
        reason = exc.reason.replace("the schema", "the input schema", 1)
        raise InputError("", reason) from None
    if error is not None:
        path, reason = _describe(error)
        raise InputError(format_path(path), reason)
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
