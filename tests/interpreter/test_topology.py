"""Graph helpers: edge pairs (chain or explicit), neighbours, ancestors, cycles, order."""

from __future__ import annotations

import pytest

from interpreter.errors import DefinitionError
from interpreter.loader import load_text
from interpreter.spec import Definition
from interpreter.topology import (
    EdgePair,
    ancestors,
    edge_pairs,
    find_cycle,
    predecessors,
    successors,
    topological_order,
)


def graph(edges: str | None, ids: str = "a b c d") -> Definition:
    steps = "".join(f"  - {{id: {i}, kind: code, source: x}}\n" for i in ids.split())
    text = f"kworkflow: 1\nname: g\nsteps:\n{steps}"
    return load_text(text + (f"edges: {edges}\n" if edges is not None else ""))


def test_without_edges_the_steps_form_a_chain() -> None:
    assert edge_pairs(graph(None, "a b c")) == [EdgePair("a", "b"), EdgePair("b", "c")]
    assert edge_pairs(graph("[]")) == []


def test_edges_expand_to_every_pair_with_their_index() -> None:
    g = graph("[{from: [a, b], to: [c, d], when: 'true', on: always}, {from: c, to: d}]")
    assert edge_pairs(g) == [
        EdgePair("a", "c", "true", "always", 0),
        EdgePair("a", "d", "true", "always", 0),
        EdgePair("b", "c", "true", "always", 0),
        EdgePair("b", "d", "true", "always", 0),
        EdgePair("c", "d", None, "succeeded", 1),
    ]
    assert predecessors(g, "d") == ["a", "b", "c"]
    assert successors(g, "a") == ["c", "d"]
    assert ancestors(g, "d") == {"a", "b", "c"}
    assert ancestors(g, "a") == set()


def test_topological_order_keeps_list_order_among_ready_steps() -> None:
    g = graph("[{from: d, to: a}, {from: c, to: a}]")
    assert topological_order(g) == ["b", "c", "d", "a"]
    assert find_cycle(g) is None


def test_cycles_are_found_and_refused_by_the_order() -> None:
    g = graph("[{from: a, to: b}, {from: b, to: c}, {from: c, to: a}, {from: c, to: d}]")
    assert find_cycle(g) == ["a", "b", "c"]
    assert ancestors(g, "a") == {"a", "b", "c"}
    with pytest.raises(DefinitionError) as info:
        topological_order(g)
    assert str(info.value) == "edges: the steps form a cycle: a -> b -> c -> a"
    assert find_cycle(graph("[{from: d, to: d}]")) == ["d"]
