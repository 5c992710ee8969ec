"""Planning a retry of an ended run: which steps run again, the seed of the ones that do not,
the new run's id and lineage.

Pure functions over the original run's final view (its ``status`` answer, kept in its memo:
:mod:`interpreter.finalview`), the definition it ran and the definition the retry runs (the
same, or a newer published version). The retried part is *closed downstream*: it holds

- the step named by ``from_step`` (``--from``), when given;
- every step of the original that did not succeed (failed, cancelled, skipped, never ran), and
  every step of the new definition the original did not have;
- every step downstream of one of those, over the edges of both definitions.

Every other step is *seeded*: the new run takes it over as the original ended it
(:mod:`interpreter.seed`). So a seeded step's upstream steps are all seeded too, and what the
new run computes downstream of them sees exactly what the original saw. A seeded step must
exist in the new definition with the same kind, else the retry is refused
(:class:`VersionMismatch`, naming the steps).

The new run's id is derived from the original's (its chain's first run), the from-step, the
version and an optional idempotency key (:func:`retry_run_id`): asking for the same retry twice
names the same run, so the second request finds the first's run instead of starting another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from client.errors import ClientError
from interpreter.carry import StepData
from interpreter.seed import Seed
from interpreter.spec import Definition
from interpreter.stepmatch import step_mismatches
from interpreter.topology import edge_pairs
from interpreter.viewsize import is_truncated

RETRYABLE = frozenset({"failed", "cancelled", "timed_out"})
"""Run statuses a retry applies to; a succeeded run is retried only from a named step."""


class RetryError(ClientError):
    """Base of the reasons a retry is refused."""


class NotRetryable(RetryError):
    """The run is not in a state a retry applies to (it runs, or it succeeded and no step was
    named).

    Attributes:
        status: The run's status.
    """

    def __init__(self, run_id: str, status: str, hint: str = "") -> None:
        self.status = status
        super().__init__(f"run '{run_id}' is {status}: cannot retry it{hint}")


class UnknownStep(RetryError):
    """``from_step`` names no step of the run's definition."""

    def __init__(self, step: str, workflow: str) -> None:
        self.step = step
        super().__init__(f"from: workflow '{workflow}' has no step '{step}'")


class UnreadableStep(RetryError):
    """The original run's view of a step cannot be carried (it is not a step's state)."""

    def __init__(self, step: str, problem: str) -> None:
        self.step = step
        super().__init__(f"the original run's state of step '{step}' cannot be read: {problem}")


class VersionMismatch(RetryError):
    """Steps the retry would take over are missing from the new version or changed kind.

    Attributes:
        steps: ``{step: problem}`` for each such step.
    """

    def __init__(self, version: int, steps: Mapping[str, str]) -> None:
        self.steps = dict(steps)
        listed = "; ".join(f"{sid}: {problem}" for sid, problem in self.steps.items())
        super().__init__(f"version {version} does not match the steps the retry keeps: {listed}")


def retried_steps(
    view: Mapping[str, Any],
    original: Definition,
    target: Definition,
    from_step: str | None = None,
) -> set[str]:
    """The step ids (of either definition) that run again (see the module docstring)."""
    statuses = _statuses(view)
    start = {sid for sid in [*_ids(original), *_ids(target)] if statuses.get(sid) != "succeeded"}
    if from_step is not None:
        start.add(from_step)
    return _downstream(start, [original, target])


def plan_seed(
    view: Mapping[str, Any],
    original: Definition,
    target: Definition,
    *,
    origin: str,
    root: str | None = None,
    from_step: str | None = None,
    origin_version: int = 0,
    target_version: int = 0,
) -> Seed:
    """The seed of a retry of the run whose final view is ``view``.

    Args:
        view: The original run's ``status`` answer (its final view); large values must have
            been filled in (:func:`truncated_steps` names them).
        original: The definition the original ran.
        target: The definition the retry runs.
        origin: The original's run id.
        root: The first run of its chain of retries (default: ``origin``).
        from_step: Retry this step and everything downstream of it too.
        origin_version: The version the original ran.
        target_version: The version the retry runs (named in a mismatch).

    Raises:
        NotRetryable: The run has not ended in a state a retry applies to.
        UnknownStep: ``from_step`` is not a step of ``original``.
        VersionMismatch: A seeded step is missing from ``target`` or changed kind.
        UnreadableStep: A seeded step's entry in ``view`` is not a step's state.
    """
    status = str(view.get("status"))
    if status not in RETRYABLE and not (status == "succeeded" and from_step is not None):
        hint = ": name a step to retry it from" if status == "succeeded" else ""
        raise NotRetryable(origin, status, hint)
    if from_step is not None and from_step not in _ids(original):
        raise UnknownStep(from_step, original.name)
    retried = retried_steps(view, original, target, from_step)
    kinds = {s.id or "": s.kind for s in original.steps}
    kept = [sid for sid in _ids(original) if sid not in retried]
    problems = step_mismatches(kinds, target, kept)
    if problems:
        raise VersionMismatch(target_version, problems)
    entries = view.get("steps") or {}
    steps = [_step_data(sid, entries[sid]) for sid in kept]
    return Seed(
        origin=origin,
        root=root or origin,
        from_step=from_step,
        origin_version=origin_version,
        steps=steps,
        retried=[sid for sid in _ids(original) if sid in retried],
    )


def truncated_steps(view: Mapping[str, Any]) -> list[str]:
    """The succeeded steps whose input or output the view shows as a size marker (the whole
    value comes from the ``step`` query)."""
    entries = view.get("steps") or {}
    return [
        sid
        for sid, entry in entries.items()
        if entry.get("status") == "succeeded"
        and (is_truncated(entry.get("output")) or is_truncated(entry.get("input")))
    ]


def retry_run_id(
    root: str, origin: str, from_step: str | None, version: int, key: str, mode: str = "retry"
) -> str:
    """The new run's id: ``<root>-<mode>-<10 hex digits>`` of (origin, from, version, key)."""
    text = "\n".join((origin, from_step or "", str(version), key))
    return f"{root}-{mode}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def _step_data(sid: str, entry: Mapping[str, Any]) -> StepData:
    """A step of the view as the seed carries it.

    Raises:
        UnreadableStep: The view's entry is not a step's state.
    """
    known = {"started_at": None, "ended_at": None, "attempts": 0, "iterations": 0}
    try:
        return StepData.model_validate({**known, **entry, "id": sid})
    except ValidationError as exc:
        raise UnreadableStep(sid, exc.errors()[0]["msg"]) from None


def _statuses(view: Mapping[str, Any]) -> dict[str, str]:
    entries = view.get("steps") or {}
    return {sid: str(entry.get("status")) for sid, entry in entries.items()}


def _ids(definition: Definition) -> list[str]:
    return [s.id or "" for s in definition.steps]


def _downstream(start: Iterable[str], definitions: Iterable[Definition]) -> set[str]:
    """``start`` and every step reachable from it over the edges of ``definitions``."""
    targets: dict[str, set[str]] = {}
    for definition in definitions:
        for edge in edge_pairs(definition):
            targets.setdefault(edge.source, set()).add(edge.target)
    seen = set(start)
    todo = list(seen)
    while todo:
        for target in targets.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen
