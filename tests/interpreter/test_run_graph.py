"""The graph rules of dsl.md ("The graph", "Run result"), run on a real Temporal dev server."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.runs import new_run_id, run, run_and_status, step_statuses
from tests.support.standins import records


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------------------------ chain and roots


async def test_without_edges_steps_form_a_chain_in_list_order(client, task_queue, worker):
    """'Without the `edges` key, the steps form a chain in list order.'"""
    run_id = new_run_id()
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: chain
        steps:
          - {id: c, kind: tool, tool: record, args: {label: first}}
          - {id: a, kind: tool, tool: record, args: {label: second}}
          - {id: b, kind: tool, tool: record, args: {label: "${ size(steps.a.output) }"}}
        """,
        run_id=run_id,
    )
    # Only the last step of the chain has no outgoing edge.
    assert got == {"b": ["first", "second", 2]}
    assert records(run_id) == ["first", "second", 2]


async def test_empty_edges_make_every_step_a_root(client, task_queue, worker):
    """'`edges: []` means no edges (every step is a root).'"""
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: roots
        steps:
          - {id: a, kind: tool, tool: echo, args: {v: 1}}
          - {id: b, kind: tool, tool: add, args: {x: 2, y: 3}}
          - {id: c, kind: tool, tool: echo, args: {v: "${ steps.a.status }"}}
        edges: []
        """,
    )
    assert set(got) == {"a", "b", "c"}
    assert got["a"] == {"v": 1}
    assert got["b"] == 5
    # c is a root too: it does not wait for a (a may or may not have finished when c resolves).
    assert got["c"]["v"] in {"pending", "running", "succeeded"}
    assert step_statuses(state) == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "succeeded",
    }


async def test_independent_steps_run_in_parallel(client, task_queue, worker):
    """'Steps that are ready at the same moment start together.'"""
    run_id = new_run_id()
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: parallel-roots
        steps:
          - {id: a, kind: tool, tool: sleep, args: {seconds: 0.6, label: a}}
          - {id: b, kind: tool, tool: sleep, args: {seconds: 0.6, label: b}}
          - {id: c, kind: tool, tool: record, args: {label: c}}
        edges:
          - {from: [a, b], to: c}
        """,
        run_id=run_id,
    )
    log = records(run_id)
    assert got == {"c": log}
    assert sorted(log[:2]) == ["start:a", "start:b"], log
    assert sorted(log[2:4]) == ["end:a", "end:b"], log
    assert log[4] == "c"
    steps = state["steps"]
    # Each started before the other ended.
    assert _at(steps["a"]["started_at"]) < _at(steps["b"]["ended_at"])
    assert _at(steps["b"]["started_at"]) < _at(steps["a"]["ended_at"])
    assert _at(steps["c"]["started_at"]) >= max(
        _at(steps["a"]["ended_at"]), _at(steps["b"]["ended_at"])
    )


# ------------------------------------------------------------------------------ edges and `when`


async def test_edge_when_decides_which_edges_are_taken(client, task_queue, worker):
    """An edge is taken when the source succeeded and its `when` is true; otherwise skipped."""
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: when
        steps:
          - {id: a, kind: tool, tool: echo, args: {n: 5}}
          - {id: big, kind: tool, tool: echo, args: {size: big}}
          - {id: mid, kind: tool, tool: echo, args: {size: "${ steps.a.output.n }"}}
        edges:
          - {from: a, to: big, when: "steps.a.output.n > 10"}
          - {from: a, to: mid, when: "steps.a.output.n > 3"}
        """,
    )
    assert got == {"mid": {"size": 5}}
    assert step_statuses(state) == {"a": "succeeded", "big": "skipped", "mid": "succeeded"}
    assert state["steps"]["big"]["output"] is None
    assert state["steps"]["big"]["attempts"] == 0


async def test_skips_propagate(client, task_queue, worker):
    """'...is skipped if none was; skips propagate.'"""
    run_id = new_run_id()
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: skips
        steps:
          - {id: a, kind: tool, tool: record, args: {label: a}}
          - {id: b, kind: tool, tool: record, args: {label: b}}
          - {id: c, kind: tool, tool: record, args: {label: c}}
          - {id: d, kind: tool, tool: record, args: {label: d}}
          - {id: e, kind: tool, tool: record, args: {label: e}}
        edges:
          - {from: a, to: b, when: "false"}
          - {from: b, to: c}
          - {from: c, to: d}
          - {from: a, to: e}
        """,
        run_id=run_id,
    )
    assert got == {"e": ["a", "e"]}
    assert records(run_id) == ["a", "e"]
    assert step_statuses(state) == {
        "a": "succeeded",
        "b": "skipped",
        "c": "skipped",
        "d": "skipped",
        "e": "succeeded",
    }


async def test_edge_lists_mean_every_pair(client, task_queue, worker):
    """'`from` and `to` may each be an id or a list of ids, meaning every pair.'"""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: pairs
        steps:
          - {id: a, kind: tool, tool: echo, args: {v: a}}
          - {id: b, kind: tool, tool: echo, args: {v: b}}
          - {id: c, kind: aggregate}
          - {id: d, kind: aggregate, reduce: merge}
        edges:
          - {from: [a, b], to: [c, d]}
        """,
    )
    assert got == {"c": [{"v": "a"}, {"v": "b"}], "d": {"v": "b"}}


# ------------------------------------------------------------------------------------- joins


async def test_join_all_waits_for_every_incoming_edge(client, task_queue, worker):
    """'A step becomes ready when every incoming edge is decided'; runs if one was taken."""
    run_id = new_run_id()
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: join-all
        steps:
          - {id: a, kind: tool, tool: record, args: {label: a}}
          - {id: b, kind: tool, tool: sleep, args: {seconds: 0.5, label: b}}
          - {id: c, kind: tool, tool: record, args: {label: c}}
        edges:
          - {from: a, to: c}
          - {from: b, to: c, when: "false"}
        """,
        run_id=run_id,
    )
    assert got["c"][-1] == "c"
    log = records(run_id)
    assert log.index("c") > log.index("end:b"), log
    assert step_statuses(state) == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "succeeded",
    }


@pytest.mark.parametrize(
    ("join", "name"), [("", "join-all-skip"), (", join: any", "join-any-skip")], ids=["all", "any"]
)
async def test_join_skipped_when_no_incoming_edge_taken(client, task_queue, worker, join, name):
    """'With `join: all` ... is skipped if none was [taken]'; so is a `join: any` step none of
    whose incoming edges is taken."""
    got, state = await run_and_status(
        client,
        task_queue,
        f"""
        kworkflow: 1
        name: {name}
        steps:
          - {{id: a, kind: tool, tool: echo, args: {{v: 1}}}}
          - {{id: b, kind: tool, tool: echo, args: {{v: 2}}}}
          - {{id: c, kind: tool, tool: echo, args: {{v: 3}}{join}}}
        edges:
          - {{from: [a, b], to: c, when: "false"}}
        """,
    )
    assert got == {}
    assert step_statuses(state) == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "skipped",
    }


async def test_join_any_runs_on_the_first_taken_edge_once(client, task_queue, worker):
    """'With `join: any` it runs as soon as the first incoming edge is taken.'"""
    run_id = new_run_id()
    _, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: join-any
        steps:
          - {id: a, kind: tool, tool: record, args: {label: a}}
          - {id: b, kind: tool, tool: sleep, args: {seconds: 1, label: b}}
          - {id: c, kind: tool, tool: record, args: {label: c}, join: any}
        edges:
          - {from: [a, b], to: c}
        """,
        run_id=run_id,
    )
    log = records(run_id)
    assert log.count("c") == 1, log
    assert log.index("c") < log.index("end:b"), log
    assert step_statuses(state) == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "succeeded",
    }


async def test_join_any_waits_past_edges_not_taken(client, task_queue, worker):
    """A `join: any` step runs on the first *taken* edge, even after others were not taken."""
    run_id = new_run_id()
    _, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: join-any-late
        steps:
          - {id: a, kind: tool, tool: record, args: {label: a}}
          - {id: b, kind: tool, tool: sleep, args: {seconds: 0.3, label: b}}
          - {id: c, kind: tool, tool: record, args: {label: c}, join: any}
        edges:
          - {from: a, to: c, when: "false"}
          - {from: b, to: c}
        """,
        run_id=run_id,
    )
    log = records(run_id)
    assert log.count("c") == 1 and log.index("c") > log.index("end:b"), log
    assert step_statuses(state)["c"] == "succeeded"


# --------------------------------------------------------------------------------------- `on`


async def test_on_failed_and_always_follow_a_continued_failure(client, task_queue, worker):
    """`on: failed` and `always` are taken after a failure with `on_error: continue`."""
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: on-failed
        defaults: {retry: {max_attempts: 1}}
        steps:
          - {id: a, kind: tool, tool: fail, args: {type: Boom}, on_error: continue}
          - {id: on_ok, kind: tool, tool: echo, args: {v: ok}}
          - {id: on_fail, kind: tool, tool: echo, args: {error: "${ steps.a.error.type }"}}
          - {id: on_any, kind: tool, tool: echo, args: {status: "${ steps.a.status }"}}
        edges:
          - {from: a, to: on_ok}
          - {from: a, to: on_fail, "on": failed}
          - {from: a, to: on_any, "on": always}
        """,
    )
    assert got == {
        "on_fail": {"error": "Boom"},
        "on_any": {"status": "failed"},
    }
    assert state["status"] == "succeeded"
    assert step_statuses(state) == {
        "a": "failed",
        "on_ok": "skipped",
        "on_fail": "succeeded",
        "on_any": "succeeded",
    }
    assert state["steps"]["a"]["error"] == {"type": "Boom", "message": "boom"}


async def test_on_failed_not_taken_after_success(client, task_queue, worker):
    """`on: failed` follows only a failure; `always` follows a success too."""
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: on-succeeded
        steps:
          - {id: a, kind: tool, tool: echo, args: {v: 1}, on_error: continue}
          - {id: on_fail, kind: tool, tool: echo, args: {v: 2}}
          - {id: on_any, kind: tool, tool: echo, args: {v: "${ steps.a.output.v + 2 }"}}
        edges:
          - {from: a, to: on_fail, "on": failed}
          - {from: a, to: on_any, "on": always, when: "steps.a.output.v == 1"}
        """,
    )
    assert got == {"on_any": {"v": 3}}
    assert step_statuses(state) == {
        "a": "succeeded",
        "on_fail": "skipped",
        "on_any": "succeeded",
    }


async def test_always_edge_from_a_skipped_step_is_not_taken(client, task_queue, worker):
    """'skips propagate': a skipped source ended with no outcome, so even `on: always` is not
    taken (dsl.md is silent on `always` after a skip; this pins the interpreter's reading)."""
    got, state = await run_and_status(
        client,
        task_queue,
        """
        kworkflow: 1
        name: always-after-skip
        steps:
          - {id: a, kind: tool, tool: echo, args: {}}
          - {id: s, kind: tool, tool: echo, args: {}}
          - {id: t, kind: tool, tool: echo, args: {}}
        edges:
          - {from: a, to: s, when: "false"}
          - {from: s, to: t, "on": always}
        """,
    )
    assert got == {}
    assert step_statuses(state) == {
        "a": "succeeded",
        "s": "skipped",
        "t": "skipped",
    }


# ---------------------------------------------------------------------------------- run result


async def test_run_result_defaults_to_sinks_that_succeeded(client, task_queue, worker):
    """'...a map from step id to output of the steps that have no outgoing edges ... and
    succeeded.'"""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: sinks
        defaults: {retry: {max_attempts: 1}}
        steps:
          - {id: a, kind: tool, tool: echo, args: {v: a}}
          - {id: b, kind: tool, tool: echo, args: {v: b}}
          - {id: skipped, kind: tool, tool: echo, args: {v: s}}
          - {id: failed, kind: tool, tool: fail, args: {}, on_error: continue}
          - {id: root, kind: tool, tool: add, args: {x: 1, y: 1}}
        edges:
          - {from: a, to: b}
          - {from: a, to: skipped, when: "false"}
          - {from: a, to: failed}
        """,
    )
    assert got == {"b": {"v": "b"}, "root": 2}


async def test_run_output_expression_keeps_its_type(client, task_queue, worker):
    """'The run returns `output` if given'; a lone `${}` keeps the expression's type."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: output
        output: ${ steps.b.output }
        steps:
          - {id: a, kind: tool, tool: add, args: {x: 40, y: 2}}
          - {id: b, kind: tool, tool: echo, args: {answer: "${ steps.a.output }", ok: true}}
        """,
    )
    assert got == {"answer": 42, "ok": True}
    assert got["ok"] is True


async def test_run_output_map_and_text(client, task_queue, worker):
    """`output` is a value: a map whose fields embed `${}`, rendered per the template rules."""
    got = await run(
        client,
        task_queue,
        """
        kworkflow: 1
        name: output-map
        output:
          n: ${ steps.a.output }
          text: "n=${ steps.a.output }, ok=${ steps.a.output == 3 }"
        steps:
          - {id: a, kind: tool, tool: add, args: {x: 1, y: 2}}
        """,
    )
    assert got == {"n": 3, "text": "n=3, ok=true"}
