"""Pinning named subflows from files, settings from the environment, and run errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from client.connect import Settings
from client.errors import RunFailed, SubflowNotFound
from client.start import new_run_id, pin_subflows
from interpreter.errors import DefinitionError
from interpreter.loader import load_text


def leaf(name: str, greeting: str = "hi") -> str:
    step = f"{{id: s, kind: aggregate, expr: '\"{greeting}\"'}}"
    return f"kworkflow: 1\nname: {name}\nsteps:\n  - {step}\n"


def write(directory: Path, file: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file
    path.write_text(text)
    return path


PARENT = """\
kworkflow: 1
name: parent
steps:
  - id: direct
    kind: subflow
    workflow: alpha
  - id: pinned
    kind: subflow
    workflow: alpha
    version: 3
  - id: inline
    kind: subflow
    steps:
      - {id: deep, kind: subflow, workflow: beta}
  - id: fan
    kind: parallel
    for_each: [1, 2]
    step: {kind: subflow, workflow: gamma}
  - id: both
    kind: parallel
    branches:
      one: {kind: subflow, workflow: delta}
"""


def test_every_named_subflow_is_pinned_under_its_key(tmp_path: Path) -> None:
    write(tmp_path, "alpha.yaml", leaf("alpha"))
    write(tmp_path, "b.yml", leaf("beta"))
    write(tmp_path, "gamma.yaml", leaf("gamma"))
    write(
        tmp_path,
        "delta.yaml",
        "kworkflow: 1\nname: delta\nsteps:\n  - {id: s, kind: subflow, workflow: epsilon}\n",
    )
    write(tmp_path, "epsilon.yaml", leaf("epsilon"))
    write(tmp_path, "notes.yaml", "- just a list\n")
    write(tmp_path, "broken.yaml", "name: [unclosed\n")
    pinned = pin_subflows(load_text(PARENT), [tmp_path])
    assert {k: d.name for k, d in pinned.items()} == {
        "alpha": "alpha",
        "alpha@3": "alpha",
        "beta": "beta",
        "gamma": "gamma",
        "delta": "delta",
        "epsilon": "epsilon",
    }


def test_earlier_directories_win(tmp_path: Path) -> None:
    write(tmp_path / "own", "alpha.yaml", leaf("alpha", "own"))
    write(tmp_path / "lib", "alpha.yaml", leaf("alpha", "lib"))
    defn = load_text("kworkflow: 1\nname: p\nsteps:\n  - {id: a, kind: subflow, workflow: alpha}\n")
    pinned = pin_subflows(defn, [tmp_path / "own", tmp_path / "lib"])
    assert pinned["alpha"].steps[0].expr == '"own"'  # type: ignore[union-attr]


def test_a_recursive_subflow_is_pinned_once(tmp_path: Path) -> None:
    text = "kworkflow: 1\nname: loop\nsteps:\n  - {id: a, kind: subflow, workflow: loop}\n"
    write(tmp_path, "loop.yaml", text)
    assert list(pin_subflows(load_text(text), [tmp_path])) == ["loop"]


def test_a_missing_subflow_names_the_directories(tmp_path: Path) -> None:
    defn = load_text("kworkflow: 1\nname: p\nsteps:\n  - {id: a, kind: subflow, workflow: zeta}\n")
    with pytest.raises(SubflowNotFound) as caught:
        pin_subflows(defn, [tmp_path, tmp_path / "absent"])
    where = f"{tmp_path.resolve()}, {(tmp_path / 'absent').resolve()}"
    assert str(caught.value) == f"subflow 'zeta': no definition with `name: zeta` in {where}"


def test_two_files_with_one_name_in_a_directory_are_ambiguous(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", leaf("alpha"))
    write(tmp_path, "b.yaml", leaf("alpha"))
    defn = load_text("kworkflow: 1\nname: p\nsteps:\n  - {id: a, kind: subflow, workflow: alpha}\n")
    with pytest.raises(SubflowNotFound, match="defined by several files"):
        pin_subflows(defn, [tmp_path, tmp_path])


def test_a_matching_file_that_does_not_load_is_a_definition_error(tmp_path: Path) -> None:
    write(tmp_path, "alpha.yaml", "kworkflow: 1\nname: alpha\nsteps: []\n")
    defn = load_text("kworkflow: 1\nname: p\nsteps:\n  - {id: a, kind: subflow, workflow: alpha}\n")
    with pytest.raises(DefinitionError) as caught:
        pin_subflows(defn, [tmp_path])
    assert caught.value.source == str(tmp_path.resolve() / "alpha.yaml")


def test_run_ids_are_the_name_and_eight_hex_digits() -> None:
    run_id = new_run_id("hello")
    assert run_id.startswith("hello-") and len(run_id) == len("hello-") + 8
    int(run_id[-8:], 16)
    assert new_run_id("hello") != run_id


def test_settings_come_from_the_environment_with_defaults() -> None:
    assert Settings.from_env({}) == Settings("localhost:7233", "default", "kworkflow")
    env = {"TEMPORAL_ADDRESS": "t:1", "TEMPORAL_NAMESPACE": "ns", "KWORKFLOW_TASK_QUEUE": "q"}
    assert Settings.from_env(env) == Settings("t:1", "ns", "q")


def test_a_step_failure_names_step_kind_attempts_and_last_error() -> None:
    details = {
        "step": "fetch",
        "kind": "tool",
        "attempts": 3,
        "error": {"type": "HTTPError", "message": "503 Service Unavailable"},
    }
    error = RunFailed.from_details("r1", "StepFailed", "step 'fetch' failed", details)
    assert (
        str(error)
        == "step 'fetch' (tool) failed after 3 attempts: HTTPError: 503 Service Unavailable"
    )
    assert (error.step, error.kind, error.attempts) == ("fetch", "tool", 3)
    assert (error.error_type, error.error_message) == ("HTTPError", "503 Service Unavailable")
    one = RunFailed.from_details("r1", "StepFailed", "m", {**details, "attempts": 1})
    assert "after 1 attempt:" in str(one)


def test_other_failures_carry_their_message() -> None:
    error = RunFailed.from_details("r1", "EdgeConditionError", "edge a -> b: no such key", None)
    assert str(error) == "EdgeConditionError: edge a -> b: no such key"
    assert error.step is None and error.run_id == "r1"
