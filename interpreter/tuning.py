"""How much work a worker takes on at once: its pollers, task slots and workflow cache.

Each setting has a default chosen for one worker on a small machine keeping up with runs started
in a burst (``bench/scale.py``), and an environment variable that changes it::

    KWORKFLOW_WORKFLOW_POLLERS=5        # concurrent polls for workflow tasks
    KWORKFLOW_ACTIVITY_POLLERS=5        # concurrent polls for activity tasks
    KWORKFLOW_WORKFLOW_TASK_SLOTS=100   # workflow tasks in progress at once
    KWORKFLOW_ACTIVITY_SLOTS=100        # activities (step attempts) running at once
    KWORKFLOW_LOCAL_ACTIVITY_SLOTS=100  # local activities (the end-of-run report) at once
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
        workflow_pollers: Concurrent workflow task polls (at least 2; one in five polls the task
            queue itself, where new runs arrive, the others the worker's sticky queue). Temporal's
            5: on the embedded server more polls (8, half for new runs) took up a burst of new
            runs no faster (the server is the limit, bench/scale.py), so kworkflow keeps them.
        activity_pollers: Concurrent activity task polls (at least 1).
        workflow_task_slots: Workflow tasks the worker holds at once (at least 2). Workflow code
            runs one task at a time in the worker's Python process; more slots only queue more.
        activity_slots: Activities running at once (at least 1): each may be a ``code`` step's
            process, up to its memory limit, so this bounds a worker's memory too.
        local_activity_slots: Local activities running at once (at least 1).
        workflow_cache: Runs kept in memory between workflow tasks (0: none, every task replays
            its history). Twice Temporal's 1,000, so that 1,000 active runs fit with room to
            spare (an evicted run replays its whole history on its next task); a cached run
            waiting on a person takes about 65 KB (bench/scale.py).
    """

    workflow_pollers: int = 5
    activity_pollers: int = 5
    workflow_task_slots: int = 100
    activity_slots: int = 100
    local_activity_slots: int = 100
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
