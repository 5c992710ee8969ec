"""The cost of CEL evaluation: a budget per expression, and a meter of a run's work.

Like cel-go's cost limit, cost counts what an evaluation does, not how long it takes, so it is
deterministic and a replay spends exactly what the original run spent:

- one unit per node of the expression evaluated (a macro such as ``map`` or ``all`` evaluates
  its body once per element, so nested comprehensions pay for every iteration);
- one more unit per :data:`BYTES_PER_UNIT` elements (characters, bytes, list items) of every
  string or list that ``+`` builds;
- for an extension function (:mod:`interpreter.celfuncs`), one more unit per
  :data:`BYTES_PER_UNIT` characters of what its estimate says the call reads and builds,
  charged *before* the call, so ``lists.range(1000000000)`` stops without building anything.

An expression that spends more than :data:`EXPRESSION_BUDGET` stops with :class:`CostExceeded`
(the interpreter turns it into an ``ExpressionError``). A :class:`Meter` adds up what the
evaluations of one run spent, so the workflow can pause before it passes Temporal's deadlock
limit (see :mod:`interpreter.pacing`).
"""

from __future__ import annotations

from typing import Any

import lark
from celpy.evaluation import Activation, CELEvalError, Evaluator

from interpreter._celfuncs_base import cel_type
from interpreter.celfuncs import FUNCTIONS

_NAMESPACES = {name.split(".")[0]: name for name in FUNCTIONS if "." in name}
"""One function of each namespace: whether an activation has that namespace at all."""

EXPRESSION_BUDGET = 30_000
"""The most one evaluation of one expression may cost (a few tenths of a second of CPU on a
loaded core: celpy spends 10-25 us per unit)."""
BYTES_PER_UNIT = 100
"""How many characters (or list items) a ``+`` may build per unit of cost."""


class CostExceeded(Exception):
    """An evaluation spent more than its budget."""

    def __init__(self, budget: int, call: str | None = None, size: int = 0) -> None:
        if call is None:
            reason = (
                f"it was stopped after {budget:,} evaluation steps (nested or long comprehensions?)"
            )
        else:
            reason = (
                f"`{call}` would read or build about {size:,} characters, more than is left of "
                f"its budget ({budget:,} steps of {BYTES_PER_UNIT} characters)"
            )
        super().__init__(f"the expression is too costly: {reason}")
        self.budget = budget


class Meter:
    """What the evaluations of one run have cost so far, in units.

    Attributes:
        spent: The units spent, never reset.
    """

    __slots__ = ("spent",)

    def __init__(self) -> None:
        self.spent = 0

    def charge(self, units: int) -> None:
        """Add ``units`` of work done outside CEL (starting a step, an iteration)."""
        self.spent += units


_PASS_THROUGH = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary",
     "member"}
)  # fmt: skip
"""Grammar rules whose celpy method, given one child, returns that child's value (the chain
``expr > conditionalor > ... > member`` around every operand). The evaluator goes straight to
the child, still charging one unit per node, so a cost is what it was."""


class _Budget:
    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def charge(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise CostExceeded(self.limit)


class _BoundedEvaluator(Evaluator):
    """celpy's evaluator, charging every node it visits (and its macros' bodies) to a budget."""

    def __init__(self, ast: lark.Tree[Any], activation: Activation, budget: _Budget) -> None:
        super().__init__(ast=ast, activation=activation)
        self._budget = budget

    def _visit_tree(self, tree: lark.Tree[Any]) -> Any:
        self._budget.charge(1)
        children = tree.children
        while tree.data in _PASS_THROUGH and len(children) == 1 and type(children[0]) is lark.Tree:
            tree = children[0]  # what celpy's method returns: its only child's value
            children = tree.children
            self._budget.charge(1)
        return super()._visit_tree(tree)

    def sub_evaluator(self, ast: lark.Tree[Any]) -> Evaluator:
        return _BoundedEvaluator(ast, self.activation, self._budget)

    def member_dot_arg(self, tree: lark.Tree[Any]) -> Any:
        """``math.greatest(a, b)``: a namespaced extension function, not a method of ``math``."""
        if _is_macro(tree, self.activation):
            return self._sort_by(tree)
        name = _namespaced(tree, self.activation)
        if name is None:
            return super().member_dot_arg(tree)
        if name.startswith("?"):
            return CELEvalError(f"unknown function `{name[1:]}`")
        args = self.visit(tree.children[2]) if len(tree.children) == 3 else []
        return self.function_eval(lark.Token("IDENT", name), args)

    def _sort_by(self, tree: lark.Tree[Any]) -> Any:
        """``list.sortBy(x, key)``: ``key`` evaluated for each item, as ``map`` would."""
        items = self.visit(tree.children[0])
        if isinstance(items, CELEvalError):
            return items
        if not isinstance(items, list):
            return CELEvalError(f"`sortBy` sorts a list, not a {cel_type(items)}")
        key_of = self.build_macro_eval(tree)
        keys = []
        for item in items:
            key = key_of(item)
            if isinstance(key, CELEvalError):
                return key
            keys.append(key)
        self._budget.charge(len(items) * max(1, len(items).bit_length()) // BYTES_PER_UNIT)
        return self.activation.resolve_function("sortBy")(items, keys)

    def function_eval(self, name_token: lark.Token, exprlist: Any = None) -> Any:
        if not isinstance(exprlist, CELEvalError):
            self._charge_call(str(name_token), list(exprlist or ()))
        return super().function_eval(name_token, exprlist)

    def method_eval(self, object: Any, method_ident: lark.Token, exprlist: Any = None) -> Any:
        if not isinstance(exprlist, CELEvalError):
            self._charge_call(str(method_ident), [object, *(exprlist or ())])
        return super().method_eval(object, method_ident, exprlist)

    def _charge_call(self, name: str, args: list[Any]) -> None:
        """Charge an extension function's estimated cost before it runs (see the module)."""
        try:
            estimate = getattr(self.activation.resolve_function(name), "cel_cost", None)
        except KeyError:
            return
        if estimate is None or any(isinstance(arg, CELEvalError) for arg in args):
            return
        try:
            size = int(estimate(*args))
        except Exception:  # wrong types or arity: the function itself reports them
            return
        units = size // BYTES_PER_UNIT
        if units > self._budget.left:
            raise CostExceeded(self._budget.limit, name, size)
        self._budget.charge(units)

    def addition(self, tree: lark.Tree[Any]) -> Any:
        value = super().addition(tree)
        if len(tree.children) == 2 and isinstance(value, str | bytes | list):
            self._budget.charge(len(value) // BYTES_PER_UNIT)
        return value


def _is_macro(tree: lark.Tree[Any], activation: Activation) -> bool:
    """Whether ``tree`` calls an extension macro (``sortBy(x, key)``) that the activation has."""
    args = tree.children[2] if len(tree.children) == 3 else None
    if str(tree.children[1]) != "sortBy" or not isinstance(args, lark.Tree):
        return False
    if len(args.children) != 2:
        return False
    try:
        return bool(getattr(activation.resolve_function("sortBy"), "cel_macro", False))
    except KeyError:
        return False


def _namespaced(tree: lark.Tree[Any], activation: Activation) -> str | None:
    """``ns.name`` if ``tree`` calls ``name`` on the bare identifier ``ns`` and the activation
    has a function of that name; ``?ns.name`` if it has others of ``ns`` but not that one;
    else None."""
    node = tree.children[0]
    while isinstance(node, lark.Tree) and node.data in ("member", "primary") and node.children:
        node = node.children[0]
    if not (isinstance(node, lark.Tree) and node.data == "ident"):
        return None
    namespace = str(node.children[0])
    name = f"{namespace}.{tree.children[1]}"
    try:
        activation.resolve_function(name)
    except KeyError:
        probe = _NAMESPACES.get(namespace)  # `math.nope(1)`: say `math.nope`, not `nope`
        try:
            return None if probe is None or not activation.resolve_function(probe) else f"?{name}"
        except KeyError:
            return None
    return name


def evaluate(
    ast: lark.Tree[Any],
    activation: Activation,
    context: dict[str, Any] | None,
    meter: Meter | None = None,
    budget: int = EXPRESSION_BUDGET,
) -> Any:
    """Evaluate a compiled CEL expression within ``budget``, charging what it cost to ``meter``.

    ``context`` is loaded into a clone of ``activation``; None evaluates in ``activation`` itself
    (one made once for many evaluations).

    Raises:
        CostExceeded: The evaluation cost more than ``budget``.
        Exception: Whatever celpy raises for a failed evaluation.
    """
    bounded = _Budget(budget)
    try:
        return _BoundedEvaluator(ast, activation, bounded).evaluate(context)
    finally:
        if meter is not None:
            meter.spent += bounded.limit - max(bounded.left, 0)
