"""How much work a worker takes on at once: its pollers, task slots and workflow cache.

Each setting has a default chosen for one worker on a small machine keeping up with runs started
in a burst (``bench/scale.py``), and an environment variable that changes it::

    KWORKFLOW_WORKFLOW_POLLERS=8        # concurrent polls for workflow tasks
    KWORKFLOW_ACTIVITY_POLLERS=8        # concurrent polls for activity tasks
    KWORKFLOW_WORKFLOW_TASK_SLOTS=200   # workflow tasks in progress at once
    KWORKFLOW_ACTIVITY_SLOTS=200        # activities (step attempts) running at once
    KWORKFLOW_LOCAL_ACTIVITY_SLOTS=200  # local activities (the end-of-run report) at once
    KWORKFLOW_WORKFLOW_CACHE=2000       # runs kept in memory between their workflow tasks

docs/operations.md lists them with their defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from temporalio.worker import PollerBehaviorSimpleMaximum

from activities.errors import ConfigError

ENV_PREFIX = "KWORKFLOW_"


@dataclass(frozen=True)
class Tuning:
    """A worker's concurrency settings (module docstring; the attribute names the variable).

    Attributes:
        workflow_pollers: Concurrent workflow task polls (at least 2). New runs arrive on the
            task queue itself, later tasks of a cached run on the worker's sticky queue; with
            Temporal's default ratio one in five polls serves new runs, so kworkflow splits them
            evenly: a burst of new runs is taken up as fast as the server hands them out.
        activity_pollers: Concurrent activity task polls (at least 1).
        workflow_task_slots: Workflow tasks the worker holds at once (at least 2).
        activity_slots: Activities running at once (at least 1).
        local_activity_slots: Local activities running at once (at least 1).
        workflow_cache: Runs kept in memory between workflow tasks (0: none, every task replays
            its history). A run waiting on a person holds its place until it is evicted to make
            room, after which its next task replays.
    """

    workflow_pollers: int = 8
    activity_pollers: int = 8
    workflow_task_slots: int = 200
    activity_slots: int = 200
    local_activity_slots: int = 200
    workflow_cache: int = 2000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Tuning:
        """The settings from ``KWORKFLOW_<NAME>`` variables; unset or empty ones take defaults.

        Raises:
            activities.errors.ConfigError: A value is not a whole number, or is below its
                minimum.
        """
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for field in fields(cls):
            name = f"{ENV_PREFIX}{field.name.upper()}"
            text = env.get(name, "").strip()
            if not text:
                continue
            try:
                value = int(text)
            except ValueError:
                raise ConfigError(f"{name}: {text!r} is not a whole number") from None
            least = _MINIMUM[field.name]
            if value < least:
                raise ConfigError(f"{name}: {value} is below the minimum, {least}")
            values[field.name] = value
        return cls(**values)

    def worker_options(self) -> dict[str, Any]:
        """The settings as :class:`temporalio.worker.Worker` arguments."""
        return {
            "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(self.workflow_pollers),
            "nonsticky_to_sticky_poll_ratio": 0.5,
            "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(self.activity_pollers),
            "max_concurrent_workflow_tasks": self.workflow_task_slots,
            "max_concurrent_activities": self.activity_slots,
            "max_concurrent_local_activities": self.local_activity_slots,
            "max_cached_workflows": self.workflow_cache,
        }


_MINIMUM = {
    "workflow_pollers": 2,
    "activity_pollers": 1,
    "workflow_task_slots": 2,
    "activity_slots": 1,
    "local_activity_slots": 1,
    "workflow_cache": 0,
}
