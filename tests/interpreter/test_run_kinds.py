"""The workflow-side kinds and `repeat` (dsl.md: "The nine kinds", `repeat`)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.runs import new_run_id, result, run, run_failure, start, status, step_statuses
from tests.support.standins import COST_PER_CALL, records


def max_running(log: list[str]) -> int:
    """The most ``sleep`` calls running at once, from the record's start:/end: entries."""
    running = peak = 0
    for entry in log:
        if entry.startswith("start:"):
            running += 1
            peak = max(peak, running)
        elif entry.startswith("end:"):
            running -= 1
    return peak


# -------------------------------------------------------------------------------------- branch

BRANCH = """
kworkflow: 1
name: branch
steps:
  - id: pick
    kind: branch
    cases:
      - {when: "input.n > 10", to: big}
      - {when: "input.n > 3", to: mid}
      - {when: "input.n > 0", to: small}
    default: other
  - {id: big, kind: tool, tool: echo, args: {v: big}}
  - {id: mid, kind: tool, tool: echo, args: {v: mid}}
  - {id: small, kind: tool, tool: echo, args: {v: small}}
  - {id: other, kind: tool, tool: echo, args: {v: other}}
  - {id: done, kind: aggregate, reduce: first}
edges:
  - {from: pick, to: [big, mid, small, other]}
  - {from: [big, mid, small, other], to: done}
"""


@pytest.mark.parametrize(("n", "taken"), [(20, "big"), (5, "mid"), (1, "small"), (-1, "other")])
async def test_branch_takes_the_first_true_case_else_default(client, task_queue, worker, n, taken):
    """'Exactly the edge to the first true case's target is taken; else the edge to `default`.'"""
    handle = await start(client, task_queue, BRANCH, {"n": n})
    assert await result(handle) == {"done": {"v": taken}}
    state = await status(handle)
    assert state["steps"]["pick"]["output"] == {"taken": taken}
    expected = {s: "skipped" for s in ("big", "mid", "small", "other")}
    expected |= {"pick": "succeeded", taken: "succeeded", "done": "succeeded"}
    assert step_statuses(state) == expected


async def test_branch_without_default_takes_no_edge(client, task_queue, worker):
    """'...else none. Its other outgoing edges are not taken.'"""
    handle = await start(client, task_queue, BRANCH.replace("default: other", ""), {"n": -1})
    assert await result(handle) == {}
    state = await status(handle)
    assert state["steps"]["pick"]["status"] == "succeeded"
    assert state["steps"]["pick"]["output"] == {"taken": None}
    for step in ("big", "mid", "small", "other", "done"):
        assert state["steps"][step]["status"] == "skipped", step


async def test_branch_case_cel_error_fails_the_run(client, task_queue, worker):
    """'A CEL error in ... a branch case fails the run and names the edge.'"""
    err, _ = await run_failure(
        client, task_queue, BRANCH.replace("input.n > 3", "input.nothing > 3"), {"n": 5}
    )
    assert err.type == "EdgeConditionError"
    assert "pick" in str(err.message)
    assert "mid" in str(err.message)


# ------------------------------------------------------------------------------------ parallel


async def test_for_each_returns_a_list_in_input_order(client, task_queue, worker):
    """`for_each` output: 'a list in input order' (here, the items finish out of order)."""
    run_id = new_run_id()
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: fan
        steps:
          - id: fan
            kind: parallel
            for_each: ${ input.xs }
            step: {kind: tool, tool: sleep, args: {seconds: "${ item }", label: "${ index }"}}
        """,
        {"xs": [0.9, 0.1, 0.5]},
        run_id=run_id,
    )
    assert got == {"fan": [{"slept": 0}, {"slept": 1}, {"slept": 2}]}
    assert [e for e in records(run_id) if e.startswith("end:")] == ["end:1", "end:2", "end:0"]


async def test_for_each_item_and_index_in_scope(client, task_queue, worker):
    """`item` and `index` are in scope inside a `for_each`; an empty list gives []."""
    definition = """
    kworkflow: 1
    name: fan-scope
    steps:
      - id: fan
        kind: parallel
        for_each: ${ input.people }
        step:
          kind: tool
          tool: echo
          args: {item: "${ item }", index: "${ index }", text: "${ index }:${ item.name }"}
    """
    got = await run(client, task_queue, definition, {"people": [{"name": "ann"}, {"name": "bo"}]})
    assert got == {
        "fan": [
            {"item": {"name": "ann"}, "index": 0, "text": "0:ann"},
            {"item": {"name": "bo"}, "index": 1, "text": "1:bo"},
        ]
    }
    assert await run(client, task_queue, definition, {"people": []}) == {"fan": []}


async def test_for_each_over_a_literal_list(client, task_queue, worker):
    """`for_each` takes a list value: a YAML list works as well as a `${}`."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: fan-literal
        steps:
          - id: fan
            kind: parallel
            for_each: [1, "${ input.two }", [3]]
            step: {kind: tool, tool: echo, args: {v: "${ item }"}}
        """,
        {"two": 2},
    )
    assert got == {"fan": [{"v": 1}, {"v": 2}, {"v": [3]}]}


@pytest.mark.parametrize(("limit", "peak"), [("max_concurrency: 2", 2), ("", 5)])
async def test_for_each_max_concurrency(client, task_queue, worker, limit, peak):
    """`max_concurrency` bounds the items running at once (default: no limit)."""
    run_id = new_run_id()
    got = await run(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: fan-limit
        steps:
          - id: fan
            kind: parallel
            for_each: ${{ [0, 1, 2, 3, 4] }}
            {limit}
            step: {{kind: tool, tool: sleep, args: {{seconds: 0.4, label: "${{ item }}"}}}}
        """,
        run_id=run_id,
    )
    assert got == {"fan": [{"slept": i} for i in range(5)]}
    log = records(run_id)
    assert len(log) == 10
    assert max_running(log) == peak, log


async def test_for_each_item_failure_fails_the_step_and_cancels_the_rest(
    client, task_queue, worker
):
    """'One failed item fails the step and cancels the rest.'"""
    loop = asyncio.get_running_loop()
    began = loop.time()
    run_id = new_run_id()
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: fan-fail
        steps:
          - id: fan
            kind: parallel
            for_each: ${ input.xs }
            step:
              kind: tool
              tool: sleep
              args: {seconds: "${ item.s }", fail: "${ item.f }", label: "${ index }"}
          - {id: after, kind: tool, tool: echo, args: {}}
        """,
        {"xs": [{"s": 8, "f": False}, {"s": 0.3, "f": True}, {"s": 8, "f": False}]},
        run_id=run_id,
    )
    assert loop.time() - began < 5, "the failed item did not cancel the others"
    assert err.type == "StepFailed"
    details = err.details[0]
    assert (details["step"], details["kind"]) == ("fan", "parallel")
    assert details["error"]["type"] == "Woke"
    assert "woke up failing: 1" in details["error"]["message"]
    assert sorted(records(run_id)[:3]) == ["start:0", "start:1", "start:2"]
    state = await status(handle)
    assert state["steps"]["fan"]["status"] == "failed"
    assert state["steps"]["after"]["status"] != "succeeded"


async def test_for_each_inner_on_error_continue_gives_null(client, task_queue, worker):
    """'...unless the inner spec has `on_error: continue`: then that item's result is null.'"""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: fan-continue
        steps:
          - id: fan
            kind: parallel
            for_each: ${ input.xs }
            step:
              kind: tool
              tool: sleep
              on_error: continue
              args: {seconds: 0.1, fail: "${ item }", label: "${ index }"}
          - {id: after, kind: tool, tool: echo, args: {got: "${ steps.fan.output }"}}
        """,
        {"xs": [False, True, False]},
    )
    assert got == {"after": {"got": [{"slept": 0}, None, {"slept": 2}]}}


async def test_parallel_branches_give_a_map(client, task_queue, worker):
    """`branches: {name: step spec}` output: 'a map by branch name'."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: branches
        steps:
          - id: both
            kind: parallel
            branches:
              left: {kind: tool, tool: echo, args: {side: left}}
              right: {kind: tool, tool: add, args: {x: 1, y: "${ input.y }"}}
              model: {kind: llm, model: m, prompt: "hi ${ input.y }"}
              broken: {kind: tool, tool: fail, args: {retryable: false}, on_error: continue}
        """,
        {"y": 2},
    )
    assert got["both"]["left"] == {"side": "left"}
    assert got["both"]["right"] == 3
    assert got["both"]["model"]["text"] == "echo: hi 2"
    assert got["both"]["broken"] is None
    assert set(got["both"]) == {"left", "right", "model", "broken"}


# ----------------------------------------------------------------------------------- aggregate


async def test_aggregate_every_reducer(client, task_queue, worker):
    """`reduce`: collect, merge (shallow, later wins), concat, sum, min, max, first, last, expr."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: reducers
        steps:
          - {id: n1, kind: tool, tool: add, args: {v: 4}}
          - {id: n2, kind: tool, tool: add, args: {v: -2}}
          - {id: n3, kind: tool, tool: add, args: {v: 2.5}}
          - {id: l1, kind: aggregate, expr: "[1, 2]"}
          - {id: l2, kind: aggregate, expr: "[3]"}
          - {id: s1, kind: aggregate, expr: "'ab'"}
          - {id: s2, kind: aggregate, expr: "'cd'"}
          - {id: m1, kind: aggregate, expr: "{'a': 1, 'b': {'x': 1}}"}
          - {id: m2, kind: aggregate, expr: "{'b': {'y': 2}, 'c': 3}"}
          - {id: collect, kind: aggregate, from: [n2, n1], reduce: collect}
          - {id: collect_default, kind: aggregate, from: [n1, n2]}
          - {id: merge, kind: aggregate, from: [m1, m2], reduce: merge}
          - {id: concat_lists, kind: aggregate, from: [l1, l2], reduce: concat}
          - {id: concat_text, kind: aggregate, from: [s1, s2], reduce: concat}
          - {id: sum, kind: aggregate, from: [n1, n2, n3], reduce: sum}
          - {id: sum_int, kind: aggregate, from: [n1, n2], reduce: sum}
          - {id: min, kind: aggregate, from: [n1, n2, n3], reduce: min}
          - {id: max, kind: aggregate, from: [n1, n2, n3], reduce: max}
          - {id: first, kind: aggregate, from: [n3, n1], reduce: first}
          - {id: last, kind: aggregate, from: [n3, n1], reduce: last}
          - {id: doubled, kind: aggregate, from: [n1, n2], expr: "items.map(x, x * 2)"}
        edges:
          - from: [n1, n2, n3, l1, l2, s1, s2, m1, m2]
            to: [collect, collect_default, merge, concat_lists, concat_text, sum, sum_int,
                 min, max, first, last, doubled]
        """,
    )
    assert got == {
        "collect": [-2, 4],
        "collect_default": [4, -2],
        "merge": {"a": 1, "b": {"y": 2}, "c": 3},
        "concat_lists": [1, 2, 3],
        "concat_text": "abcd",
        "sum": 4.5,
        "sum_int": 2,
        "min": -2,
        "max": 4,
        "first": 2.5,
        "last": 4,
        "doubled": [8, -4],
    }
    assert type(got["sum_int"]) is int
    assert all(type(x) is int for x in got["doubled"])


async def test_aggregate_empty_items(client, task_queue, worker):
    """'`sum` (0 when empty), `min`, `max` (null when empty)'; skipped sources are left out."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: empty
        steps:
          - {id: x, kind: tool, tool: echo, args: {}}
          - {id: p, kind: tool, tool: add, args: {v: 1}}
          - {id: q, kind: tool, tool: add, args: {v: 2}}
          - {id: total, kind: aggregate, from: [p, q], reduce: sum}
          - {id: low, kind: aggregate, from: [p, q], reduce: min}
          - {id: high, kind: aggregate, from: [p, q], reduce: max}
          - {id: all, kind: aggregate, from: [p, q], reduce: collect}
          - {id: count, kind: aggregate, from: [p, q], expr: "size(items)"}
        edges:
          - {from: x, to: [p, q], when: "false"}
          - {from: [x, p, q], to: [total, low, high, all, count]}
        """,
    )
    assert got == {"total": 0, "low": None, "high": None, "all": [], "count": 0}


async def test_aggregate_default_from_and_left_out_sources(client, task_queue, worker):
    """Default `from`: 'the sources of its incoming edges, in `steps` order'; skipped and failed
    ones are left out."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: default-from
        steps:
          - {id: a, kind: tool, tool: echo, args: {v: a}}
          - {id: f, kind: tool, tool: fail, args: {retryable: false}, on_error: continue}
          - {id: s, kind: tool, tool: echo, args: {v: s}}
          - {id: b, kind: tool, tool: echo, args: {v: b}}
          - {id: agg, kind: aggregate}
          - {id: joined, kind: aggregate, expr: "items.map(i, i.v)"}
        edges:
          - {from: a, to: s, when: "false"}
          - {from: b, to: [agg, joined]}
          - {from: s, to: [agg, joined]}
          - {from: f, to: [agg, joined], "on": always}
          - {from: a, to: [agg, joined]}
        """,
    )
    assert await result(handle) == {"agg": [{"v": "a"}, {"v": "b"}], "joined": ["a", "b"]}
    assert step_statuses(await status(handle)) == {
        "a": "succeeded",
        "f": "failed",
        "s": "skipped",
        "b": "succeeded",
        "agg": "succeeded",
        "joined": "succeeded",
    }


# -------------------------------------------------------------------------------------- repeat


async def test_repeat_until_true_on_iteration_k(client, task_queue, worker):
    """Iteration 0 runs with `iteration = 0`, `previous = null`; the next with `previous` =
    that output; `until` true: the step succeeds with `output`."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: repeat
        steps:
          - id: loop
            kind: tool
            tool: echo
            args: {i: "${ iteration }", prev: "${ previous }"}
            repeat: {until: "output.i == 2 && iteration == 2", max_iterations: 5}
        """,
    )
    assert await result(handle) == {
        "loop": {"i": 2, "prev": {"i": 1, "prev": {"i": 0, "prev": None}}}
    }
    step = (await status(handle))["steps"]["loop"]
    assert (step["status"], step["iterations"]) == ("succeeded", 3)


async def test_repeat_until_sees_previous(client, task_queue, worker):
    """`until` is evaluated with `previous` (the output before, or null)."""
    run_id = new_run_id()
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: repeat-previous
        steps:
          - id: loop
            kind: tool
            tool: record
            args: {label: "${ iteration }"}
            repeat: {until: "previous != null && size(previous) == 2", max_iterations: 9}
        """,
        run_id=run_id,
    )
    assert got == {"loop": [0, 1, 2]}
    assert records(run_id) == [0, 1, 2]


async def test_repeat_on_a_workflow_side_step(client, task_queue, worker):
    """`repeat` is a field every step has: here an aggregate computing from `iteration`."""
    handle = await start(
        client,
        task_queue,
        """
        kworkflow: 1
        name: repeat-aggregate
        steps:
          - {id: count, kind: aggregate, expr: "iteration * 10",
             repeat: {until: "output >= 30", max_iterations: 10}}
        """,
    )
    assert await result(handle) == {"count": 30}
    assert (await status(handle))["steps"]["count"]["iterations"] == 4


REPEAT_EXHAUSTED = """
kworkflow: 1
name: exhausted
steps:
  - id: loop
    kind: tool
    tool: record
    args: {label: "${ iteration }"}
    repeat: {until: "false", max_iterations: 3, on_exhausted: ON_EXHAUSTED}
"""


async def test_repeat_exhausted_fails_with_repeat_exhausted(client, task_queue, worker):
    """'...unless `max_iterations` iterations have run: then the step fails with
    `RepeatExhausted`.'"""
    run_id = new_run_id()
    err, handle = await run_failure(
        client, task_queue, REPEAT_EXHAUSTED.replace("ON_EXHAUSTED", "fail"), run_id=run_id
    )
    assert err.type == "StepFailed"
    assert (err.details[0]["step"], err.details[0]["error"]["type"]) == ("loop", "RepeatExhausted")
    assert records(run_id) == [0, 1, 2]
    step = (await status(handle))["steps"]["loop"]
    assert (step["status"], step["iterations"]) == ("failed", 3)
    assert step["error"]["type"] == "RepeatExhausted"


async def test_repeat_exhausted_continue_succeeds_with_last_output(client, task_queue, worker):
    """'(or, with `on_exhausted: continue`, succeeds with the last output)'."""
    run_id = new_run_id()
    got = await run(
        client, task_queue, REPEAT_EXHAUSTED.replace("ON_EXHAUSTED", "continue"), run_id=run_id
    )
    assert got == {"loop": [0, 1, 2]}


# ------------------------------------------------------------------------------------- subflow


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


# --------------------------------------------------------------------------------------- agent


async def test_agent_calls_tools_and_sums_usage(client, task_queue, worker):
    """Agent: every model turn and tool call is its own activity; output `{text, data, turns,
    usage, cost_usd}` summed over turns."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agent
        defaults: {model: m1}
        steps:
          - id: ask
            kind: agent
            instructions: Answer briefly.
            prompt: "find ${ input.what }"
            tools: [echo]
            max_turns: 4
        """,
        {"what": "cats"},
    )
    out = got["ask"]
    assert set(out) == {"text", "data", "turns", "usage", "cost_usd"}
    assert out["text"].startswith("done: ")
    assert json.loads(out["text"].removeprefix("done: ")) == {"q": "find cats"}
    assert out["data"] is None
    assert out["turns"] == 2
    # turn 1: 10 in, 1 call + 1 out; turn 2: 20 in, 1 out
    assert out["usage"] == {"input_tokens": 30, "output_tokens": 3}
    assert out["cost_usd"] == pytest.approx(2 * COST_PER_CALL)


async def test_agent_calls_several_tools_in_one_turn(client, task_queue, worker):
    """Each tool call of a turn is answered by a tool message, in call order."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agent-two
        steps:
          - {id: ask, kind: agent, model: m, prompt: "go", tools: [echo, tools], max_turns: 3}
        """,
    )
    out = got["ask"]
    first, second = out["text"].removeprefix("done: ").split(" | ")
    assert json.loads(first) == {"q": "go"}
    assert isinstance(json.loads(second), list)
    assert out["turns"] == 2
    assert out["usage"] == {"input_tokens": 30, "output_tokens": 4}


async def test_for_each_over_agents(client, task_queue, worker):
    """The dsl.md example's fan-out: a `parallel` whose inner step is an agent."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agents
        steps:
          - id: gather
            kind: parallel
            for_each: ${ input.questions }
            max_concurrency: 4
            step: {kind: agent, model: m, instructions: "Answer.", prompt: "${ item }",
                   tools: [echo], max_turns: 6}
        """,
        {"questions": ["q one", "q two"]},
    )
    answers = got["gather"]
    assert [json.loads(a["text"].removeprefix("done: ")) for a in answers] == [
        {"q": "q one"},
        {"q": "q two"},
    ]
    assert [a["turns"] for a in answers] == [2, 2]


async def test_agent_max_turns(client, task_queue, worker):
    """An agent that never stops asking for tools fails with AgentMaxTurns."""
    err, handle = await run_failure(
        client,
        task_queue,
        """
        kworkflow: 1
        name: agent-loop
        steps:
          - {id: ask, kind: agent, model: m, prompt: "loop forever", tools: [echo], max_turns: 3}
        """,
    )
    assert err.type == "StepFailed"
    details = err.details[0]
    assert (details["step"], details["kind"]) == ("ask", "agent")
    assert details["error"]["type"] == "AgentMaxTurns"
    step = (await status(handle))["steps"]["ask"]
    assert step["status"] == "failed"
    assert step["error"]["type"] == "AgentMaxTurns"
