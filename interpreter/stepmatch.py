"""Whether a newer version of a definition keeps a run's steps: the same ids, the same kinds.

A retry on a newer version (:mod:`client.retry`) takes over the original's ended steps, and an
upgrade of a paused run (:mod:`interpreter.upgrading`) keeps its ended and running steps: both
refuse a version that lacks one of those steps or gives it another kind, naming each step.
Pure: used inside the workflow and by the clients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from interpreter.spec import Definition

MISSING = "no such step in the new version"
"""The problem of a kept step the new version does not have."""


def step_mismatches(
    kinds: Mapping[str, str], target: Definition, steps: Iterable[str]
) -> dict[str, str]:
    """``{step: problem}`` for each of ``steps`` that ``target`` lacks or gives another kind.

    Args:
        kinds: The kind of each step as the run knows it (the definition it ran).
        target: The newer definition.
        steps: The steps that must be kept, in the order to name them.
    """
    new = {s.id or "": s.kind for s in target.steps}
    problems: dict[str, str] = {}
    for sid in steps:
        if sid not in new:
            problems[sid] = MISSING
        elif new[sid] != kinds[sid]:
            problems[sid] = f"kind {kinds[sid]} became {new[sid]}"
    return problems
