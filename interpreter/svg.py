"""A definition's graph as a standalone SVG document, laid out in layers without any library.

A step's layer is the length of the longest path from a root to it (topological order), so
every edge points down. Each node is ``<g class="step status-<status>" data-step="<id>">``
holding a rounded box with the step's id and kind: a stylesheet colours it by status and a
script can change the class when the status changes. Edges are paths with an arrowhead and,
when they have one, a small label (``when``, ``on``, a branch's case or ``default``), the same
labels as :mod:`interpreter.render`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from interpreter.errors import DefinitionError
from interpreter.render import STATUS_COLORS
from interpreter.render import _edge_label as edge_label  # the labels of DOT and Mermaid
from interpreter.spec import Definition
from interpreter.topology import edge_pairs, topological_order

NODE_WIDTH = 168
NODE_HEIGHT = 46
GAP_X = 36
GAP_Y = 72
MARGIN = 20
MAX_LABEL = 28
"""Labels longer than this are cut with an ellipsis (the full text is in a ``<title>``)."""


@dataclass(frozen=True)
class _Node:
    id: str
    kind: str
    x: float
    y: float


def layers(definition: Definition) -> list[list[str]]:
    """The node ids by layer: layer n holds the nodes whose longest path from a root is n.

    Ids that edges name but no step has come after the steps; a graph with a cycle (which lint
    refuses) falls back to list order so it can still be drawn.
    """
    pairs = edge_pairs(definition)
    try:
        order = topological_order(definition)
    except DefinitionError:
        order = [s.id for s in definition.steps if s.id is not None]
    for pair in pairs:
        for node in (pair.source, pair.target):
            if node not in order:
                order.append(node)
    rank = {node: n for n, node in enumerate(order)}
    depth = dict.fromkeys(order, 0)
    for node in order:
        for pair in pairs:
            if pair.source == node and rank[pair.target] > rank[node]:
                depth[pair.target] = max(depth[pair.target], depth[node] + 1)
    result: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in order:
        result[depth[node]].append(node)
    return result


def svg(definition: Definition, statuses: Mapping[str, str] | None = None) -> str:
    """Draw the definition's graph as SVG.

    Args:
        definition: The definition.
        statuses: Step id -> status; a step without one is ``pending``. Unknown statuses are
            drawn as ``pending``.

    Returns:
        An ``<svg>`` document (no XML declaration, so it can be inlined in HTML).
    """
    kinds = {s.id: s.kind for s in definition.steps if s.id is not None}
    rows = layers(definition)
    widest = max((len(row) for row in rows), default=0)
    width = MARGIN * 2 + max(widest * NODE_WIDTH + (widest - 1) * GAP_X, NODE_WIDTH)
    height = MARGIN * 2 + max(len(rows) * NODE_HEIGHT + (len(rows) - 1) * GAP_Y, NODE_HEIGHT)
    nodes: dict[str, _Node] = {}
    for depth, row in enumerate(rows):
        row_width = len(row) * NODE_WIDTH + (len(row) - 1) * GAP_X
        left = (width - row_width) / 2
        for n, node_id in enumerate(row):
            x = left + n * (NODE_WIDTH + GAP_X)
            y = MARGIN + depth * (NODE_HEIGHT + GAP_Y)
            nodes[node_id] = _Node(node_id, kinds.get(node_id, ""), x, y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="kw-graph" width="{width:g}" '
        f'height="{height:g}" viewBox="0 0 {width:g} {height:g}" role="img" '
        f'aria-label="{escape(definition.name)} graph">',
        '<defs><marker id="kw-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"/></marker></defs>',
        "<style>" + _style() + "</style>",
    ]
    for pair in edge_pairs(definition):
        source, target = nodes[pair.source], nodes[pair.target]
        parts.append(_edge(source, target, edge_label(definition, pair), pair.on))
    for node in nodes.values():
        status = (statuses or {}).get(node.id, "pending")
        parts.append(_node(node, status if status in STATUS_COLORS else "pending"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _style() -> str:
    """Default colours, so the SVG reads well on its own (a page's CSS may override them)."""
    rules = [
        ".kw-graph{font-family:system-ui,sans-serif}",
        ".kw-graph .step rect{stroke-width:2}",
        ".kw-graph .step .id{font-size:13px;font-weight:600;fill:#212121}",
        ".kw-graph .step .kind{font-size:11px;fill:#616161}",
        ".kw-graph .edge path{fill:none;stroke:#90a4ae;stroke-width:1.5}",
        ".kw-graph .edge.on-failed path{stroke:#e53935;stroke-dasharray:5 3}",
        ".kw-graph .edge.on-always path{stroke-dasharray:2 3}",
        ".kw-graph .edge text{font-size:10px;fill:#455a64}",
        ".kw-graph .arrowhead{fill:#90a4ae}",
    ]
    for status, (fill, border) in STATUS_COLORS.items():
        rules.append(f".kw-graph .status-{status} rect{{fill:{fill};stroke:{border}}}")
    return "".join(rules)


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "\u2026"


def _node(node: _Node, status: str) -> str:
    cx = node.x + NODE_WIDTH / 2
    ident = escape(node.id)
    lines = [
        f'<g class="step status-{status}" data-step="{ident}" tabindex="0" role="button">',
        f"<title>{ident}{' (' + escape(node.kind) + ')' if node.kind else ''}</title>",
        f'<rect x="{node.x:g}" y="{node.y:g}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" '
        'rx="10" ry="10"/>',
        f'<text class="id" x="{cx:g}" y="{node.y + 20:g}" text-anchor="middle">'
        f"{escape(_short(node.id))}</text>",
    ]
    if node.kind:
        lines.append(
            f'<text class="kind" x="{cx:g}" y="{node.y + 36:g}" text-anchor="middle">'
            f"{escape(node.kind)}</text>"
        )
    lines.append("</g>")
    return "".join(lines)


def _edge(source: _Node, target: _Node, label: str, on: str) -> str:
    x1, y1 = source.x + NODE_WIDTH / 2, source.y + NODE_HEIGHT
    x2, y2 = target.x + NODE_WIDTH / 2, target.y
    if y2 <= y1:  # an edge that does not go down (only in a graph lint refuses): side to side
        x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT / 2
        x2, y2 = target.x + NODE_WIDTH, target.y + NODE_HEIGHT / 2
        bend = NODE_WIDTH / 2
        d = f"M {x1:g} {y1:g} C {x1 + bend:g} {y1:g}, {x2 + bend:g} {y2:g}, {x2:g} {y2:g}"
    else:
        mid = (y1 + y2) / 2
        d = f"M {x1:g} {y1:g} C {x1:g} {mid:g}, {x2:g} {mid:g}, {x2:g} {y2:g}"
    ids = f'data-from="{escape(source.id)}" data-to="{escape(target.id)}"'
    text = ""
    if label:
        lx, ly = (x1 + x2) / 2, (y1 + y2) / 2
        text = (
            f'<text x="{lx + 4:g}" y="{ly - 3:g}"><title>{escape(label)}</title>'
            f"{escape(_short(label))}</text>"
        )
    return (
        f'<g class="edge on-{escape(on)}" {ids}><path d="{d}" marker-end="url(#kw-arrow)"/>'
        f"{text}</g>"
    )
