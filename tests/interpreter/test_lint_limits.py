"""Lint against the operator's limits: a code step's ``memory_mb`` and timeout, located."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from interpreter.errors import Problem
from interpreter.limits import DEFAULT_LIMITS, CodeLimits, Limits, format_duration
from interpreter.lint import lint_text

SMALL = Limits(code=CodeLimits(max_memory_mb=512, max_timeout="5m"))


def findings(body: str, limits: Limits | None = None) -> list[Problem]:
    text = "kworkflow: 1\nname: demo\n" + textwrap.dedent(body)
    definition, problems = lint_text(text, limits=limits)
    assert definition is not None, problems
    return problems


def test_the_defaults_allow_what_a_step_gets_without_asking() -> None:
    assert DEFAULT_LIMITS.code == CodeLimits(
        max_memory_mb=1024, max_timeout="15m", max_cpu_seconds=600.0
    )
    plain = """\
    steps:
      - {id: calc, kind: code, source: "output = 1"}
    """
    assert findings(plain) == []
    assert findings(plain, SMALL) == []


def test_memory_and_timeout_over_the_maxima_are_located_findings() -> None:
    body = """\
    steps:
      - id: calc
        kind: code
        timeout: 10m
        memory_mb: 2048
        source: "output = 1"
    """
    assert findings(body) == [
        Problem(
            "steps[0].memory_mb",
            "memory_mb 2048 is over this worker's maximum of 1024 (limits.code.max_memory_mb)",
            line=7,
            column=16,
            step="calc",
            code="limit",
        ),
    ]
    assert [(p.path, p.line, p.message) for p in findings(body, SMALL)] == [
        (
            "steps[0].timeout",
            6,
            "timeout 10m is over this worker's maximum of 5m (limits.code.max_timeout)",
        ),
        (
            "steps[0].memory_mb",
            7,
            "memory_mb 2048 is over this worker's maximum of 512 (limits.code.max_memory_mb)",
        ),
    ]


def test_an_inherited_timeout_is_found_where_it_is_written() -> None:
    body = """\
    defaults: {timeout: 10m}
    steps:
      - {id: one, kind: code, source: "output = 1"}
      - {id: two, kind: code, source: "output = 2", timeout: 30s}
      - id: fan
        kind: parallel
        for_each: [1, 2]
        timeout: 6m
        step: {kind: code, source: "output = item"}
      - id: sub
        kind: subflow
        steps:
          - {id: inner, kind: code, source: "output = 3"}
    """
    got = [(p.path, p.step, p.message) for p in findings(body, SMALL)]
    inherited = "timeout 10m is over this worker's maximum of 5m (limits.code.max_timeout); "
    inherited += "from `defaults.timeout` applies to this code step: give it a shorter `timeout`"
    parallel = "timeout 6m is over this worker's maximum of 5m (limits.code.max_timeout); "
    parallel += "from `steps[2].timeout` applies to this code step: give it a shorter `timeout`"
    assert got == [
        ("defaults.timeout", "one", inherited),
        ("defaults.timeout", "sub", inherited),
        ("steps[2].timeout", "fan", parallel),
    ]


def test_the_built_in_default_timeout_counts_too() -> None:
    """Without any timeout a code step gets 5m: a maximum below that is a finding on the step."""
    body = """\
    steps:
      - {id: calc, kind: code, source: "output = 1"}
    """
    tight = Limits(code=CodeLimits(max_timeout="30s"))
    assert [(p.path, p.line, p.message) for p in findings(body, tight)] == [
        (
            "steps[0]",
            4,
            "timeout 5m is over this worker's maximum of 30s (limits.code.max_timeout); the "
            "default applies to this code step: give it a shorter `timeout`",
        )
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(900, "15m"), (5400, "1h30m"), (2.5, "2.5s"), (0.5, "500ms"), (90061, "1d1h1m1s")],
)
def test_durations_read_as_written(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
