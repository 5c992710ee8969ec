"""The definitions the upgrade tests publish: v1 (tool a -> human h -> tool b), v2 (b's args
changed, a new tool c after b), versions that do not match a run paused at h, and the
transitions of a run upgraded from v1 to v2."""

from __future__ import annotations

_HEAD = """\
kworkflow: 1
name: upgrade-flow
tools:
  ta: {{url: "{url}/a", method: POST}}
  tb: {{url: "{url}/b", method: POST}}
  tc: {{url: "{url}/c", method: POST}}
steps:
  - {{id: a, kind: tool, tool: ta, args: {{n: 1}}}}
  - id: h
    kind: human
    prompt: Go?
    form: {{type: object, properties: {{go: {{type: boolean}}}}}}
"""
"""What v1 and v2 share: the three tools, then `a` and the human step `h`."""

V1 = (
    _HEAD
    + """\
  - {{id: b, kind: tool, tool: tb, args: {{n: "${{ steps.a.output.json.n }}"}}}}
output: "${{ steps.b.output.json }}"
"""
)

V2 = (
    _HEAD
    + """\
  - id: b
    kind: tool
    tool: tb
    args: {{n: "${{ steps.a.output.json.n + 10 }}", go: "${{ steps.h.output.data.go }}"}}
  - {{id: c, kind: tool, tool: tc, args: {{after: "${{ steps.b.output.json.n }}"}}}}
output: "${{ steps.c.output.json }}"
"""
)

WITHOUT_H = """\
kworkflow: 1
name: upgrade-flow
tools:
  ta: {{url: "{url}/a", method: POST}}
  tb: {{url: "{url}/b", method: POST}}
steps:
  - {{id: a, kind: tool, tool: ta, args: {{n: 1}}}}
  - {{id: b, kind: tool, tool: tb, args: {{n: 2}}}}
"""

A_BECAME_CODE = """\
kworkflow: 1
name: upgrade-flow
tools:
  tb: {{url: "{url}/b", method: POST}}
steps:
  - {{id: a, kind: aggregate, expr: "1"}}
  - {{id: h, kind: human, prompt: Go?}}
  - {{id: b, kind: tool, tool: tb, args: {{n: 2}}}}
"""

UPGRADED_TRANSITIONS = [
    ("step_started", "a"),
    ("step_succeeded", "a"),
    ("step_started", "h"),
    ("step_waiting", "h"),
    ("run_paused", None),
    ("run_upgraded", None),
    ("step_succeeded", "h"),
    ("run_resumed", None),
    ("step_started", "b"),
    ("step_succeeded", "b"),
    ("step_started", "c"),
    ("step_succeeded", "c"),
    ("run_succeeded", None),
]
"""``(type, step)`` of every transition of a v1 run paused at h, upgraded to v2, answered and
resumed, in order."""
