"""Findings over a loaded definition: graph shape, branches, aggregates and every expression.

:func:`lint` returns :class:`~interpreter.errors.Problem` objects (``code`` names the rule,
``path`` the field, ``step`` the step concerned); :func:`lint_text` also loads the YAML and
fills in line and column. Inline subflows are linted as graphs of their own (their ``steps.X``
are the child's steps). Rules, by code: ``duplicate_id``, ``unknown_step``, ``cycle``,
``unreachable``, ``cel``, ``template``, ``unknown_reference``, ``reference``,
``branch_target``, ``branch_edge``, ``failed_edge``, ``empty_aggregate``, ``aggregate_from``,
``inner_kind``, ``regex`` (a literal ``matches`` pattern RE2 cannot compile), ``tool_args``
(static ``args`` that break the ``input_schema`` of the tool in ``tools:``), ``limit`` (a code
step's ``memory_mb`` or ``timeout``, a duration, a ``max_concurrency`` or a static ``for_each``
over the operator's :class:`~interpreter.limits.Limits`, or a trigger's), ``compensate_on``
(set while no step has ``compensate``), ``trigger_name``, ``cron``, ``timezone``, ``input`` (a
trigger's, :mod:`interpreter.triggers`). A
tool that is not in ``tools:`` is not a finding: it may be registered on the worker, and an
unknown tool fails its step at run time with a non-retryable ``UnknownTool``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from interpreter.celtypes_check import Types, check
from interpreter.durations import parse_duration
from interpreter.errors import DefinitionError, ExpressionError, InputError, Problem
from interpreter.expr import has_template, regex_literals, step_references, template_expressions
from interpreter.inputs import prepare_input
from interpreter.limits import DEFAULT_LIMITS, Limits, code_excesses, flow_excesses
from interpreter.lint_types import failing_steps, graph_types, nullable_steps
from interpreter.loader import document_order, load_document
from interpreter.onerror import continues
from interpreter.options import DEFAULT_TIMEOUT
from interpreter.schemas import regex_problem
from interpreter.spec import (
    INNER_FORBIDDEN_KINDS,
    AggregateStep,
    BranchStep,
    CodeStep,
    Defaults,
    Definition,
    EventStep,
    HumanStep,
    ParallelStep,
    StepSpec,
    SubflowStep,
    ToolDef,
    ToolStep,
)
from interpreter.topology import EdgePair, Graph, Topology, find_cycle
from interpreter.triggers import trigger_problems
from interpreter.yamldoc import format_path, parse_text

Check = Callable[[Definition], list[Problem]]
"""A check that needs more than the definition (the publishing tenant, the worker's grants)."""


def lint(
    definition: Definition, limits: Limits | None = None, extra: Check | None = None
) -> list[Problem]:
    """Every finding about a loaded definition, in document order.

    Args:
        definition: A definition that loaded (see :mod:`interpreter.loader`).
        limits: The operator's limits to check steps against (default: :data:`DEFAULT_LIMITS`).
        extra: More findings to add (e.g. the tenant's secret grants at publish).

    Returns:
        The problems; an empty list means the definition is clean.
    """
    limits = limits or DEFAULT_LIMITS
    linter = _Linter(definition.tools, definition.defaults, limits, definition.input)
    linter.supplied = frozenset(
        str(key)
        for trigger in definition.triggers
        if isinstance(getattr(trigger, "input", None), dict)
        for key in getattr(trigger, "input", {})
    )
    linter.graph(definition, "", None, definition.output)
    if definition.compensate_on and not any(s.compensate for s in definition.steps):
        message = "no step has `compensate`: there is nothing to compensate"
        linter.add("compensate_on", "compensate_on", message)
    linter.triggers(definition)
    if definition.concurrency is not None:  # sees `input` and `run`, no step has run yet
        linter.cel(definition.concurrency.key, "concurrency.key", _Scope(frozenset(), None, None))
    data = definition.model_dump(mode="json", by_alias=True, exclude_unset=True)
    for path, excess in flow_excesses(data, limits.flow):
        linter.add(path, "limit", excess.describe())
    linter.problems.extend(trigger_problems(definition, limits.schedules))
    if extra is not None:
        linter.problems.extend(extra(definition))
    unique = dict.fromkeys(linter.problems)
    return sorted(unique, key=lambda p: (_rank(p), document_order(p.path)))


def _rank(problem: Problem) -> int:
    """0 for an edge naming no step: the findings after it (steps it left unordered, reads
    that are no longer of ancestors) follow from it, so it is listed first."""
    return 0 if problem.code == "unknown_step" and "edges[" in problem.path else 1


def lint_text(
    text: str,
    source: str | None = None,
    limits: Limits | None = None,
    extra: Check | None = None,
) -> tuple[Definition | None, list[Problem]]:
    """Load YAML text and lint it; every problem carries its line and column.

    Args:
        text: The YAML document.
        source: A name for it, for messages.
        limits: As for :func:`lint`.
        extra: More findings to add, as for :func:`lint`.

    Returns:
        The definition (None when it does not load) and the problems: the loader's when it
        does not load, else the lint findings.
    """
    try:
        document = parse_text(text, source)
        definition = load_document(document)
    except DefinitionError as exc:
        return None, exc.problems
    located = [document.locate(p) for p in lint(definition, limits, extra)]
    order = sorted(located, key=lambda p: (_rank(p), p.line or 0, p.column or 0, p.path))
    return definition, order


def _value_fields(spec: StepSpec) -> Iterator[tuple[str, Any]]:
    """The step's value fields (typed ``Any``: literals or ``${}`` templates) that are set."""
    for name, field in type(spec).model_fields.items():
        if field.annotation is Any and not (isinstance(spec, SubflowStep) and name == "output"):
            value = getattr(spec, name)
            if value is not None:
                yield name, value


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


_INNER_BREAKPOINT = (
    "`breakpoint` applies to top-level steps only (not inside `parallel`, `compensate` or a "
    "subflow)"
)


@dataclass(frozen=True)
class _Finished:
    """A set of step ids of one graph, as bits over :attr:`Topology.index`."""

    bits: int
    index: Mapping[str, int]

    def __contains__(self, step_id: object) -> bool:
        n = self.index.get(step_id) if isinstance(step_id, str) else None
        return n is not None and bool(self.bits >> n & 1)

    def plus(self, step_id: str) -> _Finished:
        n = self.index.get(step_id)
        return self if n is None else replace(self, bits=self.bits | 1 << n)


@dataclass(frozen=True)
class _Scope:
    """Where an expression is evaluated, and so which ``steps.X`` it may read.

    Attributes:
        known: The step ids of the graph.
        allowed: The ids that have surely finished (None: any known step).
        step: The step to name in problems (the top-level step concerned).
        subject: The graph step whose ancestors ``allowed`` holds (None for edges and output).
        types: What typed lint knows of the names in scope (None: nothing).
    """

    known: frozenset[str]
    allowed: _Finished | None
    step: str | None
    subject: str | None = None
    types: Types | None = None

    def plus(self, step_id: str | None) -> _Scope:
        """This scope where ``step_id`` has also finished."""
        if step_id is None or self.allowed is None:
            return self
        return replace(self, allowed=self.allowed.plus(step_id))


class _Linter:
    """Collects problems while walking a definition and its inline subflows."""

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

    def graph(self, g: Graph, prefix: str, owner: str | None, output: Any) -> None:
        """Lint one graph: a definition (``prefix`` "") or an inline subflow ``steps[i].``."""
        steps = list(g.steps or ())
        known = frozenset(s.id for s in steps if s.id is not None)
        topology = Topology(g)
        pairs = topology.pairs
        types = graph_types(g, self.inputs, not prefix, self.supplied)
        failing = failing_steps(g, self.tools)
        types.nullable_steps = failing
        outer_bad, self.bad_edges = self.bad_edges, []
        seen: dict[str, int] = {}
        for i, spec in enumerate(steps):
            if spec.id in seen:
                message = f"step id `{spec.id}` is already used by steps[{seen[spec.id]}]"
                self.add(f"{prefix}steps[{i}].id", "duplicate_id", message, owner or spec.id)
            elif spec.id is not None:
                seen[spec.id] = i
        self.edges(g, prefix, known, topology, types)
        cycle = find_cycle(g)
        if cycle is None:
            self.unreachable(g, prefix, owner, topology)
        else:  # not also "unreachable" for every step on it; a chain loops only on duplicates
            closing = [p for p in pairs if (p.source, p.target) == (cycle[-1], cycle[0])]
            if closing[0].index is not None:
                text = " -> ".join([*cycle, cycle[0]])
                where = f"{prefix}edges[{closing[0].index}]"
                self.add(where, "cycle", f"the steps form a cycle: {text}", owner or cycle[0])
        for i, spec in enumerate(steps):
            if spec.id is None:
                continue
            path, step = f"{prefix}steps[{i}]", owner or spec.id
            before = _Finished(topology.ancestor_bits(spec.id), topology.index)
            mine = types
            if spec.join == "any":
                mine = replace(types, nullable_steps=nullable_steps(g, topology, failing, spec.id))
            scope = _Scope(known, before, step, spec.id, mine)
            if spec.breakpoint is not None and prefix:
                self.add(f"{path}.breakpoint", "inner_breakpoint", _INNER_BREAKPOINT, step)
            self.spec(spec, path, scope, spec.id)
            if isinstance(spec, BranchStep):
                self.branch(topology, spec, path, step)
            if isinstance(spec, AggregateStep):
                self.aggregate(spec, path, scope, topology)
        if output is not None:
            self.templates(output, f"{prefix}output", _Scope(known, None, owner, None, types))
        self.bad_edges = outer_bad

    def edges(
        self, g: Graph, prefix: str, known: frozenset[str], topology: Topology, types: Types
    ) -> None:
        """Unknown ids in edges, ``on: failed`` without ``on_error: continue``, branch edges."""
        by_id = {s.id: s for s in g.steps or () if s.id is not None}
        for k, edge in enumerate(g.edges or ()):
            where = f"{prefix}edges[{k}]"
            for field, ids in (("from", edge.from_), ("to", edge.to)):
                named = (
                    [(f"{where}.{field}", ids)]
                    if isinstance(ids, str)
                    else [(f"{where}.{field}[{n}]", i) for n, i in enumerate(ids)]
                )
                for path, step_id in named:
                    if step_id not in known:
                        close = difflib.get_close_matches(step_id, sorted(known), 1, 0.6)
                        hint = f" (did you mean `{close[0]}`?)" if close else ""
                        self.add(path, "unknown_step", f"`{step_id}` is not a step id{hint}")
                        self.bad_edges.append(path)
            sources = list(dict.fromkeys(s for s, _ in edge.pairs() if s in by_id))
            for source in sources:
                spec = by_id[source]
                if isinstance(spec, BranchStep):
                    message = f"edges out of branch `{source}` carry no `when` or `on`: "
                    message += "its cases choose the edge"
                    if edge.when is not None:
                        self.add(f"{where}.when", "branch_edge", message, source)
                    if "on" in edge.model_fields_set:
                        self.add(f"{where}.on", "branch_edge", message, source)
                elif edge.on == "failed" and not continues(spec, self.tools):
                    message = f"`{source}` has no `on_error: continue`, so this `on: failed` "
                    message += f"edge is never taken (a failure of `{source}` fails the run)"
                    self.add(f"{where}.on", "failed_edge", message, source)
            if edge.when is not None:
                allowed: int | None = None  # the sources and their ancestors
                for source in sources:
                    mine = topology.ancestor_bits(source) | 1 << topology.index[source]
                    allowed = mine if allowed is None else allowed & mine
                finished = None if allowed is None else _Finished(allowed, topology.index)
                self.cel(edge.when, f"{where}.when", _Scope(known, finished, None, None, types))

    def unreachable(self, g: Graph, prefix: str, owner: str | None, topology: Topology) -> None:
        """Steps none of whose incoming edges can ever be taken, and the steps after them.

        Only called on an acyclic graph: one pass in topological order decides every step.
        """
        by_id = {s.id: s for s in g.steps or () if s.id is not None}
        dead: dict[str, str] = {}

        def reason(pair: EdgePair) -> str | None:
            source = by_id.get(pair.source)
            if source is None:
                return None
            if pair.source in dead:
                return f"`{pair.source}` can never run"
            if isinstance(source, BranchStep):
                targets = {c.to for c in source.cases} | {source.default}
                return (
                    None if pair.target in targets else f"branch `{pair.source}` never chooses it"
                )
            if pair.on == "failed" and not continues(source, self.tools):
                return f"its `on: failed` edge from `{pair.source}` is never taken"
            return None

        incoming: dict[str, list[EdgePair]] = {}
        for pair in topology.pairs:
            incoming.setdefault(pair.target, []).append(pair)
        for step_id in topology.order:
            if step_id in dead or step_id not in incoming:
                continue
            reasons = [reason(p) for p in incoming[step_id]]
            if all(r is not None for r in reasons):
                dead[step_id] = "; ".join(dict.fromkeys(r for r in reasons if r))
        for i, spec in enumerate(g.steps or ()):
            if spec.id in dead:
                message = f"step `{spec.id}` can never run: {dead[spec.id]}"
                self.add(f"{prefix}steps[{i}]", "unreachable", message, owner or spec.id)

    def spec(
        self,
        spec: StepSpec,
        path: str,
        scope: _Scope,
        self_id: str | None,
        outer_timeout: tuple[str, str] | None = None,
    ) -> None:
        """The expressions of one step spec and of the inner specs it holds.

        Args:
            spec: The spec.
            path: Its path.
            scope: What its expressions may read.
            self_id: The spec's own id (None for inner specs): its ``repeat.until`` may read it.
            outer_timeout: The path and value of the enclosing ``parallel``'s ``timeout``.
        """
        step = scope.step
        if spec.breakpoint is not None and self_id is None:
            self.add(f"{path}.breakpoint", "inner_breakpoint", _INNER_BREAKPOINT, step)
        for name, value in _value_fields(spec):
            self.templates(value, f"{path}.{name}", scope)
        if isinstance(spec, ToolStep):
            self.tool_args(spec, path, step)
        if isinstance(spec, CodeStep):
            self.code_limits(spec, path, step, outer_timeout)
        if spec.repeat is not None:
            self.cel(spec.repeat.until, f"{path}.repeat.until", scope.plus(self_id))
        if isinstance(spec, AggregateStep) and spec.expr is not None:
            self.cel(spec.expr, f"{path}.expr", scope)
        if isinstance(spec, EventStep) and spec.filter is not None:
            self.cel(spec.filter, f"{path}.filter", scope)
        concurrency = getattr(spec, "concurrency", None)
        if concurrency is not None:
            self.cel(concurrency.key, f"{path}.concurrency.key", scope)
        rate_limit = getattr(spec, "rate_limit", None)
        if rate_limit is not None:
            self.cel(rate_limit.key, f"{path}.rate_limit.key", scope)
        if isinstance(spec, BranchStep):
            for j, case in enumerate(spec.cases):
                self.cel(case.when, f"{path}.cases[{j}].when", scope)
        if isinstance(spec, ParallelStep):
            inner = [(f"{path}.step", spec.step)] if spec.step is not None else []
            inner += [
                (f"{path}.{format_path(['branches', name])}", b)
                for name, b in (spec.branches or {}).items()
            ]
            outer = (f"{path}.timeout", spec.timeout) if spec.timeout else outer_timeout
            for inner_path, inner_spec in inner:
                if inner_spec.kind in INNER_FORBIDDEN_KINDS:
                    article = "an" if inner_spec.kind[0] in "aeiou" else "a"
                    message = f"{article} {inner_spec.kind} step cannot run inside `parallel`"
                    self.add(f"{inner_path}.kind", "inner_kind", message, step)
                self.spec(inner_spec, inner_path, scope, None, outer)
        if spec.compensate is not None:
            comp = spec.compensate
            if isinstance(comp, BranchStep):
                message = "a branch cannot compensate a step: it has no edges to choose from"
                self.add(f"{path}.compensate.kind", "inner_kind", message, step)
            if isinstance(comp, HumanStep | EventStep):
                message = (
                    f"{'a human' if isinstance(comp, HumanStep) else 'an event'} step cannot "
                    "compensate a step: compensations run unattended"
                )
                self.add(f"{path}.compensate.kind", "inner_kind", message, step)
            self.spec(comp, f"{path}.compensate", scope.plus(self_id), None)
        if isinstance(spec, SubflowStep) and spec.steps is not None:
            self.graph(spec, f"{path}.", step, spec.output)

    def triggers(self, definition: Definition) -> None:
        """A trigger's ``filter`` and ``input`` see ``event`` (a webhook's: ``body`` and
        ``headers``) only: no ``steps.X``; a webhook name is used once."""
        scope = _Scope(frozenset(), None, None)
        for i, trigger in definition.event_triggers():
            if trigger.filter is not None:
                self.cel(trigger.filter, f"triggers[{i}].filter", scope)
            if trigger.input is not None:
                self.templates(trigger.input, f"triggers[{i}].input", scope)
        hooks: dict[str, int] = {}
        for i, hook in definition.webhook_triggers():  # they see `body` and `headers`
            if hook.webhook in hooks:
                first = hooks[hook.webhook]
                message = f"webhook {hook.webhook!r} is already used by triggers[{first}]"
                self.add(f"triggers[{i}].webhook", "trigger_name", message, None)
            hooks.setdefault(hook.webhook, i)
            if hook.filter is not None:
                self.cel(hook.filter, f"triggers[{i}].filter", scope)
            if hook.input is not None:
                self.templates(hook.input, f"triggers[{i}].input", scope)

    def tool_args(self, spec: ToolStep, path: str, step: str | None) -> None:
        """Static ``args`` (no ``${}``) fit the ``input_schema`` of the tool in ``tools:``."""
        tool = self.tools.get(spec.tool)
        if tool is None or tool.input_schema is None or has_template(spec.args):
            return
        try:
            prepare_input(tool.input_schema, spec.args)
        except InputError as exc:
            where = "args" + (exc.path if exc.path[:1] in ("", "[") else f".{exc.path}")
            message = f"`{where}`: {exc.reason} (input_schema of tool `{spec.tool}`)"
            self.add(f"{path}.args", "tool_args", message, step)

    def code_limits(
        self, spec: CodeStep, path: str, step: str | None, outer: tuple[str, str] | None
    ) -> None:
        """``memory_mb`` and the attempt's timeout within the operator's code limits."""
        layers = [
            (f"{path}.timeout", spec.timeout),
            outer,
            ("defaults.timeout", self.defaults.timeout),
        ]
        where, timeout = next(((w, t) for w, t in filter(None, layers) if t), (path, None))
        try:
            attempt = parse_duration(timeout) if timeout else DEFAULT_TIMEOUT
        except (ValueError, OverflowError):
            return  # the loader reports a duration it cannot read
        for excess in code_excesses(spec.memory_mb, attempt, self.limits.code):
            field_path = f"{path}.memory_mb" if excess.field == "memory_mb" else where
            message = excess.describe()
            if excess.field == "timeout" and field_path != f"{path}.timeout":
                source = "the default" if timeout is None else f"from `{field_path}`"
                message += f"; {source} applies to this code step: give it a shorter `timeout`"
            self.add(field_path, "limit", message, step)

    def branch(self, topology: Topology, spec: BranchStep, path: str, step: str) -> None:
        """Case targets and ``default`` must be successors of the branch."""
        assert spec.id is not None
        after = set(topology.successors(spec.id))
        targets = [(f"{path}.cases[{j}].to", c.to) for j, c in enumerate(spec.cases)]
        targets += [(f"{path}.default", spec.default)] if spec.default is not None else []
        for where, target in targets:
            if target not in after:
                message = f"`{target}` is not a successor of branch `{spec.id}`: "
                message += f"add an edge from `{spec.id}` to `{target}`"
                self.add(where, "branch_target", message, step)

    def aggregate(self, spec: AggregateStep, path: str, scope: _Scope, topology: Topology) -> None:
        """Something to aggregate, and ``from`` naming ancestors only."""
        assert spec.id is not None
        step = scope.step
        before: _Finished | frozenset[str] = scope.allowed or frozenset()
        if spec.from_ is None and spec.expr is None and not topology.predecessors(spec.id):
            message = f"aggregate `{spec.id}` has nothing to aggregate: "
            message += "give it `from`, incoming edges or an `expr`"
            self.add(path, "empty_aggregate", message, step)
        for j, source in enumerate(spec.from_ or ()):
            where = f"{path}.from[{j}]"
            if source not in scope.known:
                self.add(where, "unknown_step", f"`{source}` is not a step id", step)
            elif source not in before:
                message = f"`{source}` is not an ancestor of `{spec.id}`: "
                message += f"it may not have finished when `{spec.id}` runs"
                self.add(where, "aggregate_from", message, step)

    def templates(self, value: Any, path: str, scope: _Scope) -> None:
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

    def cel(self, source: str, path: str, scope: _Scope) -> None:
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
