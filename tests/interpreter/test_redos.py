"""Tenant regular expressions run in linear time (RE2); patterns RE2 cannot compile are refused.

``^(a|a)+$`` against ``"a" * n + "!"`` makes a backtracking engine (Python's ``re``) take time
doubling with each character: 28 took 9.7 s, the 32 used here take minutes. RE2 takes
microseconds; the 5 s bounds below only catch a backtracking engine, not a slow machine.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest

from interpreter.errors import DefinitionError, ExpressionError, InputError, SchemaInvalid
from interpreter.expr import Scope, compile_cel
from interpreter.inputs import prepare_input
from interpreter.lint import lint_text
from interpreter.loader import load_text
from interpreter.schemas import compile_schema

EVIL = "^(a|a)+$"
LONG = "a" * 32 + "!"
BOUND = 5.0


def quickly(check: Callable[[], Any]) -> Any:
    """``check()``, failing the test if it took longer than a backtracking engine needs."""
    began = time.monotonic()
    value = check()
    assert time.monotonic() - began < BOUND
    return value


def input_error(schema: dict[str, Any], value: Any) -> tuple[str, str]:
    def check() -> tuple[str, str]:
        with pytest.raises(InputError) as caught:
            prepare_input(schema, value)
        return caught.value.path, caught.value.reason

    return quickly(check)  # type: ignore[no-any-return]


def test_pattern_is_linear() -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": EVIL}}}
    assert input_error(schema, {"s": LONG}) == ("s", f"{LONG!r} does not match {EVIL!r}")
    assert prepare_input(schema, {"s": "aaaa"}) == {"s": "aaaa"}
    long = "a" * 200_000 + "!"
    assert input_error(schema, {"s": long})[0] == "s"


def test_pattern_properties_and_additional_properties_are_linear() -> None:
    schema = {
        "type": "object",
        "patternProperties": {EVIL: {"type": "integer"}},
        "additionalProperties": False,
    }
    assert input_error(schema, {LONG: 1}) == (f'["{LONG}"]', "is not allowed")
    assert input_error(schema, {"aaa": "x"}) == ("aaa", "'x' is not of type 'integer'")
    assert prepare_input(schema, {"aaa": 1}) == {"aaa": 1}
    typed = {"type": "object", "patternProperties": {EVIL: {}}, "additionalProperties": False}
    errors = quickly(lambda: compile_schema(typed).errors({LONG: 1}))
    assert [e.message for e in errors] == [f"{LONG!r} does not match any of the regexes: {EVIL!r}"]


def test_unevaluated_properties_are_linear() -> None:
    schema = {"type": "object", "patternProperties": {EVIL: {}}, "unevaluatedProperties": False}
    errors = quickly(lambda: compile_schema(schema).errors({LONG: 1, "aa": 2}))
    assert [e.message for e in errors] == [
        f"Unevaluated properties are not allowed ({LONG!r} was unexpected)"
    ]
    nested = {"allOf": [{"patternProperties": {"^x": {}}}], "unevaluatedProperties": False}
    assert compile_schema(nested).errors({"xy": 1}) == []
    assert [e.message for e in compile_schema(nested).errors({"y": 1})] == [
        "Unevaluated properties are not allowed ('y' was unexpected)"
    ]


def test_property_names_pattern_is_linear() -> None:
    schema = {"type": "object", "propertyNames": {"pattern": EVIL}}
    errors = quickly(lambda: compile_schema(schema).errors({LONG: 1}))
    assert [e.message for e in errors] == [f"{LONG!r} does not match {EVIL!r}"]


@pytest.mark.parametrize(
    ("schema", "path", "reason"),
    [
        (
            {"pattern": "(a)\\1"},
            ("pattern",),
            "'(a)\\\\1' in `pattern` is not a regular expression RE2 accepts: "
            "invalid escape sequence: \\1",
        ),
        (
            {"properties": {"x": {"pattern": "(?=a)"}}},
            ("properties", "x", "pattern"),
            "'(?=a)' in `pattern` is not a regular expression RE2 accepts: "
            "invalid perl operator: (?=",
        ),
        (
            {"patternProperties": {"(?<!a)b": {}}},
            ("patternProperties",),
            "'(?<!a)b' in `patternProperties` is not a regular expression RE2 accepts: "
            "invalid perl operator: (?<!",
        ),
        (
            {"pattern": "("},
            ("pattern",),
            "'(' in `pattern` is not a regular expression RE2 accepts: missing ): (",
        ),
    ],
)
def test_patterns_re2_cannot_compile_make_the_schema_invalid(
    schema: dict[str, Any], path: tuple[str, ...], reason: str
) -> None:
    with pytest.raises(SchemaInvalid) as caught:
        compile_schema(schema)
    assert (caught.value.path, caught.value.reason) == (path, reason)


def test_a_schema_is_compiled_once_and_kept_apart_from_the_callers_dict() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}}
    compiled = compile_schema(schema)
    assert compile_schema(copy.deepcopy(schema)) is compiled
    schema["properties"]["n"]["minimum"] = 0
    assert [e.message for e in compiled.errors({"n": 1})] == ["1 is less than the minimum of 3"]
    assert compile_schema(schema) is not compiled
    assert compile_schema(schema).errors({"n": 1}) == []


def test_a_schema_that_refers_to_itself_without_end_is_an_input_error() -> None:
    schema = {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    assert input_error(schema, {}) == (
        "",
        "the input schema refers to itself without end, or the value is nested too deeply",
    )


# ---------------------------------------------------------------- definitions and lint

BAD_PATTERNS = """\
kworkflow: 1
name: bad-patterns
input:
  type: object
  properties:
    code: {type: string, pattern: '(a)\\1'}
tools:
  t:
    url: http://tools.invalid/t
    input_schema: {type: object, patternProperties: {'(?=a)': {}}}
steps:
  - id: ask
    kind: human
    form: {type: object, properties: {x: {pattern: '(?<=a)b'}}}
"""


def test_patterns_re2_cannot_compile_are_located_load_errors() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_text(BAD_PATTERNS, "bad.yaml")
    found = [(p.path, p.line, p.column, p.code, p.step) for p in caught.value.problems]
    assert found == [
        ("input.properties.code.pattern", 6, 35, "json_schema", None),
        ("tools.t.input_schema.patternProperties", 10, 53, "json_schema", None),
        ("steps[0].form.properties.x.pattern", 14, 52, "json_schema", "ask"),
    ]
    assert caught.value.problems[0].message == (
        "not a valid JSON Schema: '(a)\\\\1' in `pattern` is not a regular expression RE2 "
        "accepts: invalid escape sequence: \\1"
    )


# 218 bytes: `kworkflow lint` ran forever checking the static args against the pattern.
LINT_FOREVER = f"""\
kworkflow: 1
name: r
tools:
  t:
    url: http://x/
    input_schema: {{properties: {{s: {{pattern: "{EVIL}"}}}}}}
steps:
  - {{id: a, kind: tool, tool: t, args: {{s: {LONG}}}}}
"""


def test_lint_of_static_args_against_an_evil_pattern_ends() -> None:
    _, problems = quickly(lambda: lint_text(LINT_FOREVER))
    assert [(p.path, p.line, p.code, p.message) for p in problems] == [
        (
            "steps[0].args",
            8,
            "tool_args",
            f"`args.s`: {LONG!r} does not match {EVIL!r} (input_schema of tool `t`)",
        )
    ]


def test_lint_refuses_a_literal_matches_pattern_re2_cannot_compile() -> None:
    text = """\
kworkflow: 1
name: m
steps:
  - {id: a, kind: aggregate, expr: 'matches("x", "(?=x)") || "y".matches("(a)\\\\1")'}
"""
    _, problems = lint_text(text)
    assert [(p.path, p.line, p.code, p.message) for p in problems] == [
        (
            "steps[0].expr",
            4,
            "regex",
            "`matches` pattern '(?=x)' is not a regular expression RE2 accepts: "
            "invalid perl operator: (?=",
        ),
        (
            "steps[0].expr",
            4,
            "regex",
            "`matches` pattern '(a)\\\\1' is not a regular expression RE2 accepts: "
            "invalid escape sequence: \\1",
        ),
    ]


# ---------------------------------------------------------------------------------- CEL


def test_cel_matches_is_linear() -> None:
    scope = Scope({"input": {"s": LONG, "p": EVIL}})
    assert quickly(lambda: compile_cel("input.s.matches(input.p)").evaluate(scope)) is False
    assert quickly(lambda: compile_cel(f"matches(input.s, '{EVIL}')").evaluate(scope)) is False
    assert compile_cel("'xaaay'.matches('a+')").evaluate(scope) is True  # a search, as CEL says


def test_cel_matches_with_a_pattern_re2_cannot_compile_is_an_expression_error() -> None:
    scope = Scope({"input": {"p": "(?=a)"}})
    with pytest.raises(ExpressionError) as caught:
        compile_cel("'a'.matches(input.p)").evaluate(scope)
    assert caught.value.reason == "bad regular expression: invalid perl operator: (?="
