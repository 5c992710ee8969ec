"""The shape of a definition's graph: edge pairs, neighbours, ancestors, cycles, order.

Pure functions over anything with ``steps`` and ``edges`` (a :class:`~interpreter.spec.Definition`
or an inline subflow). Without the ``edges`` key the steps form a chain in list order;
``edges: []`` means no edges. Pairs that name unknown ids are kept as written; lint reports them.
"""

from __future__ import annotations

import collections
import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from interpreter.errors import DefinitionError, Problem
from interpreter.spec import Edge, ParallelStep, StepSpec, SubflowStep


class Graph(Protocol):
    """Anything with steps and (optional) edges: a definition or an inline subflow step."""

    @property
    def steps(self) -> Sequence[StepSpec] | None: ...

    @property
    def edges(self) -> Sequence[Edge] | None: ...


@dataclass(frozen=True)
class EdgePair:
    """One (source, target) pair of an edge.

    Attributes:
        source: The source step id.
        target: The target step id.
        when: The edge's CEL condition, if any.
        on: Which outcome of the source the edge follows: ``succeeded``, ``failed``, ``always``.
        index: The position of the edge in ``edges``; None for the implicit chain.
    """

    source: str
    target: str
    when: str | None = None
    on: str = "succeeded"
    index: int | None = None


def step_ids(graph: Graph) -> list[str]:
    """The ids of the graph's steps in list order (steps without an id are left out)."""
    return [s.id for s in graph.steps or () if s.id is not None]


def edge_pairs(graph: Graph) -> list[EdgePair]:
    """Every (source, target) pair of the graph, in ``edges`` order.

    Args:
        graph: A definition or an inline subflow.

    Returns:
        The pairs; without an ``edges`` key, the chain of steps in list order.
    """
    if graph.edges is None:
        ids = step_ids(graph)
        return [EdgePair(a, b) for a, b in itertools.pairwise(ids)]
    return [
        EdgePair(source, target, edge.when, edge.on, index)
        for index, edge in enumerate(graph.edges)
        for source, target in edge.pairs()
    ]


class Topology:
    """The neighbours and ancestors of every step of one graph, computed once.

    Building it takes time linear in the edge pairs (ancestors are bit sets, one OR per pair),
    so lint and rendering need not rescan the edges for every step.

    Args:
        graph: A definition or an inline subflow.
    """

    def __init__(self, graph: Graph) -> None:
        self.pairs = edge_pairs(graph)
        ids = step_ids(graph)
        into: dict[str, dict[str, None]] = {n: {} for n in ids}
        out: dict[str, dict[str, None]] = {n: {} for n in ids}
        for pair in self.pairs:  # ids only edges name are nodes too, after the steps
            into.setdefault(pair.source, {})
            out.setdefault(pair.target, {})
            into.setdefault(pair.target, {})[pair.source] = None
            out.setdefault(pair.source, {})[pair.target] = None
        self.nodes: list[str] = list(dict.fromkeys([*ids, *into, *out]))
        self._into = {n: list(into.get(n, ())) for n in self.nodes}
        self._out = {n: list(out.get(n, ())) for n in self.nodes}
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.order = self._kahn_order()
        """Every node, sources before targets (nodes on or after a cycle last, in list order)."""
        self._ancestors = self._ancestor_bits()

    def predecessors(self, step_id: str) -> list[str]:
        """The sources of the edges into ``step_id``, each once, in edge order."""
        return list(self._into.get(step_id, ()))

    def successors(self, step_id: str) -> list[str]:
        """The targets of the edges out of ``step_id``, each once, in edge order."""
        return list(self._out.get(step_id, ()))

    def ancestor_bits(self, step_id: str) -> int:
        """:meth:`ancestors` as a bit set over :attr:`index`."""
        return self._ancestors.get(step_id, 0)

    def ancestors(self, step_id: str) -> set[str]:
        """Every step from which a path of edges leads to ``step_id`` (itself only on a cycle)."""
        return self.ids_of(self.ancestor_bits(step_id))

    def ids_of(self, bits: int) -> set[str]:
        """The ids whose bits are set in ``bits``."""
        found: set[str] = set()
        while bits:
            low = bits & -bits
            found.add(self.nodes[low.bit_length() - 1])
            bits ^= low
        return found

    def _kahn_order(self) -> list[str]:
        pending = {n: len(self._into[n]) for n in self.nodes}
        order = [n for n in self.nodes if pending[n] == 0]
        for node in order:  # grows while it is walked; nodes on or after a cycle stay out
            for target in self._out[node]:
                pending[target] -= 1
                if pending[target] == 0:
                    order.append(target)
        return order + [n for n in self.nodes if pending[n] > 0]

    def _ancestor_bits(self) -> dict[str, int]:
        """Ancestors of every node: a worklist in :attr:`order`, so each node of an acyclic
        graph is visited once; nodes on a cycle are revisited until nothing changes."""
        bits = dict.fromkeys(self.nodes, 0)
        queue, queued = collections.deque(self.order), set(self.order)
        while queue:
            node = queue.popleft()
            queued.discard(node)
            found = 0
            for source in self._into[node]:
                found |= bits[source] | (1 << self.index[source])
            if found != bits[node]:
                bits[node] = found
                for target in self._out[node]:
                    if target not in queued:
                        queue.append(target)
                        queued.add(target)
        return bits


def predecessors(graph: Graph, step_id: str) -> list[str]:
    """The sources of the edges into ``step_id``, each once, in edge order."""
    return Topology(graph).predecessors(step_id)


def successors(graph: Graph, step_id: str) -> list[str]:
    """The targets of the edges out of ``step_id``, each once, in edge order."""
    return Topology(graph).successors(step_id)


def ancestors(graph: Graph, step_id: str) -> set[str]:
    """Every step from which a path of edges leads to ``step_id`` (itself only on a cycle)."""
    return Topology(graph).ancestors(step_id)


def _adjacency(graph: Graph) -> tuple[list[str], dict[str, list[str]]]:
    """Node ids (steps first, then ids only named by edges) and their successors."""
    nodes = step_ids(graph)
    out: dict[str, dict[str, None]] = {n: {} for n in nodes}
    for pair in edge_pairs(graph):
        out.setdefault(pair.source, {})
        out.setdefault(pair.target, {})
        out[pair.source][pair.target] = None
    return list(out), {n: list(targets) for n, targets in out.items()}


def find_cycle(graph: Graph) -> list[str] | None:
    """A cycle of the graph, if there is one.

    Returns:
        The ids along the cycle, in order, each once (``[a, b, c]`` for a -> b -> c -> a;
        ``[a]`` for an edge from a step to itself), or None when the graph is acyclic. The
        search starts from the steps in list order, so the answer is stable.
    """
    nodes, out = _adjacency(graph)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in nodes:
        if start in state:
            continue
        path = [start]
        state[start] = 1
        iters = [iter(out[start])]
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(out[nxt]))
    return None


def topological_order(graph: Graph) -> list[str]:
    """The step ids so that every edge goes forward; ties keep the ``steps`` list order.

    Ids that edges name but no step has are left out.

    Raises:
        DefinitionError: The graph has a cycle.
    """
    ids = step_ids(graph)
    known = set(ids)
    incoming = {i: 0 for i in ids}
    _, out = _adjacency(graph)
    for source in ids:
        for target in out[source]:
            if target in known:
                incoming[target] += 1
    order: list[str] = []
    ready = [n for n, i in enumerate(ids) if incoming[i] == 0]  # a heap of list positions
    rank = {i: n for n, i in enumerate(ids)}
    while ready:
        current = ids[heapq.heappop(ready)]
        order.append(current)
        for target in out[current]:
            if target in known:
                incoming[target] -= 1
                if incoming[target] == 0:
                    heapq.heappush(ready, rank[target])
    if len(order) < len(ids):
        cycle = find_cycle(graph) or []
        text = " -> ".join([*cycle, *cycle[:1]])
        raise DefinitionError([Problem("edges", f"the steps form a cycle: {text}", code="cycle")])
    return order


def named_subflows(steps: Iterable[StepSpec]) -> Iterator[SubflowStep]:
    """Every ``subflow`` step with ``workflow:`` in ``steps``, looking inside nested specs.

    Inline subflows, ``parallel`` inner specs (``step`` and ``branches``) and ``compensate``
    specs are searched; the named workflows' own steps are not (they are not loaded here).
    """
    for step in steps:
        if isinstance(step, SubflowStep):
            if step.workflow is not None:
                yield step
            yield from named_subflows(step.steps or [])
        if isinstance(step, ParallelStep):
            inner = [step.step] if step.step is not None else []
            yield from named_subflows(inner + list((step.branches or {}).values()))
        if step.compensate is not None:
            yield from named_subflows([step.compensate])
