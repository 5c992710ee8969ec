"""interpreter.expr: CEL compile and evaluate, ${} templates, CEL values -> plain JSON values."""

from __future__ import annotations

from typing import Any

import pytest
from celpy import celtypes

from interpreter import expr
from interpreter.errors import ExpressionError
from interpreter.expr import (
    Scope,
    compile_cel,
    has_template,
    parse_template,
    render_text,
    resolve,
    step_references,
    template_expressions,
    to_json,
)

VALUES = {
    "input": {"n": 3, "f": 1.5, "s": "x", "l": [1, "a"], "m": {"a": 1}, "z": None, "w": "é"},
    "steps": {
        "a": {"output": {"x": 1}, "status": "succeeded"},
        "b": {"output": None, "status": "pending"},
    },
}
SCOPE = Scope(VALUES)


def evaluate(source: str, scope: Scope = SCOPE) -> Any:
    return compile_cel(source).evaluate(scope)


def assert_plain(value: Any) -> None:
    """Every part of ``value`` is a builtin JSON type, never a celpy subclass."""
    assert type(value) in (bool, int, float, str, type(None), list, dict), type(value)
    if isinstance(value, dict):
        assert all(type(key) is str for key in value)
    for item in value.values() if isinstance(value, dict) else value if type(value) is list else ():
        assert_plain(item)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${ input.n }", 3),
        ("${ [1, 'a'] }", [1, "a"]),
        ("${ true }", True),
        ("  ${ input.m }\n", {"a": 1}),
        ("${ null }", None),
        ("${ input.f }", 1.5),
        ("${ 2.0 }", 2.0),
        ("${input.n+1}", 4),
        ("${ steps.a.output }", {"x": 1}),
    ],
)
def test_a_single_expression_keeps_its_type(text: str, expected: Any) -> None:
    template = parse_template(text)
    value = template.render(SCOPE)
    assert template.is_single
    assert value == expected
    assert type(value) is type(expected)
    assert_plain(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n=${ input.n }", "n=3"),
        ("${ true }!", "true!"),
        ("[${ null }]", "[null]"),
        ("f=${ 2.0 } g=${ input.f }", "f=2.0 g=1.5"),
        ("s=${ input.s }", "s=x"),
        ("l=${ input.l }", 'l=[1,"a"]'),
        ("m=${ {'k': 1, 'b': [true, null]} }", 'm={"k":1,"b":[true,null]}'),
        ("${ input.w } ${ [input.w] }", 'é ["é"]'),
        ("${ 'a' }${ 'b' }", "ab"),
        ("x${ {'a': 1}.a }y", "x1y"),
    ],
)
def test_embedded_expressions_render_as_text(text: str, expected: str) -> None:
    template = parse_template(text)
    assert not template.is_single
    assert template.render(SCOPE) == expected


@pytest.mark.parametrize(
    ("text", "expected", "expressions"),
    [
        ("$${ input.n } is ${ input.n }", "${ input.n } is 3", ("input.n",)),
        ("plain $${", "plain ${", ()),
        ("$${a}$${b}", "${a}${b}", ()),
        ("$$${ 1 }", "$${ 1 }", ()),
    ],
)
def test_double_dollar_writes_a_literal(text: str, expected: str, expressions: tuple) -> None:
    template = parse_template(text)
    assert template.render(SCOPE) == expected
    assert template.expressions == expressions
    assert resolve(text, SCOPE) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${ '}' }", "}"),
        ('${ "a}b" }', "a}b"),
        ("${ 'it\\'s }' }", "it's }"),
        ("${ '''it's}''' }", "it's}"),
        ('${ """}""" + "}" }', "}}"),
        ("${ r'\\d}' }", "\\d}"),
        ("${ b'}' }", "fQ=="),
        ("${ {'a': {'b': '}'}} }", {"a": {"b": "}"}}),
        ("${ {'a': 1}['a'] + {'b': {'c': 2}}.b.c }", 3),
        ("${ 1 // a comment }\n + 2 }", 3),
    ],
)
def test_braces_inside_literals_and_maps_do_not_end_the_expression(
    text: str, expected: Any
) -> None:
    assert parse_template(text).render(SCOPE) == expected


def test_template_lists_its_expressions() -> None:
    template = parse_template("Hi ${ input.s }, ${  steps.a.output.x + 1  }!")
    assert template.text == "Hi ${ input.s }, ${  steps.a.output.x + 1  }!"
    assert template.expressions == ("input.s", "steps.a.output.x + 1")
    assert template.render(SCOPE) == "Hi x, 2!"
    assert parse_template("no templates").render(SCOPE) == "no templates"
    assert parse_template("a ${ 1 }") is parse_template("a ${ 1 }")


def test_resolve_walks_dicts_and_lists() -> None:
    value = {
        "args": {"company": "${ input.s }", "n": "${ input.n }", "keep": 5, "off": False},
        "list": ["${ input.l }", "a ${ input.n }", "plain", ["${ true }"]],
        "${ keys stay }": "v",
    }
    assert resolve(value, SCOPE) == {
        "args": {"company": "x", "n": 3, "keep": 5, "off": False},
        "list": [[1, "a"], "a 3", "plain", [True]],
        "${ keys stay }": "v",
    }
    assert value["args"]["n"] == "${ input.n }"  # the input is not modified


def test_resolve_returns_values_without_templates_unchanged() -> None:
    value = {"a": [1, {"b": "c"}], "d": None, "e": "no $ here"}
    assert resolve(value, SCOPE) is value
    mixed = {"same": {"x": [1]}, "t": "${ 1 }"}
    resolved = resolve(mixed, SCOPE)
    assert resolved == {"same": {"x": [1]}, "t": 1}
    assert resolved["same"] is mixed["same"]
    assert resolve(7, SCOPE) == 7
    assert resolve(None, SCOPE) is None


def test_has_template() -> None:
    assert has_template("${ x }")
    assert has_template({"a": [1, {"b": "x ${ y }"}]})
    assert has_template("$${ literal }")
    assert not has_template({"a": [1, {"b": "x $ { y }"}], "${ key }": 1})
    assert not has_template(3)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("inptu.n", "unknown name `inptu`"),
        ("input.x", "no key 'x' in map"),
        ("input['x']", "no key 'x' in map"),
        ("steps.c.output", "no key 'c' in map"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("input.l[5]", "list index out of range"),
        ("input.s + 1", "no operator `+` for string and int"),
        ("input.n * 2.0", "no operator `*` for int and double"),
        ("input.z.x", "cannot select a field from null"),
        ("foo(1)", "unknown function `foo`"),
        ("input.s.shout()", "unknown function `shout`"),
        ("size(1)", "`size` cannot take arguments of these types"),
        ("size(null)", "`size` cannot take arguments of these types"),  # celpy said 0
        ("input.z.size()", "`size` cannot take arguments of these types"),
        ("'a'.matches('(a)\\\\1')", "bad regular expression: invalid escape sequence: \\1"),
        ("int('x')", "invalid argument: invalid literal for int() with base 10: 'x'"),
        ("9223372036854775807 + 1", "integer overflow"),
        ("{'a': 1 / 0}", "division by zero"),
        ("1.0 / 0.0", "the result inf is not a finite number"),
    ],
)
def test_evaluation_errors_say_what_is_wrong(source: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(source)
    assert caught.value.reason == reason
    assert caught.value.expression == source
    assert caught.value.offset is None
    assert str(caught.value) == f"{reason} in `{source}`"


@pytest.mark.parametrize(
    ("source", "reason", "offset"),
    [
        ("1 +", "parse error at column 3: unexpected end of expression", 2),
        ("(1", "parse error at column 2: unexpected end of expression, expected `)`", 1),
        (
            "{'a': 1",
            "parse error at column 7: unexpected end of expression, expected `,` or `}`",
            6,
        ),
        ("a #", "parse error at column 3: unexpected character `#`", 2),
        ("'abc", "parse error at column 1: unterminated string", 0),
        ("input.n +\n  )", "parse error at line 2, column 3: unexpected `)`", 12),
        ("  ", "parse error at column 1: empty expression", 0),
    ],
)
def test_syntax_errors_carry_their_position(source: str, reason: str, offset: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_cel(source)
    assert (caught.value.reason, caught.value.offset) == (reason, offset)


@pytest.mark.parametrize(
    ("text", "reason", "offset"),
    [
        ("Hello ${", "unterminated `${`: no closing `}`", 6),
        ("${ 'x }", "unterminated `${`: no closing `}`", 0),
        ("a ${ 1 + }", "parse error at column 8: unexpected end of expression", 7),
        (
            "ok ${ 1 }\n${ (2 }",
            "parse error at line 2, column 5: unexpected end of expression, expected `)`",
            14,
        ),
        ("x ${ }", "parse error at column 6: empty expression", 5),
    ],
)
def test_template_errors_point_into_the_text(text: str, reason: str, offset: int) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_template(text)
    assert (caught.value.expression, caught.value.reason) == (text, reason)
    assert caught.value.offset == offset


def test_a_failing_expression_in_a_template_names_that_expression() -> None:
    with pytest.raises(ExpressionError, match=r"^unknown name `inptu` in `inptu.s`$"):
        resolve({"a": ["ok ${ inptu.s }"]}, SCOPE)


def test_evaluate_bool() -> None:
    assert compile_cel("input.n == 3").evaluate_bool(SCOPE) is True
    assert compile_cel("has(steps.a.output.x)").evaluate_bool(SCOPE) is True
    assert compile_cel("has(steps.a.output.y)").evaluate_bool(SCOPE) is False
    assert compile_cel("has(steps.b.output.y)").evaluate_bool(SCOPE) is False
    for source, shown in [
        ("input.n", "3"),
        ("'yes'", '"yes"'),
        ("null", "null"),
        ("[true]", "[true]"),
    ]:
        with pytest.raises(ExpressionError) as caught:
            compile_cel(source).evaluate_bool(SCOPE)
        assert caught.value.reason == f"the result must be true or false, got {shown}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("input.l != null && size(input.l) == 2", True),
        ("input.m != null", True),
        ("input.z == null", True),
        ("steps.b.output != null", False),
        ("1 == 1.0 && 1u == 1 && [1] == [1.0] && {'a': 1} == {'a': 1.0}", True),
        ("1 == 'a' || true == 1 || [1] == [1, 2] || {1: 'a'} == {'1': 'a'}", False),
        ("1 != 'a' && input.l != {'a': 1}", True),
    ],
)
def test_equality_across_types_is_false_not_an_error(source: str, expected: bool) -> None:
    assert compile_cel(source).evaluate_bool(SCOPE) is expected


def test_ints_stay_ints_and_floats_stay_floats() -> None:
    for source, expected in [("input.n", 3), ("input.n + 1", 4), ("size(input.l)", 2), ("1u", 1)]:
        value = evaluate(source)
        assert (value, type(value)) == (expected, int)
    for source, expected in [("input.f * 2.0", 3.0), ("2.0", 2.0), ("double(input.n)", 3.0)]:
        value = evaluate(source)
        assert (value, type(value)) == (expected, float)
    assert evaluate("[true, 1, {'k': false}]") == [True, 1, {"k": False}]
    assert_plain(evaluate("[true, 1, {'k': false}, 2u, b'x', input]"))


def test_scope_converts_each_name_once() -> None:
    class CountingDict(dict):
        reads = 0

        def __getitem__(self, key: str) -> Any:
            self.reads += 1
            return super().__getitem__(key)

    values = CountingDict(steps={f"s{i}": {"output": i} for i in range(300)}, input={"n": 1})
    scope = Scope(values)
    for _ in range(3):
        assert evaluate("steps.s7.output + input.n", scope) == 8
    assert evaluate("steps.s9.output + item", scope.child(item=1, index=0)) == 10
    assert evaluate("'unused'", scope) == "unused"
    assert values.reads == 2  # `steps` once and `input` once


def test_child_scope_adds_and_shadows_names() -> None:
    parent = Scope({"input": {"n": 1}, "item": "outer"})
    child = parent.child(item="inner", index=4, previous=None)
    assert evaluate("[item, index, previous, input.n]", child) == ["inner", 4, None, 1]
    assert evaluate("item", parent) == "outer"
    with pytest.raises(ExpressionError, match="unknown name `index`"):
        evaluate("index", parent)
    assert evaluate("[1, 2].map(item, item * 2)", child) == [2, 4]


def test_a_scope_value_cel_cannot_hold_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("input", Scope({"input": {"when": object()}}))
    assert (
        caught.value.reason == "`input` holds a value CEL cannot use: a object is not a JSON value"
    )
    with pytest.raises(ExpressionError, match="outside the 64-bit integer range"):
        evaluate("input", Scope({"input": 2**70}))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("steps.a.output.x + steps.b.status", {"a", "b"}),
        ("input.steps", set()),
        ("input.steps.a", set()),
        ("'steps.a'", set()),
        ("steps['c'].output", {"c"}),
        ('has(steps.d.output) && steps["e"].status == "x"', {"d", "e"}),
        ("steps[input.s]", set()),
        ("[1].map(s, steps.f.output)", {"f"}),
        (".steps.g", {"g"}),
    ],
)
def test_step_references(source: str, expected: set[str]) -> None:
    assert step_references(source) == expected


def test_step_references_of_bad_source_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="parse error at column 6: unexpected end"):
        step_references("steps.")


def test_template_expressions_give_paths_relative_to_the_value() -> None:
    value = {
        "a": "${ x }",
        "args": {"company": "n ${ y } ${ z }", "n": 1},
        "l": [1, "${ w }", "$${ not }"],
        "odd key": "${ q }",
    }
    assert template_expressions(value) == [
        (".a", "x"),
        (".args.company", "y"),
        (".args.company", "z"),
        (".l[1]", "w"),
        ('["odd key"]', "q"),
    ]
    assert template_expressions("${ a }") == [("", "a")]
    assert template_expressions({"plain": "text", "n": 3}) == []
    with pytest.raises(ExpressionError) as caught:
        template_expressions({"args": {"c": "x ${ 1 + }"}})
    assert (
        caught.value.reason
        == "parse error at column 8: unexpected end of expression (at `.args.c`)"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (celtypes.BoolType(True), True),
        (celtypes.BoolType(False), False),
        (celtypes.IntType(-3), -3),
        (celtypes.UintType(4), 4),
        (celtypes.DoubleType(2.0), 2.0),
        (celtypes.StringType("é"), "é"),
        (celtypes.BytesType(b"hi"), "aGk="),
        (None, None),
        (celtypes.ListType([celtypes.IntType(1), celtypes.BoolType(False)]), [1, False]),
        (
            celtypes.MapType(
                {celtypes.StringType("k"): None, celtypes.IntType(2): celtypes.BoolType(True)}
            ),
            {"k": None, "2": True},
        ),
        (celtypes.TimestampType("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z"),
        (celtypes.TimestampType("2024-01-02T03:04:05.25+02:00"), "2024-01-02T01:04:05.250Z"),
        (celtypes.DurationType("30s"), "30s"),
        (celtypes.DurationType("1.5s"), "1.5s"),
        (celtypes.DurationType("-90m"), "-5400s"),
        (celtypes.IntType, "int"),
    ],
)
def test_to_json_on_each_celpy_type(value: Any, expected: Any) -> None:
    converted = to_json(value)
    assert converted == expected
    assert type(converted) is type(expected)
    assert_plain(converted)


def test_to_json_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ExpressionError, match="a object cannot be turned into JSON"):
        to_json([object()])
    with pytest.raises(ExpressionError, match="not a finite number"):
        to_json(celtypes.DoubleType(float("nan")))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("x", "x"),
        (True, "true"),
        (None, "null"),
        (3, "3"),
        (2.0, "2.0"),
        ([1, "a"], '[1,"a"]'),
        ({"k": 1, "a": [None]}, '{"k":1,"a":[null]}'),
        (["é"], '["é"]'),
        (celtypes.BoolType(True), "true"),
        (celtypes.MapType({celtypes.StringType("k"): celtypes.IntType(1)}), '{"k":1}'),
    ],
)
def test_render_text(value: Any, expected: str) -> None:
    assert render_text(value) == expected


def test_compile_is_cached() -> None:
    program = compile_cel("input.n + 2")
    assert compile_cel("input.n + 2") is program
    assert program.source == "input.n + 2"
    assert program.evaluate(SCOPE) == 5


@pytest.mark.parametrize(
    "source",
    ["input", " steps . a . output ", "steps.a.output.data", "steps", "item", "x_1.Y2._z"],
)
def test_plain_paths_compile_without_parsing_as_celpy_would(source: str) -> None:
    """A plain path is compiled without celpy's parser: same names and step references."""
    fast = compile_cel(source)
    assert fast._ast is None
    parsed = expr.Program(source, expr._parse(source))
    assert (fast._names, fast._steps) == (parsed._names, parsed._steps)
    scope = Scope({"input": {}, "item": 1, "x_1": {"Y2": {"_z": 3}}, "steps": {"a": {}}})
    try:
        expected: Any = parsed.evaluate(scope)
    except ExpressionError as exc:
        with pytest.raises(ExpressionError) as caught:
            fast.evaluate(scope)
        assert caught.value.reason == exc.reason
    else:
        assert fast.evaluate(scope) == expected


@pytest.mark.parametrize("source", ["a.in", "true.x", "x.null", "a.é", "a.if"])
def test_paths_with_keywords_or_other_letters_are_parsed(source: str) -> None:
    try:
        program = compile_cel(source)
    except ExpressionError:
        return  # celpy refuses it, as before
    assert program._ast is not None
