"""Human steps of subflows, at any depth, as the runs above them list and answer them.

A subflow's child run tells its parent, by the :data:`SIGNAL` signal, every human step that
waits in it or below it (a snapshot, numbered, so a late one never undoes a newer one). The
parent lists them among its own ``pending_human`` with their path from it, ``<subflow step
path>/<step>`` (``review/approve``, ``gather[2]/check/approve``), records a ``step_waiting``
transition for each new one, and passes the snapshot on to its own parent. An answer to such a
path, given to the top run, is checked against the form there and relayed down, one level at a
time, by the ``respond`` signal, to the run where the step waits.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SIGNAL = "kworkflow.descendant_humans"
"""The signal a child run sends its parent with the human steps waiting in and below it."""
SEPARATOR = "/"


class DescendantHumans(BaseModel):
    """The payload of :data:`SIGNAL`.

    Attributes:
        child: The sender's path in its parent (``review``, ``gather[2]``).
        seq: Increases with every snapshot the sender sends.
        pending: The sender's ``pending_human`` entries (its own and its descendants').
    """

    model_config = ConfigDict(frozen=True)

    child: str
    seq: int
    pending: list[dict[str, Any]] = Field(default_factory=list)


def split(path: str) -> tuple[str, str] | None:
    """``review/approve`` -> ``("review", "approve")``; None for a step of this run."""
    child, sep, rest = path.partition(SEPARATOR)
    return (child, rest) if sep and child and rest else None


def child_path(parent_run_id: str, own_workflow_id: str) -> str:
    """A child run's path in its parent, from its workflow id ``<parent run id>/<path>``."""
    return own_workflow_id.removeprefix(parent_run_id + SEPARATOR)


class Descendants:
    """The latest snapshot from each child, and their entries under the parent's paths."""

    def __init__(self) -> None:
        self.snapshots: dict[str, DescendantHumans] = {}

    def take(self, snapshot: DescendantHumans) -> list[str]:
        """Keep a snapshot unless an equal or newer one came first; the paths that are new."""
        known = self.snapshots.get(snapshot.child)
        if known is not None and known.seq >= snapshot.seq:
            return []
        before = {entry["step"] for entry in self.entries()}
        self.snapshots[snapshot.child] = snapshot
        return [e["step"] for e in self.entries() if e["step"] not in before]

    def drop(self, step_id: str) -> bool:
        """Forget the children of a top-level step that ended (``review``, ``gather[3]``);
        whether any waiting entry went with them."""
        gone = [c for c in self.snapshots if top_step(c) == step_id]
        had = any(self.snapshots[c].pending for c in gone)
        for child in gone:
            del self.snapshots[child]
        return had

    def entries(self) -> list[dict[str, Any]]:
        """Every waiting descendant, with ``step`` as its path from this run."""
        return [
            {**entry, "step": f"{child}{SEPARATOR}{entry['step']}"}
            for child, snapshot in self.snapshots.items()
            for entry in snapshot.pending
        ]

    def find(self, path: str) -> dict[str, Any] | None:
        """The entry waiting at ``path``, or None."""
        return next((e for e in self.entries() if e["step"] == path), None)


def top_step(path: str) -> str:
    """The top-level step id at the start of a path (``gather[3]`` -> ``gather``)."""
    end = len(path)
    for mark in "[.#":
        index = path.find(mark)
        if index != -1:
            end = min(end, index)
    return path[:end]
