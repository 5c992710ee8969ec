"""``kworkflow lint`` with typed findings: warnings are printed and pass unless ``--strict``,
errors fail; an llm step with no model is an error."""

from __future__ import annotations

from pathlib import Path

from tests.cli import kworkflow

WARNED = """\
kworkflow: 1
name: warned
steps:
  - {id: fetch, kind: tool, tool: http_get, on_error: continue}
  - {id: use, kind: aggregate, expr: "steps.fetch.output.body"}
edges:
  - {from: fetch, to: use}
"""

MISTAKES = """\
kworkflow: 1
name: mistakes
input:
  type: object
  properties:
    title: {type: string}
steps:
  - id: draft
    kind: llm
    prompt: "Write ${ input.titel }"
"""


def test_warnings_are_printed_and_fail_only_with_strict(tmp_path: Path) -> None:
    path = tmp_path / "warned.yaml"
    path.write_text(WARNED)
    relaxed = kworkflow("lint", str(path))
    strict = kworkflow("lint", "--strict", str(path))
    finding = (
        f"{path}:5:38: steps[1].expr: warning: step 'use': `steps.fetch.output` may be null "
        "here (`fetch` has `on_error: continue` and may have failed): reading "
        "`steps.fetch.output.body` then fails; check `has(steps.fetch.output.body)` or "
        "`steps.fetch.output != null` first"
    )
    assert (relaxed.code, relaxed.stderr.splitlines()) == (
        0,
        [finding, f"{path}: ok (1 warning(s); --strict fails on them)"],
    )
    assert (strict.code, strict.stderr.splitlines()) == (1, [finding])


def test_errors_fail_with_line_column_and_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "mistakes.yaml"
    path.write_text(MISTAKES)
    result = kworkflow("lint", str(path))
    assert (result.code, result.stderr.splitlines()) == (
        1,
        [
            f"{path}:8:5: steps[0]: step 'draft': this llm step has no model: set its `model` "
            "or `defaults.model`",
            f"{path}:10:13: steps[0].prompt: step 'draft': `input` has no field `titel` "
            "(did you mean `title`?); it declares `title`",
        ],
    )
