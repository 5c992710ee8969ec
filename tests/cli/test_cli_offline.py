"""The commands that need no server, and ``run``'s checks before anything starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest

from cli.offline import format_problem
from interpreter.errors import InputError
from tests.cli import EXAMPLES, ROOT, SCHEMA_MISTAKES, cli_env, free_port, kworkflow

EXAMPLE_FILES = ["examples/hello.yaml", "examples/approval.yaml", "examples/fanout.yaml"]


UNKNOWN_REFERENCE = """\
kworkflow: 1
name: dangling
steps:
  - id: first
    kind: aggregate
    expr: steps.nowhere.output
"""


@pytest.fixture
def unreachable_env() -> dict[str, str]:
    """Settings pointing at a port nothing listens on: reaching it would exit 3."""
    return cli_env(TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_lint_of_the_examples_is_clean() -> None:
    result = kworkflow("lint", *EXAMPLE_FILES)
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr.splitlines() == [f"{f}: ok" for f in EXAMPLE_FILES]


def test_lint_prints_each_schema_finding_with_file_line_column_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", SCHEMA_MISTAKES)
    result = kworkflow("lint", path)
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{path}:7:27: steps[0].retry.max_attempts: step 'first': "
        "`max_attempts` must be at least 0, not -1",
        f"{path}:8:9: steps[1].id: 'Second' is not a valid step id: "
        "step ids are lower-case letters, digits and _, starting with a letter",
    ]


def test_lint_prints_graph_findings_naming_the_step(tmp_path: Path) -> None:
    from interpreter.lint import lint_text

    path = write(tmp_path, "dangling.yaml", UNKNOWN_REFERENCE)
    _, problems = lint_text(UNKNOWN_REFERENCE, path)
    assert problems
    result = kworkflow("lint", path)
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [format_problem(path, p) for p in problems]
    assert all(line.startswith(f"{path}:6:") for line in result.stderr.splitlines())
    assert "'first'" in result.stderr


def test_lint_locates_a_duration_too_large_for_a_timer(tmp_path: Path) -> None:
    """Once `unexpected error: OverflowError`; now a finding with line and column."""
    text = "kworkflow: 1\nname: forever\ntimeout: 99999999999d\nsteps:\n"
    text += "  - {id: a, kind: aggregate, expr: '1'}\n"
    path = write(tmp_path, "forever.yaml", text)
    result = kworkflow("lint", path)
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{path}:3:10: timeout: '99999999999d': a duration must be at most 100 years (36525d)"
    ]


def test_lint_goes_on_after_a_bad_file_and_fails(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", SCHEMA_MISTAKES)
    missing = str(tmp_path / "missing.yaml")
    result = kworkflow("lint", missing, bad, "examples/hello.yaml")
    assert result.code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"kworkflow: {missing}: no such file"
    assert lines[-1] == "examples/hello.yaml: ok"
    assert len(lines) == 4


def test_format_problem_without_a_line_names_the_document() -> None:
    from interpreter.errors import Problem

    problem = Problem("", "the document is empty")
    assert format_problem("x.yaml", problem) == "x.yaml: <document>: the document is empty"


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_render_prints_the_graph(fmt: Literal["mermaid", "dot"]) -> None:
    from interpreter.loader import load_file
    from interpreter.render import render

    expected = render(load_file(EXAMPLES / "hello.yaml"), fmt).rstrip("\n") + "\n"
    result = kworkflow("render", "examples/hello.yaml", "--format", fmt)
    assert (result.code, result.stdout, result.stderr) == (0, expected, "")


def test_render_defaults_to_mermaid() -> None:
    assert kworkflow("render", "examples/hello.yaml").stdout == (
        kworkflow("render", "examples/hello.yaml", "--format", "mermaid").stdout
    )


def test_render_of_a_bad_definition_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", SCHEMA_MISTAKES)
    result = kworkflow("render", path)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1] == f"kworkflow: {path}: 2 problem(s); nothing to render"


def test_run_of_a_bad_definition_starts_nothing(
    tmp_path: Path, unreachable_env: dict[str, str]
) -> None:
    path = write(tmp_path, "bad.yaml", SCHEMA_MISTAKES)
    result = kworkflow("run", path, env=unreachable_env)
    assert (result.code, result.stdout) == (2, "")
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}:7:27: steps[0].retry.max_attempts:")
    assert lines[-1] == f"kworkflow: {path}: 2 problem(s); the run was not started"
    assert "cannot reach" not in result.stderr  # never tried the server


def test_run_with_a_lint_finding_starts_nothing(
    tmp_path: Path, unreachable_env: dict[str, str]
) -> None:
    path = write(tmp_path, "dangling.yaml", UNKNOWN_REFERENCE)
    result = kworkflow("run", path, env=unreachable_env)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[-1].endswith("problem(s); the run was not started")


def test_run_with_input_that_is_not_json_exits_2(unreachable_env: dict[str, str]) -> None:
    result = kworkflow("run", "examples/hello.yaml", "--input", "{name: Ada}", env=unreachable_env)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "kworkflow: --input is not valid JSON: "
        "Expecting property name enclosed in double quotes (line 1, column 2)\n"
    )


def test_run_with_input_from_a_missing_file_exits_2(
    tmp_path: Path, unreachable_env: dict[str, str]
) -> None:
    missing = tmp_path / "input.json"
    result = kworkflow("run", "examples/hello.yaml", "--input", f"@{missing}", env=unreachable_env)
    assert result.code == 2
    assert result.stderr == f"kworkflow: --input: cannot read {missing}: FileNotFoundError\n"


def test_run_with_input_breaking_the_schema_names_the_property(
    unreachable_env: dict[str, str],
) -> None:
    from interpreter.inputs import prepare_input
    from interpreter.loader import load_file

    schema = load_file(EXAMPLES / "hello.yaml").input
    with pytest.raises(InputError) as caught:
        prepare_input(schema, {"name": 7})
    assert caught.value.path == "name"
    result = kworkflow("run", "examples/hello.yaml", "--input", '{"name": 7}', env=unreachable_env)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == f"kworkflow: {caught.value}; the run was not started\n"
    assert result.stderr.startswith("kworkflow: input.name: ")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            '{"name": "Ada", "ratio": NaN}',
            "input.ratio: nan is not a number JSON can carry (NaN and Infinity are not)",
        ),
        (
            '{"name": "Ada", "id": 18446744073709551616}',
            "input.id: 18446744073709551616 is outside the 64-bit integer range",
        ),
    ],
)
def test_run_with_input_no_run_can_carry_names_the_place(
    unreachable_env: dict[str, str], given: str, message: str
) -> None:
    """NaN would have reached the run as null; a huge integer would have broken every CEL read."""
    result = kworkflow("run", "examples/hello.yaml", "--input", given, env=unreachable_env)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == f"kworkflow: {message}; the run was not started\n"


def test_run_with_input_from_a_file(tmp_path: Path, unreachable_env: dict[str, str]) -> None:
    source = tmp_path / "input.json"
    source.write_text(json.dumps({"name": "Ada"}))
    result = kworkflow("run", "examples/hello.yaml", "--input", f"@{source}", env=unreachable_env)
    assert result.code == 3  # the input was fine: it went on to the (absent) server


def test_run_without_a_server_exits_3(unreachable_env: dict[str, str]) -> None:
    address = unreachable_env["TEMPORAL_ADDRESS"]
    result = kworkflow(
        "run", "examples/hello.yaml", "--input", '{"name":"Ada"}', env=unreachable_env
    )
    assert (result.code, result.stdout) == (3, "")
    assert result.stderr == (
        f"kworkflow: cannot reach the Temporal server at {address}: connection refused\n"
    )


def test_run_with_a_subflow_no_file_defines_exits_2(
    tmp_path: Path, unreachable_env: dict[str, str]
) -> None:
    path = write(
        tmp_path,
        "parent.yaml",
        "kworkflow: 1\nname: parent\nsteps:\n  - {id: call, kind: subflow, workflow: nobody}\n",
    )
    lib = tmp_path / "lib"
    lib.mkdir()
    result = kworkflow("run", path, "--lib", str(lib), env=unreachable_env)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        "kworkflow: subflow 'nobody': no definition with `name: nobody` in "
        f"{tmp_path.resolve()}, {lib.resolve()}; the run was not started\n"
    )


def test_a_missing_file_is_a_clear_error(unreachable_env: dict[str, str]) -> None:
    result = kworkflow("run", "nowhere.yaml", env=unreachable_env)
    assert (result.code, result.stderr) == (2, "kworkflow: nowhere.yaml: no such file\n")


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["render", "x.yaml", "--format", "png"]])
def test_usage_errors_exit_2_without_a_traceback(args: list[str]) -> None:
    result = kworkflow(*args)
    assert result.code == 2
    assert "usage: kworkflow" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_exits_0() -> None:
    result = kworkflow("--help")
    assert result.code == 0
    for command in ("lint", "render", "run", "worker", "dev"):
        assert command in result.stdout


def test_the_worker_without_a_server_exits_3(unreachable_env: dict[str, str]) -> None:
    address = unreachable_env["TEMPORAL_ADDRESS"]
    result = kworkflow("worker", env=unreachable_env, cwd=ROOT)
    assert result.code == 3
    assert result.stderr.endswith(
        f"kworkflow: cannot reach the Temporal server at {address}: connection refused\n"
    )
