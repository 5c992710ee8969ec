"""Runs of `subflow` steps: inline (inherited defaults and tools, default result, own edges)
and named (a pinned version) (dsl.md: "The nine kinds")."""

from __future__ import annotations

from tests.support.runs import result, run, start, status


async def test_inline_subflow_inherits_defaults_and_tools(client, task_queue, worker):
    """Inline subflow: 'ids are the child's own; it inherits the parent's `defaults` and
    `tools`', `input` becomes the child's `input`, the output is the child's result."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: parent
        defaults: {model: parent-model, retry: {max_attempts: 1}}
        tools:
          crm: {url: "http://127.0.0.1:9/crm", description: CRM}
        steps:
          - {id: a, kind: tool, tool: echo, args: {v: 7}}
          - id: sub
            kind: subflow
            input: {x: "${ steps.a.output.v }"}
            steps:
              - {id: a, kind: tool, tool: add, args: {p: "${ input.x }", q: 1}}
              - {id: m, kind: llm, prompt: "hi ${ steps.a.output }"}
              - {id: t, kind: tool, tool: crm, args: {company: acme}}
            output:
              a: ${ steps.a.output }
              model: ${ steps.m.output.model }
              text: ${ steps.m.output.text }
              tools: ${ steps.t.output }
          - {id: after, kind: tool, tool: echo, args: {sub: "${ steps.sub.output.a }"}}
        """,
    )
    assert await result(handle) == {"after": {"sub": 8}}
    sub = (await status(handle))["steps"]["sub"]
    assert sub["status"] == "succeeded"
    assert sub["output"] == {
        "a": 8,
        "model": "parent-model",
        "text": "echo: hi 8",
        "tools": {"http_tool": "crm", "url": "http://127.0.0.1:9/crm", "args": {"company": "acme"}},
    }


async def test_inline_subflow_default_result_and_edges(client, task_queue, worker):
    """An inline subflow without `output` returns its own sink steps, by its own edges."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: parent-edges
        steps:
          - id: sub
            kind: subflow
            input: {n: 3}
            steps:
              - {id: a, kind: tool, tool: add, args: {n: "${ input.n }"}}
              - {id: b, kind: tool, tool: echo, args: {b: "${ steps.a.output }"}}
              - {id: c, kind: tool, tool: echo, args: {c: true}}
            edges:
              - {from: a, to: [b, c], when: "steps.a.output == 3"}
        """,
    )
    assert got == {"sub": {"b": {"b": 3}, "c": {"c": True}}}


CHILD = """
kworkflow: 1
name: child
input:
  type: object
  properties: {n: {type: integer}, unit: {type: string, default: kg}}
output: "${ input.n * 10 } ${ input.unit }"
steps:
  - {id: a, kind: tool, tool: echo, args: {n: "${ input.n }"}}
"""


async def test_named_subflow_runs_the_pinned_definition(client, task_queue, worker):
    """`workflow` (a published name, `version` optional: pinned when the parent starts)."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: parent-named
        steps:
          - {id: latest, kind: subflow, workflow: child, input: {n: 2}}
          - {id: pinned, kind: subflow, workflow: child, version: 3, input: {n: 4}}
        edges: []
        """,
        subflows={
            "child": CHILD,
            "child@3": CHILD.replace("${ input.n * 10 }", "v3:${ input.n }"),
        },
    )
    assert got == {"latest": "20 kg", "pinned": "v3:4 kg"}
