"""The check of a definition against the workers' offers: tools, providers, models, defaults."""

from __future__ import annotations

from interpreter.lint import lint_text
from registry.capabilities import offered_check
from registry.workers import WorkerOffer

OFFERS = [
    WorkerOffer("w-1", "q", ("greet",), {"local": ("small-1",)}, "local"),
    WorkerOffer("w-2", "q", ("ship",), {"local": ("small-2",), "open": ()}, None),
]


def findings(text: str, offers: list[WorkerOffer] = OFFERS) -> list[tuple[str, str, int | None]]:
    _, problems = lint_text(text, extra=offered_check(offers))
    return [(p.code, p.path, p.line) for p in problems]


def test_tools_of_any_worker_builtins_and_the_definitions_own_pass() -> None:
    text = """\
kworkflow: 1
name: ok
tools:
  crm: {url: "https://crm.example/api"}
steps:
  - {id: a, kind: tool, tool: greet, args: {name: x}}
  - {id: b, kind: tool, tool: ship}
  - {id: c, kind: tool, tool: http, args: {url: "https://example.com"}}
  - {id: d, kind: tool, tool: crm}
  - {id: e, kind: agent, prompt: hi, tools: [greet, crm, lookup]}
"""
    assert findings(text) == [("no_tool", "steps[4].tools[2]", 10)]


def test_providers_and_models_from_steps_and_defaults() -> None:
    text = """\
kworkflow: 1
name: models
defaults: {provider: local, model: big-1}
steps:
  - {id: a, kind: llm, prompt: hi, model: small-2}
  - {id: b, kind: llm, prompt: hi}
  - {id: c, kind: llm, prompt: hi, provider: gone}
  - {id: d, kind: llm, prompt: hi, provider: open, model: anything}
  - {id: e, kind: llm, prompt: hi, model: "${input.model}"}
  - id: f
    kind: parallel
    branches:
      one: {kind: llm, prompt: hi, model: tiny}
"""
    assert findings(text) == [
        ("no_model", "defaults.model", 3),
        ("no_provider", "steps[2].provider", 7),
        ("no_model", "steps[5].branches.one.model", 13),
    ]


def test_without_a_provider_the_workers_default_providers_are_asked() -> None:
    text = """\
kworkflow: 1
name: plain
steps:
  - {id: a, kind: llm, prompt: hi, model: small-1}
"""
    only_local = OFFERS[:1]
    assert findings(text, only_local) == []
    # w-2 has no default provider: OPENAI_BASE_URL, whose models are not declared
    assert findings(text.replace("small-1", "whatever"), OFFERS) == []
    assert findings(text.replace("small-1", "whatever"), only_local) == [
        ("no_model", "steps[0].model", 4)
    ]


def test_no_worker_at_all_is_one_warning() -> None:
    text = """\
kworkflow: 1
name: alone
steps:
  - {id: a, kind: tool, tool: nowhere}
"""
    _, problems = lint_text(text, extra=offered_check([]))
    assert [(p.code, p.severity) for p in problems] == [("no_workers", "warning")]
