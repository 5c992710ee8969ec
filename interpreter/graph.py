"""Pure scheduling rules: which edges are decided and taken, which steps are ready or skipped.

Plain functions over plain state, no Temporal: the workflow asks, then acts. An edge is
*decided* once its source has reached a final status; it is *taken* when the source's outcome
is one its ``on`` accepts and its ``when`` (if any) is true. A branch decides its own edges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from interpreter.state import TERMINAL
from interpreter.topology import EdgePair

Readiness = Literal["wait", "run", "skip"]

_ACCEPTS = {
    "succeeded": frozenset({"succeeded"}),
    "failed": frozenset({"failed"}),
    "always": frozenset({"succeeded", "failed"}),
}


@dataclass(frozen=True)
class Source:
    """What an edge needs to know about its source step."""

    status: str
    branch_taken: str | None = None
    """For a branch that succeeded: the target it chose (None if no case matched)."""
    is_branch: bool = False


def decide_edge(
    edge: EdgePair, source: Source, when_true: Callable[[EdgePair], bool]
) -> bool | None:
    """Whether ``edge`` is taken: None while undecided, else True or False.

    Args:
        edge: The edge.
        source: Its source step's state.
        when_true: Evaluates the edge's ``when`` (called only when it has one and the outcome
            matches); may raise to fail the run.
    """
    if source.status not in TERMINAL:
        return None
    if source.is_branch:
        return source.status == "succeeded" and source.branch_taken == edge.target
    if source.status not in _ACCEPTS[edge.on]:
        return False
    return True if edge.when is None else when_true(edge)


def readiness(join: str, decisions: Sequence[bool | None]) -> Readiness:
    """Whether a pending step with these incoming edge decisions runs, is skipped, or waits.

    A root (no incoming edges) runs at once. ``join: all`` waits for every edge and runs if at
    least one was taken; ``join: any`` runs on the first taken edge. Skipped when every edge is
    decided and none was taken.
    """
    if not decisions:
        return "run"
    if join == "any" and any(d is True for d in decisions):
        return "run"
    if any(d is None for d in decisions):
        return "wait"
    return "run" if any(decisions) else "skip"


def sinks(step_ids: Sequence[str], edges: Sequence[EdgePair]) -> list[str]:
    """Steps with no outgoing edge, in ``steps`` order (they make the default run result)."""
    sources = {e.source for e in edges}
    return [s for s in step_ids if s not in sources]


def still_running(statuses: Mapping[str, str]) -> list[str]:
    """Steps that have started and not finished."""
    return [
        sid
        for sid, st in statuses.items()
        if st in ("queued", "running", "waiting", "at_breakpoint")
    ]
