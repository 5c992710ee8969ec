"""What typed lint knows of a graph: each step's output shape, the steps whose output may be
null where an expression reads it, and llm/agent steps with no model.

Used by :mod:`interpreter.lint`, which runs :func:`interpreter.celtypes_check.check` on every
expression with the :class:`~interpreter.celtypes_check.Types` made here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from interpreter.celknown import DYN, INT, STRING, CelType, from_schema
from interpreter.celtypes_check import Types, default_names, step_type
from interpreter.errors import Problem
from interpreter.onerror import continues
from interpreter.spec import (
    AgentStep,
    AggregateStep,
    Defaults,
    Definition,
    HumanStep,
    LLMStep,
    StepSpec,
    ToolDef,
)
from interpreter.topology import Graph, Topology
from interpreter.yamldoc import format_path

_NUMBER = CelType("double")
_REDUCED = {
    "collect": CelType("list"),
    "concat": CelType("list"),
    "merge": CelType("map"),
}


def output_type(spec: StepSpec) -> CelType:
    """The static type of a step's ``output`` (``dyn`` for kinds whose output is the tool's or
    the code's own)."""
    if isinstance(spec, LLMStep):
        data = from_schema(spec.output_schema) if spec.output_schema is not None else DYN
        fields = {
            "text": STRING,
            "data": data,
            "model": STRING,
            "finish_reason": STRING,
            "usage": CelType(
                "map", fields={"input_tokens": INT, "output_tokens": INT}, closed=True
            ),
            "cost_usd": _NUMBER,
        }
        return CelType("map", fields=fields, closed=True)
    if isinstance(spec, HumanStep):
        form = spec.form if spec.on_timeout == "fail" and not _templated(spec.form) else None
        fields = {
            "data": from_schema(form) if form is not None else DYN,
            "actor": DYN,
            "responded_at": DYN,
            "timed_out": CelType("bool"),
        }
        return CelType("map", fields=fields, closed=True)
    if isinstance(spec, AggregateStep) and spec.expr is None:
        return _REDUCED.get(spec.reducer, DYN)
    return DYN


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def graph_types(g: Graph, input_schema: Any, top: bool, supplied: frozenset[str]) -> Types:
    """The names and step types of one graph (``top``: the definition itself, whose ``input``
    is the definition's schema; an inline subflow's input is not typed).

    Args:
        supplied: The input properties a trigger's ``input`` gives: declared too.
    """
    names = default_names()
    if top and isinstance(input_schema, dict):
        typed = from_schema(input_schema, closed=True)
        if typed.fields is not None and supplied - typed.fields.keys():
            more = {k: DYN for k in supplied if k not in typed.fields}
            typed = replace(typed, fields={**typed.fields, **more})
        names["input"] = typed
    steps = {s.id: step_type(output_type(s)) for s in g.steps or () if s.id is not None}
    return Types(names=names, steps=steps)


def failing_steps(g: Graph, tools: dict[str, ToolDef]) -> dict[str, str]:
    """The steps of a graph whose output may be null because they may fail and go on, and why."""
    return {
        s.id: f"`{s.id}` has `on_error: continue` and may have failed"
        for s in g.steps or ()
        if s.id is not None and continues(s, tools)
    }


def nullable_steps(
    g: Graph, topology: Topology, failing: dict[str, str], reader: str | None
) -> dict[str, str]:
    """The steps whose output may be null when ``reader`` (a step id, or None) runs, and why.

    Args:
        failing: :func:`failing_steps` of the graph.
    """
    by_id = {s.id: s for s in g.steps or () if s.id is not None}
    subject = by_id.get(reader) if reader is not None else None
    if subject is None or subject.join != "any":
        return failing
    why = dict(failing)
    preds = list(topology.predecessors(reader)) if reader else []
    for step_id in by_id:
        if step_id == reader or step_id in why:
            continue
        bit = 1 << topology.index[step_id]
        on_all = all(p == step_id or topology.ancestor_bits(p) & bit for p in preds if p in by_id)
        ancestor = topology.ancestor_bits(reader) & bit if reader else 0
        if ancestor and not on_all:
            why[step_id] = f"`{reader}` has `join: any` and may run before or without it"
    return why


def model_problems(definition: Definition) -> list[Problem]:
    """llm and agent steps (top-level, inner and compensations) with no model where
    ``defaults.model`` gives none either: their activity fails every time."""
    problems: list[Problem] = []
    for i, spec in enumerate(definition.steps):
        _no_model(spec, f"steps[{i}]", definition.defaults, spec.id, problems)
    return problems


def _no_model(
    spec: StepSpec, path: str, defaults: Defaults, step: str | None, out: list[Problem]
) -> None:
    if isinstance(spec, LLMStep | AgentStep) and spec.model is None and defaults.model is None:
        message = f"this {spec.kind} step has no model: set its `model` or `defaults.model`"
        out.append(Problem(path, message, step=step, code="missing_model"))
    inner = [("step", getattr(spec, "step", None)), ("compensate", spec.compensate)]
    for name, child in inner:
        if child is not None:
            _no_model(child, f"{path}.{name}", defaults, step, out)
    for name, child in (getattr(spec, "branches", None) or {}).items():
        _no_model(child, f"{path}.{format_path(['branches', name])}", defaults, step, out)
    for j, child in enumerate(getattr(spec, "steps", None) or ()):  # an inline subflow
        if hasattr(child, "kind"):
            _no_model(child, f"{path}.steps[{j}]", defaults, step, out)
