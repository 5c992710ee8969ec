"""The SVG drawing of a definition: layers, nodes with status classes, edges with labels."""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET

from interpreter.loader import load_text
from interpreter.svg import layers, svg

NS = {"s": "http://www.w3.org/2000/svg"}

FLOW = load_text(
    textwrap.dedent(
        """\
        kworkflow: 1
        name: flow
        steps:
          - {id: start, kind: aggregate, expr: '1'}
          - id: choose
            kind: branch
            cases: [{when: input.big, to: big}]
            default: small
          - {id: big, kind: aggregate, expr: '2'}
          - {id: small, kind: aggregate, expr: '3'}
          - {id: ask, kind: human, prompt: "ok"}
          - {id: oops, kind: aggregate, expr: '4'}
        edges:
          - {from: start, to: choose}
          - {from: choose, to: [big, small]}
          - {from: [big, small], to: ask}
          - {from: start, to: oops, on: failed}
        """
    )
)


def test_layers_are_longest_paths_from_a_root() -> None:
    assert layers(FLOW) == [["start"], ["choose", "oops"], ["big", "small"], ["ask"]]


def test_nodes_carry_their_status_as_a_class() -> None:
    root = ET.fromstring(svg(FLOW, {"start": "succeeded", "choose": "running", "x": "pending"}))
    nodes = root.findall("s:g", NS)
    steps = [g for g in nodes if "step" in g.get("class", "").split()]
    assert [(g.get("data-step"), g.get("class")) for g in steps] == [
        ("start", "step status-succeeded"),
        ("choose", "step status-running"),
        ("oops", "step status-pending"),
        ("big", "step status-pending"),
        ("small", "step status-pending"),
        ("ask", "step status-pending"),
    ]
    start = steps[0]
    assert [t.text for t in start.findall("s:text", NS)] == ["start", "aggregate"]
    assert start.find("s:rect", NS) is not None


def test_edges_have_arrows_and_labels() -> None:
    root = ET.fromstring(svg(FLOW))
    edges = [g for g in root.findall("s:g", NS) if "edge" in g.get("class", "").split()]
    shown = [
        (
            g.get("data-from"),
            g.get("data-to"),
            g.get("class"),
            t.find("s:title", NS).tail if (t := g.find("s:text", NS)) is not None else None,
        )
        for g in edges
    ]
    assert shown == [
        ("start", "choose", "edge on-succeeded", None),
        ("choose", "big", "edge on-succeeded", "input.big"),
        ("choose", "small", "edge on-succeeded", "default"),
        ("big", "ask", "edge on-succeeded", None),
        ("small", "ask", "edge on-succeeded", None),
        ("start", "oops", "edge on-failed", "failed"),
    ]
    assert all(g.find("s:path", NS).get("marker-end") == "url(#kw-arrow)" for g in edges)


def test_a_chain_without_edges_and_unsafe_text() -> None:
    chain = load_text(
        textwrap.dedent(
            """\
            kworkflow: 1
            name: chain
            steps:
              - {id: a, kind: aggregate, expr: '1'}
              - {id: b, kind: aggregate, expr: '2'}
            """
        )
    )
    drawn = svg(chain, {"a": "<bad>"})
    assert len(re.findall(r'<g class="step ', drawn)) == 2
    assert 'class="step status-pending" data-step="a"' in drawn  # unknown status: pending
    assert layers(chain) == [["a"], ["b"]]
    assert "<bad>" not in drawn
