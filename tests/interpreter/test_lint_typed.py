"""Typed lint of CEL: each mistake a new user makes is a located finding before anything runs,
and what is not known (a tool's output, a value of `dyn`) is never one."""

from __future__ import annotations

import textwrap

from interpreter.celknown import from_schema
from interpreter.celtypes_check import Types, check
from interpreter.lint import lint_text
from interpreter.lint_types import model_problems

HEAD = "kworkflow: 1\nname: demo\n"

Found = tuple[str, str, str, int | None, int | None]


def found(body: str) -> list[Found]:
    definition, problems = lint_text(HEAD + textwrap.dedent(body), "flow.yaml")
    assert definition is not None, problems
    return [(p.code, p.severity, p.path, p.line, p.column) for p in problems]


def messages(body: str) -> list[str]:
    _, problems = lint_text(HEAD + textwrap.dedent(body), "flow.yaml")
    return [p.message for p in problems]


UNKNOWN_FUNCTIONS = """\
input:
  type: object
  properties:
    title: {type: string}
    tags: {type: array, items: {type: string}}
steps:
  - id: a
    kind: aggregate
    expr: implode(input.tags, ", ")
  - id: b
    kind: aggregate
    expr: input.title.explode(" ")
  - id: c
    kind: aggregate
    expr: input.title.shout()
  - id: d
    kind: aggregate
    expr: input.tags.shuffle()
  - id: e
    kind: aggregate
    expr: math.biggest(1, 2)
"""

# The functions the issue found unknown are CEL's extension libraries now (docs/cel-functions.md).
KNOWN_FUNCTIONS = (
    UNKNOWN_FUNCTIONS.replace('implode(input.tags, ", ")', 'input.tags.join(", ")')
    .replace(".explode(", ".split(")
    .replace(".shout()", ".upperAscii()")
    .replace(".shuffle()", ".sort()")
    .replace("math.biggest", "math.greatest")
)


def test_unknown_functions_are_errors_at_their_line_and_column() -> None:
    assert found(UNKNOWN_FUNCTIONS) == [
        ("unknown_function", "error", "steps[0].expr", 11, 11),
        ("unknown_function", "error", "steps[1].expr", 14, 11),
        ("unknown_function", "error", "steps[2].expr", 17, 11),
        ("unknown_function", "error", "steps[3].expr", 20, 11),
        ("unknown_function", "error", "steps[4].expr", 23, 11),
    ]
    first, *rest = messages(UNKNOWN_FUNCTIONS)
    assert first == "`implode()` is not a CEL function here"
    assert [m.split(" is not")[0] for m in rest] == [
        "`.explode()`",
        "`.shout()`",
        "`.shuffle()`",
        "`math.biggest`",
    ]


def test_the_extension_functions_are_known() -> None:
    assert found(KNOWN_FUNCTIONS) == []


def test_an_undeclared_input_property_is_an_error_with_did_you_mean() -> None:
    body = """\
    input:
      type: object
      properties:
        title: {type: string}
    steps:
      - id: draft
        kind: llm
        model: m
        prompt: "Write about ${ input.titel }"
    """
    assert found(body) == [("undeclared_field", "error", "steps[0].prompt", 11, 13)]
    assert messages(body) == [
        "`input` has no field `titel` (did you mean `title`?); it declares `title`"
    ]


def test_input_with_additional_properties_or_no_schema_is_not_checked() -> None:
    open_schema = """\
    input: {type: object, properties: {title: {type: string}}, additionalProperties: true}
    steps:
      - {id: a, kind: aggregate, expr: "input.other"}
    """
    no_schema = """\
    steps:
      - {id: a, kind: aggregate, expr: "input.anything.at.all"}
    """
    assert found(open_schema) == []
    assert found(no_schema) == []


APPROVAL = """\
steps:
  - id: review
    kind: human
    prompt: Approve?
    form:
      type: object
      required: [decision]
      properties:
        decision: {type: string, enum: [approve, revise, reject]}
        score: {type: integer}
  - id: route
    kind: branch
    cases:
      - {when: "steps.review.output.data.decision == 1", to: rejected}
      - {when: "steps.review.output.data.decision == 'revised'", to: rejected}
      - {when: "steps.review.output.data.decision == 'revise'", to: rejected}
      - {when: "steps.review.output.data.score > 'high'", to: rejected}
    default: rejected
  - {id: rejected, kind: aggregate, expr: "steps.review.output.data.decision"}
edges:
  - {from: review, to: route}
  - {from: route, to: rejected}
"""


def test_comparisons_that_can_never_be_true_are_errors() -> None:
    assert found(APPROVAL) == [
        ("never_equal", "error", "steps[1].cases[0].when", 16, 16),
        ("never_equal", "error", "steps[1].cases[1].when", 17, 16),
        ("overload", "error", "steps[1].cases[3].when", 19, 16),
    ]
    assert messages(APPROVAL) == [
        'a string (one of "approve", "revise", "reject") is compared with an int: '
        "this is never true",
        '"revised" is not one of the values of this string (one of "approve", "revise", '
        '"reject"): this is never true',
        "cannot order an int against a string: the comparison fails",
    ]


def test_an_llm_output_schema_types_its_data() -> None:
    body = """\
    steps:
      - id: score
        kind: llm
        model: m
        prompt: Score it
        output_schema:
          type: object
          properties: {score: {type: number}, verdict: {type: string, enum: [pass, fail]}}
      - {id: gate, kind: aggregate, expr: "steps.score.output.data.verdict != 'passed'"}
      - {id: next, kind: aggregate, expr: "steps.score.output.data.score >= 0.8"}
      - {id: typo, kind: aggregate, expr: "steps.score.output.txt"}
    """
    assert found(body) == [
        ("never_equal", "error", "steps[1].expr", 11, 39),
        ("undeclared_field", "error", "steps[3].expr", 13, 39),
    ]
    assert messages(body)[1].startswith(
        "`steps.score.output` has no field `txt` (did you mean `text`?)"
    )


def test_a_read_of_a_step_that_may_have_failed_is_a_warning_unless_checked() -> None:
    body = """\
    steps:
      - {id: fetch, kind: tool, tool: http_get, on_error: continue}
      - {id: bare, kind: aggregate, expr: "steps.fetch.output.body"}
      - {id: guarded, kind: aggregate, expr: "has(steps.fetch.output.body) ? 1 : 0"}
      - {id: checked, kind: aggregate, expr: "steps.fetch.output != null && steps.fetch.output.ok"}
    edges:
      - {from: fetch, to: bare}
      - {from: fetch, to: guarded}
      - {from: fetch, to: checked}
    """
    assert found(body) == [("maybe_null", "warning", "steps[1].expr", 5, 39)]
    assert "has `on_error: continue` and may have failed" in messages(body)[0]


def test_a_join_any_step_reading_one_path_is_warned() -> None:
    body = """\
    steps:
      - {id: start, kind: aggregate, expr: "1"}
      - {id: left, kind: aggregate, expr: "{'v': 1}"}
      - {id: right, kind: aggregate, expr: "{'v': 2}"}
      - {id: first, kind: aggregate, join: any, expr: "steps.left.output.v"}
    edges:
      - {from: start, to: [left, right]}
      - {from: [left, right], to: first}
    """
    assert found(body) == [("maybe_null", "warning", "steps[3].expr", 7, 51)]


def test_unknown_names_and_wrong_overloads() -> None:
    body = """\
    steps:
      - {id: a, kind: aggregate, expr: "inptu.title"}
      - {id: b, kind: aggregate, expr: "size(1) + run.ids.size()"}
      - {id: c, kind: aggregate, expr: "[1, 2].startsWith('x')"}
    """
    assert messages(body) == [
        "`inptu` is not a name in scope (did you mean `input`?)",
        "`size()` does not apply to an int",
        "`run` has no field `ids` (did you mean `id`?); it declares `id`, `started_at`, "
        "`tenant`, `version`, `workflow`",
        "`.startsWith()` does not apply to a list",
    ]


def test_what_is_not_known_is_never_a_finding() -> None:
    body = """\
    input:
      type: object
      properties:
        items: {type: array, items: {type: object, properties: {n: {type: integer}}}}
    steps:
      - {id: t, kind: tool, tool: anything}
      - id: a
        kind: aggregate
        expr: >-
          steps.t.output.deep.field == 1 && steps.t.output.x == 'y'
          && input.items.filter(i, i.n > 2).map(i, i.n * 2).size() > 0
          && input.items.exists(i, has(i.extra)) && int('3') == 3 && string(1) + 'a' != ''
          && steps.t.status == 'failed' && steps.t.error.type == 'ToolError'
          && run.started_at.startsWith('2026') && timestamp(run.started_at).getHours() < 24
    edges:
      - {from: t, to: a}
    """
    assert found(body) == []


def test_a_hostile_expression_gets_a_bounded_number_of_findings() -> None:
    source = " + ".join(f"nope{i}(1)" for i in range(200))
    findings = check(source, Types())
    assert len(findings) == 20
    assert findings[0].message == "`nope0()` is not a CEL function here"


def test_a_deep_schema_is_read_to_a_bound() -> None:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(500):
        schema = {"type": "object", "properties": {"x": schema}}
    typed = from_schema(schema, closed=True)
    assert typed.kind == "map"
    path = "input" + ".x" * 40
    assert check(path, Types(names={"input": typed})) == []


def test_llm_and_agent_steps_without_a_model_are_found() -> None:
    body = HEAD + textwrap.dedent(
        """\
        steps:
          - {id: a, kind: llm, prompt: hi}
          - id: fan
            kind: parallel
            branches:
              one: {kind: llm, prompt: hi}
              two: {kind: llm, model: m, prompt: hi}
        """
    )
    _, problems = lint_text(body, "flow.yaml", extra=model_problems)
    assert [(p.code, p.path, p.line, p.column) for p in problems] == [
        ("missing_model", "steps[0]", 4, 5),
        ("missing_model", "steps[1].branches.one", 8, 12),
    ]
    assert problems[0].message == "this llm step has no model: set its `model` or `defaults.model`"
    with_default = body.replace("steps:", "defaults: {model: m}\nsteps:")
    assert lint_text(with_default, "flow.yaml", extra=model_problems)[1] == []


def test_a_mistyped_edge_id_is_reported_first_and_its_follow_ons_point_at_it() -> None:
    body = """\
    steps:
      - {id: draft, kind: llm, model: m, prompt: hi}
      - {id: review, kind: llm, model: m, prompt: "${ steps.draft.output.text }"}
    edges:
      - {from: draftt, to: review}
    """
    assert [(c, p, line, col) for c, _, p, line, col in found(body)] == [
        ("unknown_step", "edges[0].from", 7, 12),
        ("reference", "steps[1].prompt", 5, 47),
    ]
    assert messages(body) == [
        "`draftt` is not a step id (did you mean `draft`?)",
        "`steps.draft` may not have finished when this is evaluated: `draft` is not an ancestor "
        "of `review` (`edges[0].from` names no step: fix that first)",
    ]


def test_an_open_input_schema_warns_of_an_undeclared_property_no_trigger_gives() -> None:
    body = """\
    input:
      type: object
      properties:
        repo: {type: string}
    triggers:
      - webhook: github
        secret: GITHUB
        input: {repo: "${ body.repo }", agent: "${ headers['user-agent'] }"}
    steps:
      - {id: a, kind: aggregate, expr: "input.repo + input.agent"}
      - {id: b, kind: aggregate, expr: "input.branch"}
    """
    assert found(body) == [("undeclared_field", "warning", "steps[1].expr", 13, 36)]
    assert messages(body) == [
        "`input` has no field `branch` in its schema (it declares `agent`, `repo`): it is null "
        "unless the run input carries it; declare it"
    ]


def test_a_closed_schema_refuses_any_undeclared_property() -> None:
    body = """\
    input:
      type: object
      additionalProperties: false
      properties:
        repo: {type: string}
    steps:
      - {id: a, kind: aggregate, expr: "input.branch"}
    """
    assert found(body) == [("undeclared_field", "error", "steps[0].expr", 9, 36)]
