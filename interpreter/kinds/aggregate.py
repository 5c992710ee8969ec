"""aggregate steps: reduce the outputs of earlier steps, or compute a value with `expr`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow

from interpreter.kinds.base import Invocation, Runtime

with workflow.unsafe.imports_passed_through():
    from interpreter.errors import ExpressionError
    from interpreter.expr import compile_cel
    from interpreter.spec import AggregateStep
    from interpreter.state import StepError


async def run_aggregate(runtime: Runtime, inv: Invocation, fields: dict[str, Any]) -> Any:
    """The reduced value of ``items``: outputs of the ``from`` steps that succeeded."""
    spec = inv.spec
    assert isinstance(spec, AggregateStep)
    sources = spec.from_ if spec.from_ is not None else runtime.default_sources(inv.step_id)
    steps = runtime.state.steps
    items = [steps[s].output for s in sources if s in steps and steps[s].status == "succeeded"]
    if spec.expr is not None:
        try:
            return compile_cel(spec.expr).evaluate(inv.scope.child(items=items))
        except ExpressionError as exc:
            raise StepError("ExpressionError", f"expr: {exc}") from None
    return reduce_items(spec.reducer, items)


def reduce_items(reducer: str, items: list[Any]) -> Any:
    """Apply a named reducer (see ``aggregate`` in the DSL).

    Raises:
        StepError: ``AggregateError`` when the items do not suit the reducer.
    """
    try:
        return _REDUCERS[reducer](items)
    except (TypeError, ValueError) as exc:
        raise StepError("AggregateError", f"reduce `{reducer}`: {exc}") from None


def _merge(items: list[Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise TypeError(f"item {i} is {_type_name(item)}, not a map")
        merged.update(item)
    return merged


def _concat(items: list[Any]) -> Any:
    if not items:
        return []
    if all(isinstance(i, str) for i in items):
        return "".join(items)
    if all(isinstance(i, list) for i in items):
        return [x for i in items for x in i]
    raise TypeError("items must be all lists or all strings, got " + _types(items))


def _numbers(items: list[Any]) -> list[int | float]:
    for i, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise TypeError(f"item {i} is {_type_name(item)}, not a number")
    return items


def _types(items: list[Any]) -> str:
    return ", ".join(_type_name(i) for i in items)


def _type_name(value: Any) -> str:
    names = {dict: "a map", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


_REDUCERS: dict[str, Callable[[list[Any]], Any]] = {
    "collect": list,
    "merge": _merge,
    "concat": _concat,
    "sum": lambda items: sum(_numbers(items)),
    "min": lambda items: min(_numbers(items)) if items else None,
    "max": lambda items: max(_numbers(items)) if items else None,
    "first": lambda items: items[0] if items else None,
    "last": lambda items: items[-1] if items else None,
}
