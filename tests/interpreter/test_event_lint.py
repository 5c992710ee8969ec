"""``event`` steps and triggers load and lint: filters compile and read what they may."""

from __future__ import annotations

import textwrap

from interpreter.lint import lint_text

HEAD = "kworkflow: 1\nname: flow\n"


def problems(body: str) -> list[tuple[str, str, str]]:
    _, found = lint_text(HEAD + textwrap.dedent(body), "flow.yaml")
    return [(p.code, p.path, p.message) for p in found]


def test_an_event_step_and_a_trigger_lint_clean() -> None:
    body = """\
    triggers:
      - {event: "order.*", filter: "event.data.total > 10", input: {n: "${ event.data.total }"}}
    steps:
      - {id: first, kind: aggregate, expr: "1"}
      - id: paid
        kind: event
        type: payment.received
        filter: event.data.order == input.order && steps.first.output == 1
        timeout: 1h
        on_timeout: continue
    """
    assert problems(body) == []


def test_an_event_filter_is_linted_like_any_expression() -> None:
    body = """\
    steps:
      - {id: paid, kind: event, type: t, filter: "event.data.x ==", timeout: 1h}
      - {id: later, kind: event, type: t, filter: "steps.after.output == 1"}
      - {id: after, kind: aggregate, expr: "1"}
    """
    found = problems(body)
    assert [(code, path) for code, path, _ in found] == [
        ("cel", "steps[0].filter"),
        ("reference", "steps[1].filter"),
    ]
    assert found[1][2] == (
        "`steps.after` may not have finished when this is evaluated: "
        "`after` is not an ancestor of `later`"
    )


def test_a_trigger_sees_no_steps_and_its_filter_must_compile() -> None:
    body = """\
    triggers:
      - {event: "a", filter: "steps.x.output"}
      - {event: "b", filter: "event.("}
    steps:
      - {id: x, kind: aggregate, expr: "1"}
    """
    found = problems(body)
    assert [(code, path) for code, path, _ in found] == [
        ("unknown_reference", "triggers[0].filter"),
        ("cel", "triggers[1].filter"),
    ]


def test_an_event_step_cannot_run_inside_parallel() -> None:
    body = """\
    steps:
      - id: fan
        kind: parallel
        for_each: [1, 2]
        step: {kind: event, type: t}
    """
    assert problems(body) == [
        ("inner_kind", "steps[0].step.kind", "an event step cannot run inside `parallel`")
    ]
