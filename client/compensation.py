"""Planning a manual compensation of an ended run: the seed of the compensation run, its id.

A pure function over the original run's final view and the definition it ran, as
:mod:`client.retry` plans a retry. The compensation run takes over every ended step of the
original (:mod:`interpreter.seed`, mode ``compensate``) and runs only the ``compensate`` specs
of those that succeeded (:mod:`interpreter.compensation`). One compensation per run: its id is
``<run id>-compensate``, so asking twice names the same run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from client.errors import ClientError
from client.retry import _step_data
from interpreter.compensation import compensation_order
from interpreter.seed import Seed
from interpreter.spec import Definition
from interpreter.state import TERMINAL

COMPENSABLE = frozenset({"failed", "cancelled", "timed_out"})
"""Run statuses a compensation applies to."""


class NotCompensable(ClientError):
    """The run cannot be compensated (its state, or nothing to compensate).

    Attributes:
        status: The run's status.
    """

    def __init__(self, run_id: str, status: str, why: str) -> None:
        self.status = status
        super().__init__(f"run '{run_id}' is {status}: cannot compensate it: {why}")


def compensation_run_id(run_id: str) -> str:
    """The id of the run that compensates ``run_id``."""
    return f"{run_id}-compensate"


def plan_compensation(
    view: Mapping[str, Any],
    definition: Definition,
    *,
    origin: str,
    root: str | None = None,
    origin_version: int = 0,
    by: str | None = None,
    mode: str | None = None,
) -> Seed:
    """The seed of the compensation of the run whose final view is ``view``.

    Args:
        view: The original run's ``status`` answer with its API status (large values filled in).
        definition: The definition the original ran.
        origin: The original's run id.
        root: The first run of its chain of retries (default: ``origin``).
        origin_version: The version the original ran.
        by: Who asks.
        mode: The original's own lineage mode (a compensation run is not compensated).

    Raises:
        NotCompensable: The run has not failed, been cancelled or timed out; it compensated
            already; it is a compensation run; no succeeded step has ``compensate``.
    """
    status = str(view.get("status"))
    if status not in COMPENSABLE:
        why = "only a failed, cancelled or timed-out run is compensated"
        raise NotCompensable(origin, status, why)
    if mode == "compensate":
        raise NotCompensable(origin, status, "it is a compensation run")
    done = view.get("compensation")
    if isinstance(done, dict):
        why = f"it compensated itself ({done.get('status')})"
        raise NotCompensable(origin, status, why)
    entries = view.get("steps") or {}
    succeeded = {sid for sid, e in entries.items() if e.get("status") == "succeeded"}
    if not compensation_order(definition, succeeded):
        raise NotCompensable(origin, status, "no succeeded step has `compensate`")
    known = {s.id for s in definition.steps}
    steps = [
        _step_data(sid, entry)
        for sid, entry in entries.items()
        if sid in known and entry.get("status") in TERMINAL
    ]
    return Seed(
        origin=origin,
        root=root or origin,
        origin_version=origin_version,
        mode="compensate",
        steps=steps,
        by=by,
    )
