"""DOT and Mermaid drawings of a small graph, compared exactly."""

from __future__ import annotations

import textwrap

from interpreter.loader import load_text
from interpreter.render import render

FLOW = load_text(
    textwrap.dedent("""\
    kworkflow: 1
    name: demo
    steps:
      - {id: start, kind: llm, prompt: hi}
      - id: route
        kind: branch
        cases: [{when: 'input.t == "a<b>" && 1 > 0', to: ask}]
        default: fix
      - {id: ask, kind: human, prompt: "ok?"}
      - {id: fix, kind: tool, tool: t, on_error: continue}
      - {id: end, kind: aggregate}
    edges:
      - {from: start, to: route}
      - {from: route, to: [ask, fix]}
      - {from: fix, to: end, on: failed, when: "steps.fix.error.type != '|#'"}
      - {from: ask, to: end}
      - {from: fix, to: end, on: always}
    """)
)


def test_dot() -> None:
    assert render(FLOW, "dot") == textwrap.dedent("""\
        digraph "demo" {
          rankdir=TB;
          node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];
          edge [fontname="Helvetica", fontsize=10];
          "start" [label=<start<br/>llm>];
          "route" [label=<route<br/>branch>, shape=diamond];
          "ask" [label=<ask<br/>human>, shape=parallelogram];
          "fix" [label=<fix<br/>tool>];
          "end" [label=<end<br/>aggregate>];
          "start" -> "route";
          "route" -> "ask" [label=<input.t == &quot;a&lt;b&gt;&quot; &amp;&amp; 1 &gt; 0>];
          "route" -> "fix" [label=<default>];
          "fix" -> "end" [label=<failed: steps.fix.error.type != '|#'>];
          "ask" -> "end";
          "fix" -> "end" [label=<always>];
        }
        """)


def test_mermaid() -> None:
    assert render(FLOW, "mermaid") == textwrap.dedent("""\
        flowchart TD
          step_start["start<br/>llm"]
          step_route{"route<br/>branch"}
          step_ask[/"ask<br/>human"/]
          step_fix["fix<br/>tool"]
          step_end["end<br/>aggregate"]
          step_start --> step_route
          step_route -->|"input.t == #quot;a#lt;b#gt;#quot; #amp;#amp; 1 #gt; 0"| step_ask
          step_route -->|"default"| step_fix
          step_fix -->|"failed: steps.fix.error.type != '#124;#35;'"| step_end
          step_ask --> step_end
          step_fix -->|"always"| step_end
        """)


def test_statuses_colour_the_nodes() -> None:
    statuses = {"start": "succeeded", "route": "succeeded", "ask": "waiting", "end": "odd"}
    dot = render(FLOW, "dot", statuses).splitlines()
    assert dot[4:7] == [
        '  "start" [label=<start<br/>llm>, fillcolor="#c8e6c9", color="#43a047"];',
        '  "route" [label=<route<br/>branch>, shape=diamond, fillcolor="#c8e6c9", '
        'color="#43a047"];',
        '  "ask" [label=<ask<br/>human>, shape=parallelogram, fillcolor="#fff3c4", '
        'color="#f9a825"];',
    ]
    assert dot[8] == '  "end" [label=<end<br/>aggregate>];'
    mermaid = render(FLOW, "mermaid", statuses).splitlines()
    assert mermaid[-4:] == [
        "  classDef waiting fill:#fff3c4,stroke:#f9a825,color:#212121",
        "  classDef succeeded fill:#c8e6c9,stroke:#43a047,color:#212121",
        "  class step_ask waiting",
        "  class step_start,step_route succeeded",
    ]


def test_the_implicit_chain_and_multi_line_text() -> None:
    flow = load_text(
        "kworkflow: 1\nname: chain\nsteps:\n"
        "  - {id: a, kind: code, source: x}\n"
        "  - {id: b, kind: aggregate, from: [a]}\n"
        '  - id: c\n    kind: branch\n    cases: [{when: "true &&\\n false", to: d}]\n'
        "  - {id: d, kind: code, source: x}\n"
    )
    assert render(flow, "dot").splitlines()[-4:] == [
        '  "a" -> "b";',
        '  "b" -> "c";',
        '  "c" -> "d" [label=<true &amp;&amp;<br/> false>];',
        "}",
    ]
    assert render(flow, "mermaid").splitlines()[-3:] == [
        "  step_a --> step_b",
        "  step_b --> step_c",
        '  step_c -->|"true #amp;#amp;<br/> false"| step_d',
    ]
