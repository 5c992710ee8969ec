"""The native fast path of schema validation: jsonschema-rs, built once per schema, says "valid".

:class:`interpreter.schemas.Compiled` asks it first. It is trusted only when it answers
*valid*; for anything else (invalid, or a value it cannot take: a lone surrogate, a key that
is not a string) jsonschema itself finds the errors, so the errors and their messages are
exactly what they are without it, and a value the fast path refuses by mistake only costs the
slow path. ``pattern`` runs on RE2 here too (the same :func:`interpreter.schemas.search`), so
matching stays linear; ``format`` is an annotation in both; ``$ref`` never fetches.

It is built only for schemas in which every keyword means the same in both libraries. A schema
with any of these anywhere keeps to jsonschema alone: ``patternProperties`` (the RE2 version of
it, and of the ``additionalProperties`` and ``unevaluatedProperties`` beside it, is ours),
``unevaluated*``, ``$ref`` and the other reference and identifier keywords (jsonschema reports
references that loop without end, which jsonschema-rs accepts), keywords of older drafts, a
``multipleOf`` that is not an integer (the two libraries round floats apart), a ``$schema``
other than Draft 2020-12, or an integer outside 64 bits. Instances are JSON values (dicts,
lists, strings, numbers, booleans, None), as everything kworkflow validates is decoded JSON.

Deterministic and free of I/O: a valid value gives no errors either way, an invalid one gets
jsonschema's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema_rs

__all__ = ["FastCheck", "fast_check"]

FastCheck = Callable[[Any], bool]
"""Whether an instance is valid; True is certain, False means "ask jsonschema"."""

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_UNSHARED = frozenset(
    {
        "patternProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "$ref",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$anchor",
        "$id",
        "$vocabulary",
        "dependencies",
        "additionalItems",
        "contentSchema",
        "contentMediaType",
        "contentEncoding",
    }
)
"""Keys that keep a schema on jsonschema alone, wherever they are (a property of that name too:
being conservative costs only speed)."""
_INT64 = (-(2**63), 2**64 - 1)


def shares_semantics(schema: Any) -> bool:
    """Whether ``schema`` means the same to jsonschema-rs as to our jsonschema validator."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _UNSHARED:
                    return False
                if key == "multipleOf" and type(value) is not int:
                    return False
                if key == "$schema" and value != DRAFT_2020_12:
                    return False
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
        elif type(node) is int and not _INT64[0] <= node <= _INT64[1]:
            return False
    return True


def fast_check(schema: Any, search: Callable[[str, str], bool]) -> FastCheck | None:
    """The fast check of a checked schema, or None when it must stay on jsonschema alone.

    Args:
        schema: A schema that jsonschema found valid.
        search: How ``pattern`` matches (RE2: :func:`interpreter.schemas.search`).
    """
    if not shares_semantics(schema):
        return None

    class Re2Pattern:  # a jsonschema-rs keyword: built with (parent, value, path)
        def __init__(self, parent: Any, value: str, path: Any) -> None:
            self.pattern = value

        def validate(self, instance: Any) -> None:
            if isinstance(instance, str) and not search(self.pattern, instance):
                raise ValueError(f"{instance!r} does not match {self.pattern!r}")

    try:
        validator = jsonschema_rs.Draft202012Validator(
            schema,
            validate_formats=False,
            offline=True,
            keywords={"pattern": Re2Pattern},
        )
    except Exception:  # anything it cannot build stays on jsonschema, which checked it already
        return None
    is_valid: Callable[[Any], bool] = validator.is_valid

    def check(instance: Any) -> bool:
        try:
            return is_valid(instance)
        except Exception:  # a value it cannot convert: jsonschema decides
            return False

    return check
