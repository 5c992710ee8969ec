"""Tenant JSON Schemas: checked and compiled once, validated as Draft 2020-12 with RE2 regexes.

Every JSON Schema kworkflow evaluates (a run's ``input``, a tool's ``input_schema``, a human
``form``, an ``output_schema``) is written by a tenant, so its regular expressions (``pattern``,
``patternProperties``, and the ``format: regex`` the meta-schema asks of them) run on RE2, whose
matching time is linear in the text: ``^(a|a)+$`` cannot stall a shared process. A pattern RE2
cannot compile (a backreference, a lookaround) makes the schema invalid. ``$ref`` resolves only
inside the schema and the JSON Schema meta-schemas: nothing is fetched.

A schema is checked against the meta-schema and compiled once (cached by content): every later
use of the same schema, in a fresh dict or not, is a cache hit (:func:`cache_stats` counts).
Validating an instance that is valid takes the native fast path of :mod:`interpreter._fastschema`
where the schema allows it; errors always come from jsonschema.

Deterministic and free of I/O (the workflow sandbox imports it): the only shared state is a
bounded cache of compiled schemas, keyed by the schema's content.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import re2
from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import extend
from referencing import Registry
from referencing.exceptions import Unresolvable

from interpreter._fastschema import FastCheck, fast_check
from interpreter.errors import SchemaInvalid

__all__ = ["CacheStats", "Compiled", "cache_stats", "check_schema", "compile_schema", "search"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a tenant's bad pattern is our error message, not a log line
_NO_RETRIEVAL: Registry[Any] = Registry()
"""jsonschema adds the meta-schemas to it; anything else that ``$ref`` names is unresolvable."""
_CACHE_SIZE = 256


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> Any:
    return re2.compile(pattern, _OPTIONS)


def regex_problem(pattern: str) -> str | None:
    """Why RE2 cannot compile ``pattern`` (None when it can)."""
    try:
        _regex(pattern)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        return detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
    return None


def search(pattern: str, text: str) -> bool:
    """Whether RE2 finds ``pattern`` anywhere in ``text`` (JSON Schema and CEL semantics).

    Lone surrogates (valid in JSON text, not in UTF-8) are matched as U+FFFD.

    Raises:
        re2.error: ``pattern`` is not a regular expression RE2 accepts.
    """
    regex = _regex(pattern)
    try:
        return regex.search(text) is not None
    except UnicodeEncodeError:
        clean = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return regex.search(clean) is not None


# --- the keywords that use regular expressions, on RE2 -----------------------------------
# Same behaviour and messages as jsonschema's own (jsonschema/_keywords.py), other engine.


def _pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        key
        for key in instance
        if key not in properties and not any(search(p, key) for p in patterns)
    ]


def _additional_properties(
    validator: Any, allowed: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {patterns}")
        else:
            shown = ", ".join(repr(each) for each in sorted(extras, key=str))
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(
                f"Additional properties are not allowed ({shown} {verb} unexpected)"
            )


def _valid(errors: Iterator[ValidationError]) -> bool:
    return next(errors, None) is None


def _evaluated_keys(validator: Any, instance: dict[str, Any], schema: Any) -> set[str]:
    """The keys ``schema`` evaluates (jsonschema's find_evaluated_property_keys_by_schema)."""
    if validator.is_type(schema, "boolean"):
        return set()
    keys: set[str] = set()
    for keyword in ("$ref", "$dynamicRef"):
        ref = schema.get(keyword)
        if ref is not None:
            resolved = validator._resolver.lookup(ref)
            inner = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
            keys |= _evaluated_keys(inner, instance, resolved.contents)
    properties = schema.get("properties")
    if validator.is_type(properties, "object"):
        keys |= properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        if (subschema := schema.get(keyword)) is not None:
            keys |= {
                k for k, v in instance.items() if validator.evolve(schema=subschema).is_valid(v)
            }
    for pattern in schema.get("patternProperties", {}):
        keys |= {k for k in instance if search(pattern, k)}
    for key, subschema in schema.get("dependentSchemas", {}).items():
        if key in instance:
            keys |= _evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if _valid(validator.descend(instance, subschema)):
                keys |= _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys |= _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys |= _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys |= _evaluated_keys(validator, instance, schema["else"])
    return keys


def _unevaluated_properties(
    validator: Any, unevaluated: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    bad = [
        key
        for key in instance
        if key not in evaluated
        and any(validator.descend(instance[key], unevaluated, path=key, schema_path=key))
    ]
    if not bad:
        return
    verb = "was" if len(bad) == 1 else "were"
    if unevaluated is False:
        shown = ", ".join(repr(each) for each in sorted(bad, key=str))
        yield ValidationError(f"Unevaluated properties are not allowed ({shown} {verb} unexpected)")
    else:
        shown = ", ".join(repr(each) for each in bad)
        yield ValidationError(
            "Unevaluated properties are not valid under the given schema "
            f"({shown} {verb} unevaluated and invalid)"
        )


_Validator: Any = extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "unevaluatedProperties": _unevaluated_properties,
    },
)

_META_FORMATS = FormatChecker()  # jsonschema's checkers for the meta-schema, regex on RE2
_META_FORMATS.checks("regex", raises=re2.error)(lambda value: _regex(value) is not None)
_META = _Validator(Draft202012Validator.META_SCHEMA, format_checker=_META_FORMATS)


# --- checking and compiling ------------------------------------------------------------


def check_schema(schema: Any) -> None:
    """Check that ``schema`` is a valid Draft 2020-12 JSON Schema whose regexes RE2 accepts.

    Raises:
        SchemaInvalid: The first problem; ``path`` is where inside the schema.
    """
    compile_schema(schema)


def _first_problem(schema: Any) -> SchemaInvalid | None:
    try:
        error = next(iter(_META.iter_errors(schema)), None)
    except RecursionError:
        return SchemaInvalid((), "the schema is nested too deeply")
    if error is None:
        return None
    path = tuple(error.path)
    if error.validator == "format" and error.validator_value == "regex":
        where = "`patternProperties`" if path[-1:] == ("patternProperties",) else "`pattern`"
        cause = regex_problem(str(error.instance)) or "not a regular expression"
        message = f"{error.instance!r} in {where} is not a regular expression RE2 accepts: {cause}"
        return SchemaInvalid(path, message)
    return SchemaInvalid(path, error.message)


class Compiled:
    """A checked schema with its validator, reused for every instance it validates.

    Attributes:
        schema: The schema (a private copy: changing the caller's dict changes nothing here).
    """

    __slots__ = ("_fast", "_validator", "schema")

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._validator = _Validator(schema, registry=_NO_RETRIEVAL)
        self._fast: FastCheck | None = fast_check(schema, search)

    @property
    def has_fast_path(self) -> bool:
        """Whether valid instances are recognised natively (see :mod:`interpreter._fastschema`)."""
        return self._fast is not None

    def errors(self, instance: Any) -> list[ValidationError]:
        """Every way ``instance`` breaks the schema (empty when it is valid).

        Raises:
            SchemaInvalid: The schema cannot be applied: a ``$ref`` that does not resolve, or
                references that never end.
        """
        if self._fast is not None and self._fast(instance):
            return []
        try:
            return list(self._validator.iter_errors(instance))
        except Unresolvable as exc:
            message = f"the schema has a `$ref` that cannot be resolved: {exc}"
            raise SchemaInvalid((), message) from None
        except RecursionError:
            message = "the schema refers to itself without end, or the value is nested too deeply"
            raise SchemaInvalid((), message) from None

    def best_error(self, instance: Any) -> ValidationError | None:
        """The most relevant way ``instance`` breaks the schema, or None when it is valid.

        Raises:
            SchemaInvalid: As :meth:`errors`.
        """
        errors = self.errors(instance)
        return best_match(errors) if errors else None


@dataclass(frozen=True)
class CacheStats:
    """How the compile cache has served (since the process started).

    Attributes:
        hits: Lookups answered from the cache.
        builds: Schemas checked and compiled (a miss, or a schema that cannot be a key).
        size: Entries held now (at most 256).
    """

    hits: int
    builds: int
    size: int


_cache: OrderedDict[str, Compiled | SchemaInvalid] = OrderedDict()
_lock = threading.Lock()
_counts = {"hits": 0, "builds": 0}


def cache_stats() -> CacheStats:
    """The compile cache's counters: a schema used again is a hit, never a second build."""
    with _lock:
        return CacheStats(hits=_counts["hits"], builds=_counts["builds"], size=len(_cache))


def compile_schema(schema: Any) -> Compiled:
    """Check ``schema`` and build its validator; cached by content (256 schemas).

    Raises:
        SchemaInvalid: ``schema`` is not a valid JSON Schema (see :func:`check_schema`).
    """
    try:
        key = json.dumps(schema, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):  # keys that are not strings: not a JSON Schema anyway
        key = None
    if key is not None:
        with _lock:
            found = _cache.get(key)
            if found is not None:
                _cache.move_to_end(key)
                _counts["hits"] += 1
        if found is None:
            found = _build(schema)
            with _lock:
                _cache[key] = found
                while len(_cache) > _CACHE_SIZE:
                    _cache.popitem(last=False)
    else:
        found = _build(schema)
    if isinstance(found, SchemaInvalid):
        raise SchemaInvalid(found.path, found.reason)
    return found


def _build(schema: Any) -> Compiled | SchemaInvalid:
    with _lock:
        _counts["builds"] += 1
    if not isinstance(schema, dict | bool):
        return SchemaInvalid((), f"a JSON Schema is a mapping, not {type(schema).__name__}")
    problem = _first_problem(schema)
    return problem if problem is not None else Compiled(copy.deepcopy(schema))
