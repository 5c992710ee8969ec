"""Lint rule ``tool_args``: static args of a tool step against its ``tools:`` input_schema."""

from __future__ import annotations

import textwrap

from interpreter.lint import lint_text

HEAD = """\
kworkflow: 1
name: demo
tools:
  crm:
    url: http://crm.internal/lookup
    input_schema:
      type: object
      required: [company]
      properties:
        company: {type: string}
        tags: {type: array, items: {type: string}}
  free:
    url: http://free.internal/
"""


def findings(body: str) -> list[tuple[str, str, str | None, str]]:
    definition, problems = lint_text(HEAD + textwrap.dedent(body))
    assert definition is not None, problems
    return [(p.code, p.path, p.step, p.message) for p in problems]


def test_static_args_that_break_the_schema_are_found_with_their_path() -> None:
    body = """\
    steps:
      - {id: missing, kind: tool, tool: crm, args: {}}
      - {id: wrong, kind: tool, tool: crm, args: {company: acme, tags: [a, 3]}}
      - {id: fine, kind: tool, tool: crm, args: {company: acme}}
    edges: []
    """
    assert findings(body) == [
        (
            "tool_args",
            "steps[0].args",
            "missing",
            "`args.company`: is required (input_schema of tool `crm`)",
        ),
        (
            "tool_args",
            "steps[1].args",
            "wrong",
            "`args.tags[1]`: 3 is not of type 'string' (input_schema of tool `crm`)",
        ),
    ]


def test_inner_specs_are_checked_too() -> None:
    body = """\
    steps:
      - id: fan
        kind: parallel
        branches:
          one: {kind: tool, tool: crm, args: {company: 1}}
    """
    assert findings(body) == [
        (
            "tool_args",
            "steps[0].branches.one.args",
            "fan",
            "`args.company`: 1 is not of type 'string' (input_schema of tool `crm`)",
        )
    ]


def test_templated_args_schemaless_and_unknown_tools_are_left_to_run_time() -> None:
    body = """\
    steps:
      - {id: templated, kind: tool, tool: crm, args: {company: "${ input.name }"}}
      - {id: schemaless, kind: tool, tool: free, args: {anything: 1}}
      - {id: registered, kind: tool, tool: on_the_worker, args: {x: 1}}
    edges: []
    """
    assert findings(body) == []
