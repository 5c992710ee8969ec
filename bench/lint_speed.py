"""Lint speed: how long ``kworkflow lint`` takes on generated definitions of growing size.

Two dense shapes, the kind that made lint quadratic or worse: ``fan-in``, ``aggregate``,
``llm`` and ``tool`` steps where every step has edges from up to ``fan_in`` earlier steps (one
with a ``when``) and expressions that read its ancestors; and ``layered``, layers of ``width``
steps with one edge from each whole layer to the next. Prints the size, step and edge pair
counts and the lint time (YAML + load + lint, best of ``--repeat``) of each.

    .venv/bin/python bench/lint_speed.py [--sizes 18,64,256,1000] [--fan-in 8] [--width 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples import templates
from interpreter import expr
from interpreter.lint import lint_text
from interpreter.topology import Topology


def _step(i: int, sources: list[int]) -> str:
    reads = " + ".join(f"size(string(steps.s{j}.output))" for j in sources[:2]) or "0"
    if i % 3 == 0:
        return f"  - {{id: s{i}, kind: aggregate, expr: '{reads}'}}\n"
    if i % 3 == 1:
        prompt = " ".join(f"${{ steps.s{j}.status }}" for j in sources[:2]) or "start"
        return f'  - {{id: s{i}, kind: llm, prompt: "Go {i}: {prompt}"}}\n'
    return f"  - {{id: s{i}, kind: tool, tool: t, args: {{n: {i}, x: '${{ {reads} }}'}}}}\n"


def dense_definition(target_bytes: int, fan_in: int = 8) -> str:
    """A definition of about ``target_bytes`` bytes whose steps have ``fan_in`` incoming edges.

    Every step ``s<i>`` has edges from the ``fan_in`` steps before it (one with a ``when``
    reading an ancestor), and reads two of them in its own fields; it lints clean.
    """
    head = (
        "kworkflow: 1\nname: dense\n"
        "tools:\n  t:\n    url: http://tools.invalid/t\n"
        "    input_schema: {type: object, required: [n], properties: {n: {type: integer}}}\n"
    )
    steps: list[str] = []
    edges: list[str] = []
    size, i = len(head) + len("steps:\nedges:\n"), 0
    while size < target_bytes:
        sources = list(range(max(0, i - fan_in), i))[::-1]
        step = _step(i, sources)
        edge = ""
        if sources:
            plain = ", ".join(f"s{j}" for j in sources[1:])
            when = f"steps.s{sources[-1]}.status == 'succeeded'"
            edge = f'  - {{from: s{sources[0]}, to: s{i}, when: "{when}"}}\n'
            if plain:
                edge += f"  - {{from: [{plain}], to: s{i}}}\n"
        steps.append(step)
        edges.append(edge)
        size += len(step) + len(edge)
        i += 1
    return head + "steps:\n" + "".join(steps) + "edges:\n" + "".join(edges)


def layered_definition(target_bytes: int, width: int = 16) -> str:
    """A definition of about ``target_bytes`` bytes in layers of ``width`` steps, each layer
    joined to the next by one edge ``{from: [layer], to: [next layer]}`` (``width`` squared
    pairs in a few hundred bytes), every other one with a ``when``; it lints clean."""
    head = "kworkflow: 1\nname: layered\n"
    steps: list[str] = []
    edges: list[str] = []
    size, layer = len(head) + len("steps:\nedges:\n"), 0
    while size < target_bytes:
        ids = [f"l{layer}_{k}" for k in range(width)]
        text = "".join(
            f"  - {{id: {i}, kind: aggregate, expr: '"
            + (f"steps.l{layer - 1}_{k}.output + 1" if layer else str(k))
            + "'}\n"
            for k, i in enumerate(ids)
        )
        edge = ""
        if layer:
            before = ", ".join(f"l{layer - 1}_{k}" for k in range(width))
            ok = layer >= 2 and layer % 2 == 0  # read a step every source has after it
            when = f", when: 'steps.l{layer - 2}_0.output >= 0'" if ok else ""
            edge = f"  - {{from: [{before}], to: [{', '.join(ids)}]{when}}}\n"
        steps.append(text)
        edges.append(edge)
        size += len(text) + len(edge)
        layer += 1
    return head + "steps:\n" + "".join(steps) + "edges:\n" + "".join(edges)


def lint_seconds(text: str, repeat: int) -> tuple[float, float, int]:
    """The best wall and CPU times of ``repeat`` cold lints of ``text`` (the CEL and template
    caches emptied first, as in a fresh ``kworkflow lint``), and the number of problems."""
    wall, cpu, found = float("inf"), float("inf"), 0
    for _ in range(repeat):
        expr._compile.cache_clear()
        expr.parse_template.cache_clear()
        began, began_cpu = time.perf_counter(), time.process_time()
        _, problems = lint_text(text)
        wall = min(wall, time.perf_counter() - began)
        cpu = min(cpu, time.process_time() - began_cpu)
        found = len(problems)
    return wall, cpu, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="18,64,256,1000", help="sizes in KiB, comma-separated")
    parser.add_argument("--fan-in", type=int, default=8)
    parser.add_argument("--width", type=int, default=16, help="steps per layer (layered shape)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'shape':>24} {'size':>9} {'steps':>6} {'edge pairs':>10} "
        f"{'wall':>8} {'cpu':>8}  problems"
    )
    largest = max(templates.catalog(), key=lambda t: len(t.workflow))
    _row(f"tmpl:{largest.name}", largest.workflow, args.repeat)
    for kib in (int(s) for s in args.sizes.split(",")):
        for shape in ("fan-in", "layered"):
            if shape == "fan-in":
                text = dense_definition(kib * 1024, args.fan_in)
            else:
                text = layered_definition(kib * 1024, args.width)
            _row(shape, text, args.repeat)
    sys.stdout.flush()


def _row(shape: str, text: str, repeat: int) -> None:
    """Lint ``text`` and print its row."""
    definition, _ = lint_text(text)
    assert definition is not None
    steps = len(definition.steps)
    pairs = len(Topology(definition).pairs)
    wall, cpu, found = lint_seconds(text, repeat)
    print(
        f"{shape:>24} {len(text) / 1024:>7.1f}Ki {steps:>6} {pairs:>10} "
        f"{wall * 1000:>6.0f}ms {cpu * 1000:>6.0f}ms  {found}"
    )


if __name__ == "__main__":
    main()
