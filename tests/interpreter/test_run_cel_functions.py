"""CEL's extension functions inside a real run (interpreter/celfuncs.py, docs/cel-functions.md)."""

from __future__ import annotations

from tests.replay.cases import CASES
from tests.support.runs import result, run, run_failure, start, status

FUNCTIONS = """
kworkflow: 1
name: cel-functions
input:
  type: object
  properties: {tags: {type: string, default: "b, a ,c,a"}}
steps:
  - id: tags
    kind: aggregate
    expr: 'input.tags.split(",").map(t, t.trim().upperAscii()).distinct().sort()'
  - id: note
    kind: tool
    tool: echo
    args:
      joined: "${ steps.tags.output.join('|') }"
      text: "tags ${ string(steps.tags.output) }"
      recent: "${ timestamp(run.started_at).getFullYear() > 2000 }"
      top: "${ math.greatest(lists.range(4)) }"
      paris: "${ timestamp('2024-03-05T10:30:00Z').getHours('Europe/Paris') }"
      round: "${ json.decode(json.encode({'x': math.round(2.5)})) }"
edges:
  - {from: tags, to: note}
"""


async def test_a_run_uses_the_extension_functions(client, task_queue, worker):
    """strings, lists, math and json functions resolve a step's arguments; string() is JSON."""
    assert await run(client, task_queue, FUNCTIONS) == {
        "note": {"joined": "A|B|C", "text": 'tags ["A","B","C"]', "recent": True, "paris": 11,
                 "top": 3, "round": {"x": 3.0}}
    }  # fmt: skip


async def test_a_new_run_takes_the_path_an_old_one_did_not(client, task_queue, worker):
    """The replay case recorded before the functions: now `split` works and `new` runs."""
    text, run_input, _ = CASES["cel_before_functions"]
    handle = await start(client, task_queue, text, run_input)
    assert await result(handle) == {"new": {"v": "a+b"}}
    state = await status(handle)
    assert state["steps"]["parts"]["output"] == ["a", "b"]
    assert state["steps"]["old"]["status"] == "skipped"


HOSTILE = """
kworkflow: 1
name: hostile-cel
steps:
  - {id: boom, kind: aggregate, expr: 'lists.range(1000000000).size()'}
"""


async def test_a_huge_range_fails_the_step_before_building_it(client, task_queue, worker):
    """A tenant's `lists.range(10**9)` stops with a clear ExpressionError and the run ends."""
    error, handle = await run_failure(client, task_queue, HOSTILE)
    state = await status(handle)
    step_error = state["steps"]["boom"]["error"]
    assert step_error["type"] == "ExpressionError"
    assert (
        "`lists.range` would read or build about 11,000,000,000 characters"
        in (step_error["message"])
    )
    assert state["status"] == "failed"
    assert error.type == "StepFailed"
    assert error.message.startswith(
        "step 'boom' (aggregate) failed after 1 attempt: ExpressionError"
    )


BAD_TYPES = """
kworkflow: 1
name: bad-cel-types
steps:
  - {id: bad, kind: aggregate, expr: '"a,b".split(1)', on_error: continue}
  - {id: after, kind: aggregate, expr: 'steps.bad.error.message'}
edges:
  - {from: bad, to: after, "on": failed}
"""


async def test_a_wrong_argument_type_names_the_function_and_the_types(client, task_queue, worker):
    output = await run(client, task_queue, BAD_TYPES)
    assert output == {
        "after": "expr: no overload `string.split(int)`: `split` takes `string.split(string)` or "
        '`string.split(string, int)` in `"a,b".split(1)`'
    }
