"""A run's priority: Temporal's task priority key, carried by the run's workflow tasks and, by
inheritance, by every activity and child workflow it starts.

``1`` is dispatched first and ``5`` last; a run started without one has Temporal's default,
``3``. When workers are saturated, the task queue hands out its backlog in priority order, so a
priority-1 run's steps start before the steps of runs of lower priority that were waiting
longer. It is not preemptive: steps already running finish. On the embedded server the task
queues have one partition (:data:`client.devserver.DYNAMIC_CONFIG`), so the order is strict; a
cluster with several partitions orders each partition's backlog, which is close to, not
exactly, the priority order.
"""

from __future__ import annotations

from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.common import Priority

HIGHEST = 1
LOWEST = 5
DEFAULT = 3
"""What Temporal gives a run started without a priority (the middle of 1..5)."""


def temporal_priority(priority: int | None) -> Priority:
    """The :class:`Priority` to start a run with (``Priority.default``: the server's)."""
    if priority is None:
        return Priority.default
    if not HIGHEST <= priority <= LOWEST:
        raise ValueError(f"priority must be {HIGHEST} (first) to {LOWEST} (last), got {priority}")
    return Priority(priority_key=priority)


def run_priority(info: WorkflowExecutionInfo) -> int:
    """The priority a run was started with (:data:`DEFAULT` when it was given none)."""
    key = info.priority.priority_key if info.HasField("priority") else 0
    return key or DEFAULT
