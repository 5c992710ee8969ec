"""A run started from another run's ended steps: the :class:`Seed` a retry hands the new run,
and how the new run takes those steps up without running them.

A retry (``POST /v1/runs/{id}/retry``, :mod:`api.retry`) starts a *new* run (its own workflow
id; the original stays as it was) whose :class:`~interpreter.request.RunRequest` carries a
seed: the steps of the original that are outside the retried part, each with its status,
resolved input, output, attempts and times (:class:`interpreter.carry.StepData`, as a
continue-as-new carries them). The new run marks them ended before it schedules anything,
records a ``step_reused`` transition for each (naming the original run), and then schedules as
any run does: ``steps.<id>`` in CEL sees their outputs, their outgoing edges are decided from
their statuses and outputs, and an answered human step is not asked again.

Runs started without a seed (every run recorded before retries existed) do exactly what they
did, so no patch is needed: the seed is read only when it is set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from interpreter.carry import StepData
from interpreter.state import RunState

RETRY_OF_MEMO = "kworkflow.retry_of"
"""The memo key of a retried run's lineage (:meth:`Seed.lineage`)."""


class Seed(BaseModel):
    """What a new run takes over from an ended run (see the module docstring).

    Attributes:
        origin: The run id (workflow id) of the run it comes from.
        root: The first run of a chain of retries (``origin`` for a first retry).
        from_step: The step the retry was asked from (None: the steps that did not succeed).
        origin_version: The definition version the original ran.
        mode: ``retry`` (a fork with edited outputs is ``fork``; a compensation of the
            original's succeeded steps is ``compensate``: :mod:`interpreter.compensation`).
        steps: The ended steps taken over, in the definition's order.
        retried: The steps of the original that run again.
        by: Who asked for it (the API fills it from the caller's identity).
        edited: A fork's steps whose outputs were replaced (:mod:`client.fork`).
    """

    model_config = ConfigDict(frozen=True)

    origin: str
    root: str
    from_step: str | None = None
    origin_version: int = 0
    mode: Literal["retry", "fork", "compensate"] = "retry"
    steps: list[StepData] = Field(default_factory=list)
    retried: list[str] = Field(default_factory=list)
    by: str | None = None
    edited: list[str] = Field(default_factory=list)

    def lineage(self) -> dict[str, object]:
        """The ``retry_of`` entry of the new run's memo and view."""
        return {
            "run_id": self.origin,
            "root": self.root,
            "from": self.from_step,
            "version": self.origin_version,
            "reused": [s.id for s in self.steps],
            "retried": list(self.retried),
            "by": self.by,
            "mode": self.mode,
            "edited": list(self.edited),
        }


_TRANSITION = {"retry": "retry_of", "fork": "fork_of", "compensate": "compensation_of"}
"""The first transition of a seeded run, by the seed's mode."""


def apply_seed(state: RunState, seed: Seed, now: datetime) -> list[str]:
    """Mark the seeded steps of ``state`` ended as the original left them; the ids taken.

    A ``retry_of`` (``fork_of``, ``compensation_of``) transition (origin, from-step, by) comes
    first, then one ``step_reused`` per step (``step_edited``, with ``by``, for a fork's edited
    steps). Seeded steps the definition does not have are ignored (the starter refuses them).
    """
    mode = _TRANSITION[seed.mode]
    state.record(now, mode, None, origin=seed.origin, from_step=seed.from_step, by=seed.by)
    taken: list[str] = []
    for data in seed.steps:
        step = state.steps.get(data.id)
        if step is None:
            continue
        data.restore(step)
        if data.id in seed.edited:
            state.record(now, "step_edited", data.id, origin=seed.origin, by=seed.by)
        else:
            state.record(now, "step_reused", data.id, origin=seed.origin, status=data.status)
        taken.append(data.id)
    return taken
