"""Lint: each rule fires on a small definition that breaks it, and stays quiet on a clean one."""

from __future__ import annotations

import textwrap

from interpreter.errors import Problem
from interpreter.lint import lint, lint_text
from interpreter.loader import load_text

HEAD = "kworkflow: 1\nname: demo\n"

EXAMPLE = """\
kworkflow: 1                     # format version, required
name: research-and-summarize     # [a-z0-9][a-z0-9_.-]*, required
description: Research a topic and write a summary
input:                           # JSON Schema of the run input; checked when a run starts
  type: object
  required: [topic]
  properties:
    topic: {type: string}
    depth: {type: string, enum: [shallow, deep], default: shallow}
output: ${ steps.review.output }  # what the run returns (default: see "Run result")
timeout: 24h                      # whole-run limit (optional)
defaults:                         # merged under every step
  timeout: 2m                     # one attempt (Temporal start_to_close)
  retry: {max_attempts: 3, initial_interval: 1s, backoff_coefficient: 2.0,
          max_interval: 1m, max_duration: 10m, non_retryable_errors: [InvalidInput]}
  model: gpt-4o-mini              # default for llm and agent steps
tools:                            # HTTP tools this definition may call (see "tool")
  crm_lookup:
    description: Find a company in the CRM
    url: http://crm.internal/lookup
    method: POST
    input_schema: {type: object, required: [company], properties: {company: {type: string}}}
steps:
  - id: plan
    kind: llm
    prompt: "Write a research plan for ${ input.topic } (${ input.depth })."
    output_schema: {type: object, required: [questions],
                    properties: {questions: {type: array, items: {type: string}}}}
  - id: gather
    kind: parallel
    for_each: ${ steps.plan.output.data.questions }
    max_concurrency: 4
    step: {kind: agent, instructions: "Answer with sources.", prompt: "${ item }",
           tools: [crm_lookup], max_turns: 6}
  - id: synthesize
    kind: llm
    prompt: "Summarize: ${ steps.gather.output }"
  - id: review
    kind: human
    prompt: "Approve this summary?"
    form: {type: object, required: [approved], properties: {approved: {type: boolean},
           comment: {type: string}}}
    timeout: 48h
edges:                            # optional; without edges the steps run in list order
  - {from: plan, to: gather}
  - {from: gather, to: synthesize}
  - {from: synthesize, to: review}
"""


def findings(body: str) -> list[tuple[str, str, str | None, int | None, int | None]]:
    definition, problems = lint_text(HEAD + textwrap.dedent(body), "flow.yaml")
    assert definition is not None, problems
    return [(p.code, p.path, p.step, p.line, p.column) for p in problems]


def messages(body: str) -> list[str]:
    _, problems = lint_text(HEAD + textwrap.dedent(body))
    return [p.message for p in problems]


def test_the_dsl_example_lints_clean() -> None:
    definition, problems = lint_text(EXAMPLE, "example.yaml")
    assert definition is not None and definition.name == "research-and-summarize"
    assert problems == []


def test_a_definition_that_does_not_load_returns_the_loader_problems() -> None:
    definition, problems = lint_text("kworkflow: 1\nname: x\nsteps: [{id: a, kind: tool}]\n")
    assert definition is None
    assert problems == [Problem("steps[0].tool", "missing required field `tool`", 3, 9, step="a")]


def test_duplicate_ids() -> None:
    body = "steps:\n  - {id: a, kind: code, source: x}\n  - {id: a, kind: code, source: x}\n"
    assert findings(body) == [("duplicate_id", "steps[1].id", "a", 5, 10)]
    assert messages(body) == ["step id `a` is already used by steps[0]"]


def test_edges_naming_unknown_steps() -> None:
    body = """\
    steps:
      - {id: a, kind: aggregate, expr: "1"}
    edges:
      - {from: a, to: [b, a2]}
      - {from: ghost, to: a}
    """
    assert findings(body) == [
        ("unknown_step", "edges[0].to[0]", None, 6, 20),
        ("unknown_step", "edges[0].to[1]", None, 6, 23),
        ("unknown_step", "edges[1].from", None, 7, 12),
    ]
    assert messages(body)[0] == "`b` is not a step id"


def test_cycles_name_their_steps() -> None:
    body = """\
    steps:
      - {id: a, kind: aggregate, expr: "1"}
      - {id: b, kind: aggregate}
      - {id: c, kind: aggregate}
    edges:
      - {from: a, to: b}
      - {from: b, to: c}
      - {from: c, to: b}
    """
    assert findings(body) == [("cycle", "edges[2]", "b", 10, 5)]
    assert messages(body) == ["the steps form a cycle: b -> c -> b"]
    self_loop = "steps:\n  - {id: a, kind: aggregate, expr: '1'}\nedges: [{from: a, to: a}]\n"
    assert messages(self_loop) == ["the steps form a cycle: a -> a"]


def test_unreachable_steps_behind_a_branch_and_downstream() -> None:
    body = """\
    steps:
      - id: route
        kind: branch
        cases: [{when: "input.x > 1", to: big}]
      - {id: big, kind: aggregate}
      - {id: small, kind: aggregate}
      - {id: after_small, kind: aggregate}
      - {id: joined, kind: aggregate}
    edges:
      - {from: route, to: [big, small]}
      - {from: small, to: after_small}
      - {from: [big, after_small], to: joined}
    """
    assert findings(body) == [
        ("unreachable", "steps[2]", "small", 8, 5),
        ("unreachable", "steps[3]", "after_small", 9, 5),
    ]
    assert messages(body) == [
        "step `small` can never run: branch `route` never chooses it",
        "step `after_small` can never run: `small` can never run",
    ]


def test_a_failed_edge_from_a_failing_step_makes_its_target_unreachable() -> None:
    body = """\
    steps:
      - {id: a, kind: tool, tool: t}
      - {id: b, kind: tool, tool: t, on_error: continue}
      - {id: cleanup, kind: aggregate}
      - {id: handler, kind: aggregate}
    edges:
      - {from: a, to: cleanup, on: failed}
      - {from: b, to: handler, on: failed}
    """
    assert findings(body) == [
        ("unreachable", "steps[2]", "cleanup", 6, 5),
        ("failed_edge", "edges[0].on", "a", 9, 32),
    ]
    assert messages(body) == [
        "step `cleanup` can never run: its `on: failed` edge from `a` is never taken",
        "`a` has no `on_error: continue`, so this `on: failed` edge is never taken "
        "(a failure of `a` fails the run)",
    ]


def test_cel_that_does_not_compile_everywhere() -> None:
    body = """\
    steps:
      - id: a
        kind: aggregate
        expr: "items +"
        repeat: {until: "output ==", max_iterations: 2}
      - id: b
        kind: branch
        cases: [{when: "(", to: c}]
      - {id: c, kind: aggregate}
    edges:
      - {from: a, to: b, when: "1 +"}
      - {from: b, to: c}
    """
    assert findings(body) == [
        ("cel", "steps[0].expr", "a", 6, 11),
        ("cel", "steps[0].repeat.until", "a", 7, 21),
        ("cel", "steps[1].cases[0].when", "b", 10, 20),
        ("cel", "edges[0].when", None, 13, 28),
    ]
    assert messages(body)[0] == (
        "the expression does not compile: parse error at column 7: unexpected end of expression"
    )


def test_templates_that_do_not_parse_including_inner_specs() -> None:
    body = """\
    steps:
      - id: a
        kind: tool
        tool: t
        args: {company: "${ input.name", list: [ok, "${ 1 + }"]}
      - id: fan
        kind: parallel
        branches:
          one: {kind: llm, prompt: "${ }"}
        compensate: {kind: code, source: x, input: "${ a ! }"}
    """
    assert findings(body) == [
        ("template", "steps[0].args.company", "a", 7, 21),
        ("template", "steps[0].args.list[1]", "a", 7, 49),
        ("template", "steps[1].branches.one.prompt", "fan", 11, 32),
        ("template", "steps[1].compensate.input", "fan", 12, 48),
    ]
    assert messages(body)[0] == "the template does not parse: unterminated `${`: no closing `}`"


def test_references_must_be_known_ancestors() -> None:
    body = """\
    output: ${ steps.nope.output }
    steps:
      - id: a
        kind: llm
        prompt: "${ steps.b.output.text }"
        repeat: {until: "steps.a.status == 'failed' || steps.a.output == null", max_iterations: 2}
      - {id: b, kind: llm, prompt: "${ steps.b.output }"}
      - {id: c, kind: llm, prompt: "${ steps.a.output } ${ steps.ghost.output }"}
    edges:
      - {from: a, to: b, when: "steps.c.output != null"}
      - {from: a, to: c}
    """
    assert findings(body) == [
        ("unknown_reference", "output", None, 3, 9),
        ("reference", "steps[0].prompt", "a", 7, 13),
        ("reference", "steps[1].prompt", "b", 9, 32),
        ("unknown_reference", "steps[2].prompt", "c", 10, 32),
        ("reference", "edges[0].when", None, 12, 28),
    ]
    assert messages(body) == [
        "`steps.nope` names no step",
        "`steps.b` may not have finished when this is evaluated: `b` is not an ancestor of `a`",
        "`steps.b` is this step's own result, not ready yet (only its `repeat.until` may read it)",
        "`steps.ghost` names no step",
        "`steps.c` may not have finished when this is evaluated: "
        "`c` is neither this edge's source nor an ancestor of it",
    ]


def test_the_chain_makes_earlier_steps_ancestors_and_no_edges_makes_none() -> None:
    chain = """\
    steps:
      - {id: a, kind: llm, prompt: hi}
      - {id: b, kind: llm, prompt: "${ steps.a.output.text }"}
    """
    assert findings(chain) == []
    assert findings(chain + "edges: []\n") == [("reference", "steps[1].prompt", "b", 5, 32)]


def test_inner_specs_of_a_parallel_see_the_parallels_ancestors() -> None:
    body = """\
    steps:
      - {id: a, kind: llm, prompt: hi}
      - id: fan
        kind: parallel
        for_each: "${ steps.a.output.data }"
        step: {kind: llm, prompt: "${ item } ${ steps.a.output.text } ${ steps.fan.output }"}
    """
    assert findings(body) == [("reference", "steps[1].step.prompt", "fan", 8, 31)]


def test_branch_targets_must_be_successors_and_branch_edges_plain() -> None:
    body = """\
    steps:
      - id: route
        kind: branch
        cases: [{when: "true", to: yes}, {when: "false", to: other}]
        default: fallback
      - {id: yes, kind: code, source: x}
      - {id: other, kind: code, source: x}
      - {id: fallback, kind: code, source: x}
    edges:
      - {from: route, to: yes, when: "true"}
      - {from: route, to: fallback, on: succeeded}
    """
    assert findings(body) == [
        ("branch_target", "steps[0].cases[1].to", "route", 6, 58),
        ("branch_edge", "edges[0].when", "route", 12, 34),
        ("branch_edge", "edges[1].on", "route", 13, 37),
    ]
    assert messages(body)[0] == (
        "`other` is not a successor of branch `route`: add an edge from `route` to `other`"
    )
    assert messages(body)[1] == (
        "edges out of branch `route` carry no `when` or `on`: its cases choose the edge"
    )


def test_aggregates_need_sources_that_are_ancestors() -> None:
    body = """\
    steps:
      - {id: a, kind: llm, prompt: hi}
      - {id: b, kind: llm, prompt: hi}
      - {id: sum, kind: aggregate, from: [a, b, zz], reduce: collect}
      - {id: empty, kind: aggregate}
      - {id: computed, kind: aggregate, expr: "1 + 2"}
    edges:
      - {from: a, to: sum}
    """
    assert findings(body) == [
        ("aggregate_from", "steps[2].from[1]", "sum", 6, 42),
        ("unknown_step", "steps[2].from[2]", "sum", 6, 45),
        ("empty_aggregate", "steps[3]", "empty", 7, 5),
    ]
    assert messages(body)[:1] == [
        "`b` is not an ancestor of `sum`: it may not have finished when `sum` runs"
    ]
    assert messages(body)[2] == (
        "aggregate `empty` has nothing to aggregate: give it `from`, incoming edges or an `expr`"
    )


def test_human_and_branch_cannot_run_inside_parallel() -> None:
    body = """\
    steps:
      - id: fan
        kind: parallel
        for_each: [1, 2]
        step: {kind: human, prompt: "ok?"}
      - id: named
        kind: parallel
        branches:
          pick: {kind: branch, cases: [{when: "true", to: fan}]}
          nested: {kind: parallel, for_each: [1], step: {kind: human}}
    edges: []
    """
    assert findings(body) == [
        ("inner_kind", "steps[0].step.kind", "fan", 7, 18),
        ("inner_kind", "steps[1].branches.pick.kind", "named", 11, 20),
        ("inner_kind", "steps[1].branches.nested.step.kind", "named", 12, 60),
    ]
    assert messages(body)[0] == "a human step cannot run inside `parallel`"


def test_clean_graph_features_raise_nothing() -> None:
    body = """\
    steps:
      - {id: start, kind: tool, tool: t, on_error: continue, join: any}
      - id: route
        kind: branch
        cases: [{when: "steps.start.status == 'succeeded'", to: ok}]
        default: recover
      - {id: ok, kind: llm, prompt: "${ steps.start.output }"}
      - {id: recover, kind: aggregate, from: [start]}
      - id: done
        kind: aggregate
        from: [ok, recover]
        reduce: first
        repeat: {until: "steps.done.output != null && iteration == 0", max_iterations: 2}
      - {id: undo, kind: code, source: x, compensate: {kind: tool, tool: t,
         args: {id: "${ steps.undo.output }"}}}
    edges:
      - {from: start, to: route, on: always}
      - {from: route, to: [ok, recover]}
      - {from: start, to: recover, on: failed, when: "steps.start.error != null"}
      - {from: [ok, recover], to: done}
      - {from: done, to: undo}
    """
    assert findings(body) == []


def test_inline_subflows_are_graphs_of_their_own() -> None:
    body = """\
    steps:
      - {id: a, kind: llm, prompt: hi}
      - id: sub
        kind: subflow
        input: {text: "${ steps.a.output.text }"}
        output: ${ steps.inner_b.output }
        steps:
          - {id: inner_a, kind: llm, prompt: "${ input.text }"}
          - {id: inner_b, kind: llm, prompt: "${ steps.inner_a.output } ${ steps.a.output }"}
          - {id: inner_a, kind: code, source: x}
        edges:
          - {from: inner_a, to: inner_b}
    """
    assert findings(body) == [
        ("unknown_reference", "steps[1].steps[1].prompt", "sub", 11, 42),
        ("duplicate_id", "steps[1].steps[2].id", "sub", 12, 14),
    ]


def test_lint_without_text_sorts_an_unknown_edge_id_first_then_by_document_order() -> None:
    definition = load_text(
        HEAD + "steps:\n  - {id: b, kind: aggregate}\n  - {id: a, kind: code, source: x}\n"
        "edges:\n  - {from: a, to: zz}\n"
    )
    assert lint(definition) == [
        Problem("edges[0].to", "`zz` is not a step id", code="unknown_step"),
        Problem(
            "steps[0]",
            "aggregate `b` has nothing to aggregate: give it `from`, incoming edges or an `expr`",
            step="b",
            code="empty_aggregate",
        ),
    ]
