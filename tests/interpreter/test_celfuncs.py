"""The CEL extension functions' edges (interpreter/celfuncs.py): errors, cost bounds, the table.

The ordinary results are docs/cel-functions.md's examples (test_cel_functions_doc.py).
"""

from __future__ import annotations

import pytest

from interpreter import celfuncs
from interpreter.errors import ExpressionError
from interpreter.expr import Scope, compile_cel, parse_template


def value(source: str, **names: object) -> object:
    return compile_cel(source).evaluate(Scope(names))


def reason(source: str, **names: object) -> str:
    with pytest.raises(ExpressionError) as caught:
        compile_cel(source).evaluate(Scope(names))
    assert caught.value.expression == source
    return caught.value.reason


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('"a".split(1)', "no overload `string.split(int)`: `split` takes `string.split(string)` "
         "or `string.split(string, int)`"),
        ("[1, 2].join()", "no overload `list.join()`: `join` takes `list(string).join()` or "
         "`list(string).join(string)`"),
        ('math.abs("x")', "no overload `math.abs(string)`: `math.abs` takes `math.abs(int)` or "
         "`math.abs(uint)` or `math.abs(double)`"),
        ("math.greatest()", "no overload `math.greatest()`: `math.greatest` takes "
         "`math.greatest(list(dyn))` or `math.greatest(dyn...)`"),
        ('math.greatest(1, "a")',
         "`math.greatest`: takes numbers (int, uint, double), got a string"),
        ("math.least([])", "`math.least`: the list is empty"),
        ("lists.range(true)", "no overload `lists.range(bool)`: `lists.range` takes "
         "`lists.range(int)`"),
        ('"abc".substring(2, 9)', "`substring`: index 9 out of range for a string of length 3"),
        ('"abc".substring(2, 1)', "`substring`: start 2 is after end 1"),
        ('"abc".charAt(4)', "`charAt`: index 4 out of range for a string of length 3"),
        ('"abc".indexOf("a", -1)', "`indexOf`: offset -1 out of range for a string of length 3"),
        ("[1, 2].slice(1, 3)", "`slice`: index 3 out of range for a list of length 2"),
        ("[[1]].flatten(-1)", "`flatten`: the depth must not be negative, got -1"),
        ('[1, "a"].sort()', "`sort`: cannot order a list of int, string"),
        ("[[1], [2]].sort()", "`sort`: cannot order a list of list"),
        ('"%d".format(["x"])', "`format`: `%d` cannot format argument 0, a string"),
        ('"%s %s".format([1])', "`format`: `%s` at 4 has no argument (index 1)"),
        ('"%q".format([1])', "`format`: unknown clause `%q` (use %s, %d, %f, %e, %b, %o, %x, %X "
         "or %%)"),
        ('"50%".format([])', "`format`: the format ends with `%` (write `%%` for a percent sign)"),
        ('"%.101f".format([1.0])', "`format`: precision 101 is over 100"),
        ('base64.decode("a*b")', "`base64.decode`: the text is not valid base64"),
        ('json.decode("{")', "`json.decode`: not JSON: Expecting property name enclosed in "
         "double quotes at character 1"),
        ('json.decode("NaN")', "`json.decode`: `NaN` is not JSON"),
        ('json.decode("[1e999]")', "`json.decode`: the number inf is out of range"),
        ('json.decode("99999999999999999999")', "`json.decode`: 99999999999999999999 is outside "
         "the 64-bit integer range"),
        ("math.abs(-9223372036854775807 - 1)", "`math.abs`: integer overflow"),
        ('string(b"\\xff")', "`string`: the bytes are not valid UTF-8"),
        ("string(1, 2)", "no overload `string(int, int)`: `string` takes `string(string)` or "
         "`string(int)` or `string(uint)` or `string(double)` or `string(bool)` or `string(bytes)` "
         "or `string(null)` or `string(list(dyn))` or `string(map(dyn, dyn))` or "
         "`string(timestamp)` or `string(duration)`"[:200]),
        ("math.nope(1)", "unknown function `math.nope`"),
        ("lists.size([1])", "unknown function `lists.size`"),
        ('[1, "a"].sortBy(x, x)', "`sortBy`: cannot order by keys of int, string"),
        ('"ab".sortBy(x, x)', "`sortBy` sorts a list, not a string"),
        ("[1, 2].sortBy(x, x / 0)", "division by zero"),
    ],
)  # fmt: skip
def test_a_bad_call_says_which_function_and_why(source: str, message: str) -> None:
    assert reason(source) == message


def test_an_error_inside_a_function_is_a_cel_error_that_or_can_absorb() -> None:
    """Like every CEL error, one from a function is a value: `true || err` is true."""
    assert value('true || "a".charAt(9) == "x"') is True
    assert value('"a".charAt(9) == "x" || true') is True


@pytest.mark.parametrize(
    ("source", "call"),
    [
        ("lists.range(1000000000)", "lists.range"),
        ("size(lists.range(300000))", "lists.range"),
        ('"aaaaaaaaaa".replace("a", "aaaaaaaaaa").replace("a", "aaaaaaaaaa")'
         '.replace("a", "aaaaaaaaaa").replace("a", "aaaaaaaaaa").replace("a", "aaaaaaaaaa")'
         '.replace("a", "aaaaaaaaaa")', "replace"),
        ("lists.range(2000).map(i, 'a').join(json.encode(lists.range(20000)))", "join"),
        ("[big, big, big, big].flatten().sort()", "sort"),
        ("text.split('')", "split"),
        ("json.decode(doc)", "json.decode"),
    ],
)  # fmt: skip
def test_a_call_that_would_build_too_much_stops_before_it_runs(source: str, call: str) -> None:
    big = list(range(40_000))
    doc = "[" + "1," * 300_000 + "1]"
    message = reason(source, big=big, text="x" * 300_000, doc=doc)
    assert message.startswith(f"the expression is too costly: `{call}` would read or build about ")
    assert message.endswith("more than is left of its budget (30,000 steps of 100 characters)")


def test_sort_by_pays_for_each_key_as_map_does() -> None:
    assert reason("big.sortBy(x, -x)", big=list(range(40_000))) == (
        "the expression is too costly: it was stopped after 30,000 evaluation steps "
        "(nested or long comprehensions?)"
    )
    assert value("big.sortBy(x, -x)[0]", big=list(range(1_000))) == 999


def test_the_largest_range_fits_the_budget() -> None:
    assert value("size(lists.range(270000))") == 270_000


def test_json_decode_refuses_deep_nesting() -> None:
    deep = "[" * 101 + "]" * 101
    assert reason(f'json.decode("{deep}")') == (
        "`json.decode`: the JSON is nested deeper than 100 levels"
    )
    assert value(f'size(json.decode("{"[" * 100 + "]" * 100}"))') == 1
    assert value('json.decode("\\"[[[[\\"")') == "[[[["  # brackets inside a string do not nest


def test_string_of_values_never_gives_a_python_repr() -> None:
    scope = Scope({"xs": ["a", {"k": [1, 2.5, True, None]}], "flag": False, "nothing": None})
    rendered = parse_template("${ string(xs) } / ${ string(flag) } / ${ string(nothing) }")
    assert rendered.render(scope) == '["a",{"k":[1,2.5,true,null]}] / false / null'
    assert value('"items: " + string(xs)', xs=["é"]) == 'items: ["é"]'
    assert value('"%s and %s".format([xs, flag])', xs=[1], flag=True) == "[1] and true"


def test_string_of_a_non_finite_double_names_it() -> None:
    assert value('string(double("NaN")) + string(double("-Inf"))') == "NaN-Inf"


def test_the_signature_table_covers_every_function() -> None:
    names = {signature.name for signature in celfuncs.SIGNATURES}
    assert names == set(celfuncs.NAMES)
    assert sorted(celfuncs.NAMESPACES) == ["base64", "json", "lists", "math", "strings"]
    (quote,) = celfuncs.signatures_of("strings.quote")
    assert (quote.receiver, quote.args, quote.result) == (None, ("string",), "string")
    split = celfuncs.signatures_of("split")
    assert [(s.receiver, s.args, s.result) for s in split] == [
        ("string", ("string",), "list(string)"),
        ("string", ("string", "int"), "list(string)"),
    ]
    assert str(celfuncs.signatures_of("math.greatest")[1]) == "math.greatest(dyn...)"
    assert sorted(celfuncs.MACROS) == ["sortBy"]


def test_a_name_of_the_scope_is_not_taken_for_a_namespace() -> None:
    """`input.math` is a map key, not the math library."""
    assert value("input.math.greatest", input={"math": {"greatest": 3}}) == 3
