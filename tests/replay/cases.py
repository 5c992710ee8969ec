"""Representative runs whose histories are checked in: every kind and rule of the interpreter."""

from __future__ import annotations

from typing import Any

# name -> (definition YAML, input, human answers as (step, data, via) sent once the step waits;
# an entry ("@<update>:<step>=<status>", payload, via) sends update or signal <update> once
# step <step> has status <status>)
CASES: dict[str, tuple[str, Any, list[tuple[str, Any, str]]]] = {
    "chain_templates": (
        """
kworkflow: 1
name: replay-chain
input: {type: object, properties: {n: {type: integer, default: 2}}}
steps:
  - {id: a, kind: tool, tool: echo, args: {x: "${ input.n + 1 }", s: "n=${ input.n }"}}
  - {id: b, kind: tool, tool: echo, args: {prev: "${ steps.a.output.x }"}}
  - {id: c, kind: llm, prompt: "say ${ steps.b.output.prev }"}
""",
        {},
        [],
    ),
    "graph_kinds": (
        """
kworkflow: 1
name: replay-graph
steps:
  - {id: start, kind: tool, tool: echo, args: {v: 3}}
  - id: fan
    kind: parallel
    for_each: "${ [1, 2, 3, 4] }"
    max_concurrency: 2
    step: {kind: tool, tool: echo, args: {i: "${ item * 10 }"}}
  - id: split
    kind: parallel
    branches:
      left: {kind: tool, tool: echo, args: {side: left}}
      right: {kind: tool, tool: fail, args: {type: Boom, retryable: false}, on_error: continue}
  - {id: pick, kind: branch, cases: [{when: "steps.start.output.v > 2", to: big}], default: small}
  - {id: big, kind: aggregate, expr: "'big'"}
  - {id: small, kind: aggregate, expr: "'small'"}
  - {id: bad, kind: tool, tool: fail, args: {type: Nope, retryable: false}, on_error: continue}
  - {id: recover, kind: aggregate, expr: "steps.bad.error.type"}
  - {id: total, kind: aggregate, from: [fan, split, big, small, recover], reduce: collect}
edges:
  - {from: start, to: [fan, split, pick, bad]}
  - {from: pick, to: [big, small]}
  - {from: bad, to: recover, "on": failed}
  - {from: [fan, split, big, small, recover], to: total}
""",
        {},
        [],
    ),
    "repeat_retry_subflow": (
        """
kworkflow: 1
name: replay-repeat
defaults: {retry: {initial_interval: 100ms, max_attempts: 3}}
steps:
  - id: loop
    kind: aggregate
    expr: "previous == null ? 1 : previous * 2"
    repeat: {until: "output >= 8", max_iterations: 5}
  - {id: flaky, kind: tool, tool: flaky, args: {succeed_on: 2}}
  - id: sub
    kind: subflow
    input: {x: "${ steps.loop.output }"}
    steps:
      - {id: inner, kind: tool, tool: echo, args: {got: "${ input.x }"}}
    output: "${ steps.inner.output.got }"
  - id: agent
    kind: agent
    prompt: "find ${ steps.sub.output }"
    tools: [echo]
""",
        {},
        [],
    ),
    "human_answers": (
        """
kworkflow: 1
name: replay-human
steps:
  - id: review
    kind: human
    prompt: Approve?
    form: {type: object, required: [approved], properties: {approved: {type: boolean}}}
  - id: second
    kind: human
    prompt: Sure?
  - {id: done, kind: aggregate, expr: "steps.review.output.data.approved"}
""",
        {},
        [
            ("review", {"approved": "no"}, "signal"),
            ("review", {"approved": True}, "update"),
            ("second", {"ok": 1}, "signal"),
        ],
    ),
    "human_bad_form": (
        """
kworkflow: 1
name: replay-bad-form
input: {type: object, properties: {p: {type: string, default: "("}}}
steps:
  - id: review
    kind: human
    prompt: Code?
    form: {type: object, properties: {code: {type: string, pattern: "${ input.p }"}}}
    on_error: continue
  - {id: after, kind: tool, tool: echo, args: {t: "${ steps.review.error.type }"}}
edges:
  - {from: review, to: after, "on": failed}
""",
        {},
        [],
    ),
    "parallel_bounded": (  # recorded with items' tasks made as they start (parallel-lazy-start)
        """
kworkflow: 1
name: replay-bounded
steps:
  - id: fan
    kind: parallel
    for_each: "${ [1, 2, 3, 4, 5] }"
    max_concurrency: 2
    step: {kind: tool, tool: echo, args: {i: "${ item }"}}
  - id: tolerant
    kind: parallel
    for_each: "${ [1, 2, 3] }"
    max_concurrency: 1
    step: {kind: tool, tool: fail, args: {type: Boom, retryable: false}, on_error: continue}
  - {id: total, kind: aggregate, expr: "size(steps.fan.output) + size(steps.tolerant.output)"}
edges: [{from: fan, to: tolerant}, {from: tolerant, to: total}]
""",
        {},
        [],
    ),
    "final_view": (  # recorded with the final view kept in the memo (final-view-memo)
        """
kworkflow: 1
name: replay-final-view
steps:
  - {id: a, kind: tool, tool: echo, args: {x: 1}}
  - {id: b, kind: aggregate, expr: "steps.a.output.x + 1"}
""",
        {},
        [],
    ),
    "pause_resume": (  # paused while a human step waits, answered, resumed (pause-resume)
        """
kworkflow: 1
name: replay-pause
steps:
  - {id: a, kind: tool, tool: echo, args: {x: 1}}
  - {id: gate, kind: human, prompt: Go?}
  - {id: b, kind: tool, tool: echo, args: {go: "${ steps.gate.output.data }"}}
  - {id: c, kind: aggregate, expr: "steps.b.output.go"}
edges:
  - {from: a, to: gate}
  - {from: gate, to: b}
  - {from: b, to: c}
""",
        {},
        [
            ("@pause:gate=waiting", {"by": "recorder", "reason": "look first"}, "update"),
            ("@pause:gate=waiting", {"by": "again"}, "signal"),
            ("gate", {"go": True}, "update"),
            ("@resume:gate=succeeded", {"by": "recorder"}, "signal"),
        ],
    ),
    "breakpoints": (  # held before `a` and after `b`, both edited, continued (breakpoints)
        """
kworkflow: 1
name: replay-breakpoints
steps:
  - {id: a, kind: tool, tool: echo, args: {x: 1}, breakpoint: before}
  - {id: b, kind: tool, tool: echo, args: {y: "${ steps.a.output.x }"}, breakpoint: after}
  - {id: c, kind: aggregate, expr: "steps.b.output"}
edges:
  - {from: a, to: b}
  - {from: b, to: c}
""",
        {},
        [
            ("@continue:a=at_breakpoint", {"step": "a", "input": {"args": {"x": 5}}}, "update"),
            ("@continue:b=at_breakpoint", {"step": "b", "output": {"y": 7}, "by": "me"}, "signal"),
        ],
    ),
    "cel_before_functions": (  # recorded before CEL's extension functions (cel-functions)
        """
kworkflow: 1
name: replay-cel-functions
steps:
  - {id: parts, kind: aggregate, expr: '"a,b".split(",")', on_error: continue}
  - id: route
    kind: branch
    cases: [{when: 'steps.parts.status == "succeeded"', to: new}]
    default: old
  - {id: new, kind: tool, tool: echo, args: {v: "${ steps.parts.output.join('+') }"}}
  - {id: old, kind: tool, tool: echo, args: {v: "${ string(['a', 'b']) }"}}
edges:
  - {from: parts, to: route, "on": always}
  - {from: route, to: [new, old]}
""",
        {},
        [],
    ),
}

CASES["retried"] = (  # a retry: `a` and the answered `gate` seeded from an original, `b` runs
    """
kworkflow: 1
name: replay-retried
steps:
  - {id: a, kind: tool, tool: echo, args: {x: 1}}
  - {id: gate, kind: human, prompt: Go?}
  - {id: pick, kind: branch, cases: [{when: "steps.gate.output.data.go", to: b}], default: hold}
  - {id: b, kind: tool, tool: echo, args: {go: "${ steps.gate.output.data.go }"}}
  - {id: hold, kind: aggregate, expr: "'held'"}
edges:
  - {from: a, to: gate}
  - {from: gate, to: pick}
  - {from: pick, to: [b, hold]}
""",
    {},
    [],
)

CASES["forked"] = (  # a fork from `pick` with the answer of `gate` edited: the branch changes
    CASES["retried"][0].replace("replay-retried", "replay-forked"),
    {},
    [],
)

SEEDS: dict[str, dict[str, Any]] = {
    "retried": {
        "origin": "replay-original",
        "root": "replay-original",
        "retried": ["b", "hold"],
        "by": "recorder",
        "steps": [
            {
                "id": sid,
                "status": "succeeded",
                "attempts": 1,
                "iterations": 1,
                "started_at": "2026-01-01T00:00:00Z",
                "ended_at": "2026-01-01T00:00:01Z",
                "input": args,
                "output": output,
            }
            for sid, args, output in (
                ("a", {"args": {"x": 1}}, {"x": 1}),
                ("gate", {"prompt": "Go?"}, {"data": {"go": True}, "actor": "someone"}),
                ("pick", None, {"taken": "b"}),
            )
        ],
    },
}
"""Seeds of the cases that are retries (interpreter.seed), by case name."""

SEEDS["forked"] = {
    **SEEDS["retried"],
    "mode": "fork",
    "from_step": "pick",
    "retried": ["pick", "b", "hold"],
    "edited": ["gate"],
    "steps": [
        SEEDS["retried"]["steps"][0],
        {**SEEDS["retried"]["steps"][1], "output": {"data": {"go": False}, "actor": "editor"}},
    ],
}

COMPENSATED = """
kworkflow: 1
name: replay-compensated_auto
compensate_on: [failed]
steps:
  - id: a
    kind: tool
    tool: echo
    args: {x: 1}
    compensate: {kind: tool, tool: echo, args: {undo: "${ step.output }", of: "${ step.id }"}}
  - id: b
    kind: tool
    tool: echo
    args: {y: "${ steps.a.output.x }"}
    compensate: {kind: tool, tool: fail, args: {type: Gone, retryable: false}}
  - id: c
    kind: tool
    tool: fail
    args: {type: Declined, retryable: false}
    compensate: {kind: tool, tool: echo, args: {}}
"""
CASES["compensated_auto"] = (  # c fails: b's compensation fails, a's runs; the run fails
    COMPENSATED,
    {},
    [],
)
CASES["compensated_manual"] = (  # a compensation run: the original's a and b are undone
    COMPENSATED.replace("replay-compensated_auto", "replay-compensated_manual").replace(
        "compensate_on: [failed]\n", ""
    ),
    {},
    [],
)
SEEDS["compensated_manual"] = {
    "origin": "replay-original",
    "root": "replay-original",
    "mode": "compensate",
    "by": "recorder",
    "steps": [
        {
            "id": sid,
            "status": status,
            "attempts": 1,
            "iterations": 0,
            "started_at": "2026-01-01T00:00:00Z",
            "ended_at": "2026-01-01T00:00:01Z",
            "input": {"tool": "echo", "args": args},
            "output": output,
        }
        for sid, status, args, output in (
            ("a", "succeeded", {"x": 1}, {"x": 1}),
            ("b", "succeeded", {"y": 1}, {"y": 1}),
            ("c", "failed", {"type": "Declined"}, None),
        )
    ],
}
CASES["upgraded"] = (  # paused at `gate`, upgraded to a version 2 (b's args, c new), resumed
    """
kworkflow: 1
name: replay-upgraded
steps:
  - {id: a, kind: tool, tool: echo, args: {x: 1}}
  - {id: gate, kind: human, prompt: Go?}
  - {id: b, kind: tool, tool: echo, args: {go: "${ steps.gate.output.data }"}}
""",
    {},
    [
        ("@pause:gate=waiting", {"by": "recorder"}, "update"),
        (
            "@upgrade:gate=waiting",
            {
                "version": 2,
                "by": "recorder",
                "definition": {
                    "kworkflow": 1,
                    "name": "replay-upgraded",
                    "steps": [
                        {"id": "a", "kind": "tool", "tool": "echo", "args": {"x": 1}},
                        {"id": "gate", "kind": "human", "prompt": "Go?"},
                        {
                            "id": "b",
                            "kind": "tool",
                            "tool": "echo",
                            "args": {"v": "${ run.version }"},
                        },
                        {"id": "c", "kind": "aggregate", "expr": "steps.b.output.v"},
                    ],
                },
            },
            "update",
        ),
        ("gate", {"go": True}, "update"),
        ("@resume:gate=succeeded", {"by": "recorder"}, "update"),
    ],
)

CASES["step_quota"] = (
    """
kworkflow: 1
name: replay-quota
steps:
  - id: fan
    kind: parallel
    for_each: "${ [1, 2, 3] }"
    step: {kind: tool, tool: echo, args: {i: "${ item }"}}
  - {id: last, kind: llm, prompt: "done ${ steps.fan.output.size() }"}
""",
    {},
    [],
)

CASES["step_quota_ask_now"] = (CASES["step_quota"][0], {}, [])  # asked by update (quota-ask-now)

# name -> the flow limits the case's run is started with (the step quota: the run asks the
# tenant's limiter, whose history is recorded beside the run's)
FLOW_LIMITS: dict[str, dict[str, Any]] = {
    "step_quota": {"step_quota": {"default": 1, "lease": "1m"}},
    "step_quota_ask_now": {"step_quota": {"default": 1, "lease": "1m"}},
}
