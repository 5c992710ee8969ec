"""A definition's graph as Graphviz DOT or a Mermaid flowchart, optionally coloured by status.

One node per step, labelled with its id and kind (branch: a diamond; human: a parallelogram);
edges labelled with their ``when`` and ``on`` (``failed``/``always``), a branch's edges with the
case that takes them (``default`` for the default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from interpreter.spec import BranchStep, Definition
from interpreter.topology import EdgePair, edge_pairs

STATUS_COLORS: dict[str, tuple[str, str]] = {
    "pending": ("#f5f5f5", "#9e9e9e"),
    "queued": ("#ede7f6", "#7e57c2"),
    "running": ("#bbdefb", "#1e88e5"),
    "waiting": ("#fff3c4", "#f9a825"),
    "succeeded": ("#c8e6c9", "#43a047"),
    "failed": ("#ffcdd2", "#e53935"),
    "skipped": ("#eeeeee", "#bdbdbd"),
    "cancelled": ("#d7ccc8", "#6d4c41"),
}
"""Fill and border colour of a node by step status."""

_DOT_SHAPES = {"branch": "diamond", "human": "parallelogram"}
_MERMAID_SHAPES = {"branch": ('{"', '"}'), "human": ('[/"', '"/]')}


def render(
    definition: Definition,
    fmt: Literal["dot", "mermaid"],
    statuses: Mapping[str, str] | None = None,
) -> str:
    """Draw the definition's graph.

    Args:
        definition: The definition (ids that edges name but no step has become plain nodes).
        fmt: ``dot`` (Graphviz) or ``mermaid`` (a ``flowchart TD``).
        statuses: Step id -> status (``pending``, ``running``, ``waiting``, ``succeeded``,
            ``failed``, ``skipped``, ``cancelled``); nodes are coloured by it. Unknown
            statuses are left uncoloured.

    Returns:
        The text, ending with a newline.
    """
    nodes: list[tuple[str, str]] = [(s.id, s.kind) for s in definition.steps if s.id is not None]
    named = {n for n, _ in nodes}
    pairs = edge_pairs(definition)
    for pair in pairs:
        for step_id in (pair.source, pair.target):
            if step_id not in named:
                named.add(step_id)
                nodes.append((step_id, ""))
    edges = [(p.source, p.target, _edge_label(definition, p)) for p in pairs]
    colours = {k: v for k, v in (statuses or {}).items() if v in STATUS_COLORS}
    if fmt == "dot":
        return _dot(definition.name, nodes, edges, colours)
    return _mermaid(nodes, edges, colours)


def _edge_label(definition: Definition, pair: EdgePair) -> str:
    try:
        source = definition.step(pair.source)
    except KeyError:
        source = None
    if isinstance(source, BranchStep):
        cases = [c.when for c in source.cases if c.to == pair.target]
        cases += ["default"] if source.default == pair.target else []
        return " | ".join(cases)
    parts = [pair.on] if pair.on != "succeeded" else []
    parts += [pair.when] if pair.when is not None else []
    return ": ".join(parts)


def _dot_id(text: str) -> str:
    """A quoted DOT id (ids and names never hold quotes or backslashes, but be safe)."""
    return '"' + "".join(c for c in text if c not in '"\\\n\r') + '"'


def _dot_label(*lines: str) -> str:
    """An HTML-like DOT label: any text is safe once ``&<>"`` are entities."""
    table = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "", "\n": "<br/>"}
    return "<" + "<br/>".join("".join(table.get(c, c) for c in line) for line in lines) + ">"


def _dot(
    name: str,
    nodes: list[tuple[str, str]],
    edges: list[tuple[str, str, str]],
    colours: Mapping[str, str],
) -> str:
    lines = [
        f"digraph {_dot_id(name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for step_id, kind in nodes:
        attrs = [f"label={_dot_label(step_id, kind) if kind else _dot_label(step_id)}"]
        if kind in _DOT_SHAPES:
            attrs.append(f"shape={_DOT_SHAPES[kind]}")
        if step_id in colours:
            fill, border = STATUS_COLORS[colours[step_id]]
            attrs.append(f'fillcolor="{fill}", color="{border}"')
        lines.append(f"  {_dot_id(step_id)} [{', '.join(attrs)}];")
    for source, target, label in edges:
        suffix = f" [label={_dot_label(label)}]" if label else ""
        lines.append(f"  {_dot_id(source)} -> {_dot_id(target)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


_MERMAID_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "|": "#124;",
    "`": "#96;",
    "\r": "",
    "\n": "<br/>",
}


def _mermaid_text(text: str) -> str:
    return "".join(_MERMAID_ESCAPES.get(char, char) for char in text)


def _mermaid_id(step_id: str) -> str:
    """Node ids get a prefix so that ``end`` or ids starting with ``o``/``x`` stay plain nodes."""
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in step_id)
    return f"step_{safe}"


def _mermaid(
    nodes: list[tuple[str, str]],
    edges: list[tuple[str, str, str]],
    colours: Mapping[str, str],
) -> str:
    lines = ["flowchart TD"]
    for step_id, kind in nodes:
        opening, closing = _MERMAID_SHAPES.get(kind, ('["', '"]'))
        label = _mermaid_text(step_id) + (f"<br/>{_mermaid_text(kind)}" if kind else "")
        lines.append(f"  {_mermaid_id(step_id)}{opening}{label}{closing}")
    for source, target, label in edges:
        arrow = f'-->|"{_mermaid_text(label)}"|' if label else "-->"
        lines.append(f"  {_mermaid_id(source)} {arrow} {_mermaid_id(target)}")
    classes = {
        status: [_mermaid_id(n) for n, _ in nodes if colours.get(n) == status]
        for status in STATUS_COLORS
    }
    classes = {status: members for status, members in classes.items() if members}
    for status in classes:
        fill, border = STATUS_COLORS[status]
        lines.append(f"  classDef {status} fill:{fill},stroke:{border},color:#212121")
    for status, members in classes.items():
        lines.append(f"  class {','.join(members)} {status}")
    return "\n".join(lines) + "\n"
