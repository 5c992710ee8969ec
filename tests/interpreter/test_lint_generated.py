"""The definitions bench/lint_speed.py times lint clean (its figures are in the README)."""

from __future__ import annotations

import pytest

from bench.lint_speed import dense_definition, layered_definition
from interpreter.lint import lint_text
from interpreter.topology import Topology


@pytest.mark.parametrize("shape", ["fan-in", "layered"])
def test_the_generated_18_kb_definitions_lint_clean(shape: str) -> None:
    make = dense_definition if shape == "fan-in" else layered_definition
    text = make(18 * 1024)
    assert 18 * 1024 <= len(text) < 20 * 1024
    definition, problems = lint_text(text)
    assert problems == []
    assert definition is not None and len(definition.steps) > 80


def test_ancestors_of_a_dense_graph() -> None:
    definition, _ = lint_text(dense_definition(4 * 1024, fan_in=3))
    assert definition is not None
    topology = Topology(definition)
    assert topology.ancestors("s0") == set()
    assert topology.ancestors("s1") == {"s0"}
    assert topology.ancestors("s5") == {"s0", "s1", "s2", "s3", "s4"}
    assert topology.predecessors("s5") == ["s4", "s3", "s2"]
    assert topology.successors("s2") == ["s3", "s4", "s5"]
