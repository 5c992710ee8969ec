"""Planning a retry (client.retry) and a fork's edits (client.fork): pure, over views."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from client.fork import InvalidEdit, apply_edits
from client.retry import NotRetryable, VersionMismatch, plan_seed, retry_run_id
from interpreter.loader import load_text

HANDLED = """\
kworkflow: 1
name: handled
steps:
  - {id: fetch, kind: tool, tool: echo, args: {}}
  - {id: alert, kind: aggregate, expr: "'alert'"}
  - {id: side, kind: aggregate, expr: "'side'"}
  - {id: join, kind: aggregate, from: [alert, side], reduce: collect}
edges:
  - {from: fetch, to: alert, "on": failed}
  - {from: [alert, side], to: join}
"""


def view(status: str, **steps: str) -> dict[str, Any]:
    return {
        "status": status,
        "steps": {
            sid: {"id": sid, "status": st, "attempts": 1, "iterations": 0, "output": sid}
            for sid, st in steps.items()
        },
    }


def test_a_step_downstream_of_a_retried_one_runs_again_even_if_it_succeeded() -> None:
    """`alert` (on: failed) succeeded because `fetch` failed: retrying `fetch` retries it and
    `join`; `side` is upstream of nothing retried and is taken over."""
    defn = load_text(textwrap.dedent(HANDLED))
    seen = view("failed", fetch="failed", alert="succeeded", side="succeeded", join="failed")
    seed = plan_seed(seen, defn, defn, origin="r1")
    assert ([s.id for s in seed.steps], seed.retried) == (["side"], ["fetch", "alert", "join"])
    assert (seed.root, seed.from_step, seed.steps[0].output) == ("r1", None, "side")


def test_a_new_step_and_a_changed_kind() -> None:
    """A step the new version adds runs (with what follows it); a kept step of another kind,
    or one the version drops, is refused by name."""
    old = load_text(textwrap.dedent(HANDLED))
    side_tool = HANDLED.replace("kind: aggregate, expr: \"'side'\"", "kind: tool, tool: echo")
    new = load_text(textwrap.dedent(side_tool.replace("tool: echo}", "tool: echo, args: {}}")))
    seen = view("failed", fetch="failed", alert="succeeded", side="succeeded", join="failed")
    with pytest.raises(VersionMismatch) as caught:
        plan_seed(seen, old, new, origin="r1", target_version=4)
    assert str(caught.value) == (
        "version 4 does not match the steps the retry keeps: side: kind aggregate became tool"
    )


def test_states_and_ids() -> None:
    defn = load_text(textwrap.dedent(HANDLED))
    done = view("succeeded", fetch="succeeded", alert="skipped", side="succeeded", join="succeeded")
    with pytest.raises(NotRetryable) as caught:
        plan_seed(done, defn, defn, origin="r1")
    assert (
        str(caught.value) == "run 'r1' is succeeded: cannot retry it: name a step to retry it from"
    )
    with pytest.raises(NotRetryable):
        plan_seed({**done, "status": "running"}, defn, defn, origin="r1", from_step="join")
    seed = plan_seed(done, defn, defn, origin="r1", from_step="join")
    assert ([s.id for s in seed.steps], seed.retried) == (["fetch", "side"], ["alert", "join"])
    first = retry_run_id("r0", "r1", "join", 1, "")
    assert first == retry_run_id("r0", "r1", "join", 1, "")
    assert first.startswith("r0-retry-") and len(first) == len("r0-retry-") + 10
    assert first != retry_run_id("r0", "r1", "join", 1, "other key")
    assert first != retry_run_id("r0", "r1", None, 1, "")
    with pytest.raises(InvalidEdit) as edit:
        apply_edits(seed, defn, {"fetch": 10**30}, "me")
    assert str(edit.value).startswith("set.fetch: output: ")
    forked = apply_edits(seed, defn, {"side": "edited"}, "me")
    assert (forked.mode, forked.edited, forked.by) == ("fork", ["side"], "me")
    assert [s.output for s in forked.steps] == ["fetch", "edited"]
