"""Runs of `aggregate` steps: every reducer, empty items, the default `from` and the sources
left out (dsl.md: "The nine kinds")."""

from __future__ import annotations

from tests.support.runs import result, run, start, status, step_statuses


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
