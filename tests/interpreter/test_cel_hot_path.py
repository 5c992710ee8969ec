"""CEL's hot path (one activation per scope, straight to the only child of pass-through nodes)
evaluates and costs exactly what celpy's plain evaluation of every node did."""

from __future__ import annotations

from typing import Any

import lark
import pytest
from celpy.evaluation import Evaluator

from interpreter import celcost
from interpreter._celvalues import eval_reason
from interpreter.errors import ExpressionError
from interpreter.expr import _BASE, Program, Scope, compile_cel, to_json

SOURCES = [
    "input.a + 1",
    "input.a + 1 > 2 ? [1, 2].map(x, x * 2) : []",
    "(((input.a)))",
    "-input.a * 3 % 2 == 1 || !(input.b.size() > 2)",
    "[1, 2, 3].filter(x, x > 1).all(y, y >= 2) && input.b.startsWith('x')",
    "{'k': input.a}.k - 1",
    "input.b + 'x' + input.b",
    "input.missing + 1",
]


class _EveryNode(Evaluator):
    """The oracle: one unit per node visited, through celpy's own methods."""

    def __init__(self, ast: lark.Tree[Any], activation: Any, spent: list[int]) -> None:
        super().__init__(ast=ast, activation=activation)
        self.spent = spent

    def _visit_tree(self, tree: lark.Tree[Any]) -> Any:
        self.spent[0] += 1
        return super()._visit_tree(tree)

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        return _EveryNode(ast, self.activation, self.spent)

    def addition(self, tree: lark.Tree[Any]) -> Any:
        value = super().addition(tree)
        if len(tree.children) == 2 and isinstance(value, str | bytes | list):
            self.spent[0] += len(value) // celcost.BYTES_PER_UNIT
        return value


@pytest.mark.parametrize("source", SOURCES)
def test_same_value_and_cost_as_every_node(source: str) -> None:
    values = {"a": 5, "b": "xyz"}
    meter = celcost.Meter()
    scope = Scope({"input": values}, meter)
    program = compile_cel(source)
    value, spent_first = outcome(program, scope), meter.spent
    again = outcome(program, scope)  # the scope's activation, reused
    spent = [0]
    oracle = _EveryNode(program._ast, _BASE, spent)  # type: ignore[arg-type]
    try:
        expected: Any = to_json(oracle.evaluate(scope._context(program._names, None)))
    except Exception as exc:  # celpy raises its evaluation errors
        expected = f"{eval_reason(exc)} in `{source}`"
    assert value == again == expected
    assert spent_first == spent[0]
    assert meter.spent == 2 * spent[0]


def outcome(program: Program, scope: Scope) -> Any:
    try:
        return program.evaluate(scope)
    except ExpressionError as exc:
        return str(exc)
