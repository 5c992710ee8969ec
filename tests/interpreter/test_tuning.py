"""A worker's pollers, slots and cache: read from KWORKFLOW_* variables, given to the Worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum

from activities.errors import ConfigError
from interpreter.registration import new_worker
from interpreter.tuning import Tuning

ROOT = Path(__file__).resolve().parent.parent.parent


def test_defaults_and_values_from_the_environment() -> None:
    assert Tuning.from_env({}) == Tuning(
        workflow_pollers=5,
        activity_pollers=5,
        workflow_task_slots=100,
        activity_slots=100,
        local_activity_slots=100,
        workflow_cache=2000,
    )
    env = {"KWORKFLOW_WORKFLOW_POLLERS": " 16 ", "KWORKFLOW_WORKFLOW_CACHE": "0", "X": "1"}
    assert Tuning.from_env(env) == Tuning(workflow_pollers=16, workflow_cache=0)
    assert Tuning.from_env({"KWORKFLOW_ACTIVITY_SLOTS": ""}) == Tuning()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"KWORKFLOW_WORKFLOW_POLLERS": "many"},
            "KWORKFLOW_WORKFLOW_POLLERS: 'many' is not a whole number",
        ),
        (
            {"KWORKFLOW_WORKFLOW_POLLERS": "1"},
            "KWORKFLOW_WORKFLOW_POLLERS: 1 is below the minimum, 2",
        ),
        ({"KWORKFLOW_ACTIVITY_SLOTS": "0"}, "KWORKFLOW_ACTIVITY_SLOTS: 0 is below the minimum, 1"),
        (
            {"KWORKFLOW_WORKFLOW_CACHE": "-1"},
            "KWORKFLOW_WORKFLOW_CACHE: -1 is below the minimum, 0",
        ),
        (
            {"KWORKFLOW_LOCAL_ACTIVITY_SLOTS": "2.5"},
            "KWORKFLOW_LOCAL_ACTIVITY_SLOTS: '2.5' is not a whole number",
        ),
    ],
)
def test_a_wrong_value_is_a_config_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Tuning.from_env(env)
    assert str(raised.value) == message


async def test_new_worker_takes_the_settings_and_an_argument_wins(
    client: Client, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KWORKFLOW_WORKFLOW_POLLERS", "6")
    monkeypatch.setenv("KWORKFLOW_ACTIVITY_SLOTS", "7")
    monkeypatch.setenv("KWORKFLOW_WORKFLOW_CACHE", "50")
    config = new_worker(client, task_queue, max_cached_workflows=0).config()
    assert config["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(6)
    assert config["activity_task_poller_behavior"] == PollerBehaviorSimpleMaximum(5)
    assert config["max_concurrent_activities"] == 7
    assert config["max_concurrent_workflow_tasks"] == 100
    assert config["max_concurrent_local_activities"] == 100
    assert config["max_cached_workflows"] == 0  # the argument, not the environment's 50


def test_a_wrong_setting_stops_the_worker_before_it_connects() -> None:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # never reached
        "KWORKFLOW_WORKFLOW_CACHE": "lots",
        "KWORKFLOW_CONFIG": "",
    }
    done = subprocess.run(
        [sys.executable, "worker.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (
        2,
        "kworkflow: KWORKFLOW_WORKFLOW_CACHE: 'lots' is not a whole number",
    )
