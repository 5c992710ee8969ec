"""The linter's base: the problems it collects, where an expression is evaluated
(:class:`LintScope`), and the checks of every ``${}`` template and CEL expression (rules
``template``, ``cel``, ``regex``, ``unknown_reference``, ``reference`` and typed lint's).

:class:`ExpressionChecks` is the root of the linter's classes: :mod:`interpreter.lint_steps`
adds the per-step checks and :mod:`interpreter.lint_graph` the graph checks;
:mod:`interpreter.lint` runs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from interpreter.celtypes_check import Types, check
from interpreter.errors import ExpressionError, Problem
from interpreter.expr import regex_literals, step_references, template_expressions
from interpreter.limits import Limits
from interpreter.schemas import regex_problem
from interpreter.spec import Defaults, ToolDef
from interpreter.yamldoc import format_path


@dataclass(frozen=True)
class Finished:
    """A set of step ids of one graph, as bits over :attr:`Topology.index`."""

    bits: int
    index: Mapping[str, int]

    def __contains__(self, step_id: object) -> bool:
        n = self.index.get(step_id) if isinstance(step_id, str) else None
        return n is not None and bool(self.bits >> n & 1)

    def plus(self, step_id: str) -> Finished:
        n = self.index.get(step_id)
        return self if n is None else replace(self, bits=self.bits | 1 << n)


@dataclass(frozen=True)
class LintScope:
    """Where an expression is evaluated, and so which ``steps.X`` it may read.

    Attributes:
        known: The step ids of the graph.
        allowed: The ids that have surely finished (None: any known step).
        step: The step to name in problems (the top-level step concerned).
        subject: The graph step whose ancestors ``allowed`` holds (None for edges and output).
        types: What typed lint knows of the names in scope (None: nothing).
    """

    known: frozenset[str]
    allowed: Finished | None
    step: str | None
    subject: str | None = None
    types: Types | None = None

    def plus(self, step_id: str | None) -> LintScope:
        """This scope where ``step_id`` has also finished."""
        if step_id is None or self.allowed is None:
            return self
        return replace(self, allowed=self.allowed.plus(step_id))


class ExpressionChecks:
    """Collects problems while walking a definition and its inline subflows; checks its
    templates and expressions."""

    def __init__(
        self, tools: dict[str, ToolDef], defaults: Defaults, limits: Limits, inputs: Any = None
    ) -> None:
        self.problems: list[Problem] = []
        self.tools = tools
        self.defaults = defaults
        self.limits = limits
        self.inputs = inputs
        self.supplied: frozenset[str] = frozenset()  # input properties triggers give
        self.bad_edges: list[str] = []  # the graph's edge fields that name no step

    def add(
        self,
        path: str,
        code: str,
        message: str,
        step: str | None = None,
        severity: str = "error",
    ) -> None:
        self.problems.append(Problem(path, message, step=step, code=code, severity=severity))

    def templates(self, value: Any, path: str, scope: LintScope) -> None:
        """Every ``${}`` in a value field parses, compiles and reads only finished steps."""
        for where, text in _leaves(value, path):
            try:
                sources = [source for _, source in template_expressions(text)]
            except ExpressionError as exc:
                message = f"the template does not parse: {exc.reason}"
                self.add(where, "template", message, scope.step)
                continue
            for source in sources:
                self.cel(source, where, scope)

    def cel(self, source: str, path: str, scope: LintScope) -> None:
        """One CEL expression compiles and its ``steps.X`` are known steps it may read."""
        try:
            refs = step_references(source)
        except ExpressionError as exc:
            message = f"the expression does not compile: {exc.reason}"
            self.add(path, "cel", message, scope.step)
            return
        for pattern in regex_literals(source):
            if (problem := regex_problem(pattern)) is not None:
                message = f"`matches` pattern {pattern!r} is not a regular expression RE2 "
                self.add(path, "regex", message + f"accepts: {problem}", scope.step)
        for ref in sorted(refs):
            if ref not in scope.known:
                message = f"`steps.{ref}` names no step"
                self.add(path, "unknown_reference", message, scope.step)
            elif scope.allowed is not None and ref not in scope.allowed:
                message = f"`steps.{ref}` may not have finished when this is evaluated: "
                if ref == scope.subject:
                    message = f"`steps.{ref}` is this step's own result, not ready yet "
                    message += "(only its `repeat.until` may read it)"
                elif scope.subject:
                    message += f"`{ref}` is not an ancestor of `{scope.subject}`"
                else:
                    message += f"`{ref}` is neither this edge's source nor an ancestor of it"
                if self.bad_edges:
                    message += f" (`{self.bad_edges[0]}` names no step: fix that first)"
                self.add(path, "reference", message, scope.step)
        if scope.types is not None:
            for finding in check(source, scope.types):
                self.add(path, finding.code, finding.message, scope.step, finding.severity)


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` that contains ``${``, with its path."""
    if isinstance(value, str):
        if "${" in value:
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + format_path(("x", str(key)))[1:])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
