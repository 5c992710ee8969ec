"""The linter's graph checks, for a definition and each inline subflow: step ids
(``duplicate_id``), edges (``unknown_step``, ``branch_edge``, ``failed_edge``), ``cycle``,
``unreachable``, branch targets (``branch_target``) and aggregates (``empty_aggregate``,
``aggregate_from``); each step is then checked with what it may read (its ancestors).

:class:`GraphChecks` is the whole linter: it extends :class:`interpreter.lint_steps.StepChecks`
(which extends :class:`interpreter.lint_exprs.ExpressionChecks`); :mod:`interpreter.lint` runs it.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import Any

from interpreter.celtypes_check import Types
from interpreter.lint_exprs import Finished, LintScope
from interpreter.lint_steps import INNER_BREAKPOINT, StepChecks
from interpreter.lint_types import failing_steps, graph_types, nullable_steps
from interpreter.onerror import continues
from interpreter.spec import AggregateStep, BranchStep
from interpreter.topology import EdgePair, Graph, Topology, find_cycle


class GraphChecks(StepChecks):
    """The linter: graph checks over the per-step and expression checks (module docstring)."""

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
            before = Finished(topology.ancestor_bits(spec.id), topology.index)
            mine = types
            if spec.join == "any":
                mine = replace(types, nullable_steps=nullable_steps(g, topology, failing, spec.id))
            scope = LintScope(known, before, step, spec.id, mine)
            if spec.breakpoint is not None and prefix:
                self.add(f"{path}.breakpoint", "inner_breakpoint", INNER_BREAKPOINT, step)
            self.spec(spec, path, scope, spec.id)
            if isinstance(spec, BranchStep):
                self.branch(topology, spec, path, step)
            if isinstance(spec, AggregateStep):
                self.aggregate(spec, path, scope, topology)
        if output is not None:
            self.templates(output, f"{prefix}output", LintScope(known, None, owner, None, types))
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
                finished = None if allowed is None else Finished(allowed, topology.index)
                self.cel(edge.when, f"{where}.when", LintScope(known, finished, None, None, types))

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

    def aggregate(
        self, spec: AggregateStep, path: str, scope: LintScope, topology: Topology
    ) -> None:
        """Something to aggregate, and ``from`` naming ancestors only."""
        assert spec.id is not None
        step = scope.step
        before: Finished | frozenset[str] = scope.allowed or frozenset()
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
