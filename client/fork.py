"""Forking a run from a step with edited outputs: the edits checked and put into a retry's seed.

A fork is a retry from a step (:mod:`client.retry`) whose seed has some outputs replaced: each
``set`` entry names a step the fork takes over (upstream of ``from``) and gives its new
output, whole. The new output must fit the step where it says what its output is: a human
step's ``data`` its ``form``, an ``llm`` or ``agent`` step's ``data`` its ``output_schema``;
every value must be one a run can carry (:mod:`interpreter.values`). The edited steps are named
in the seed (``edited``) and the new run records a ``step_edited`` transition for each, with
who made the edit, instead of ``step_reused``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from client.retry import RetryError
from interpreter.edits import output_problem
from interpreter.seed import Seed
from interpreter.spec import Definition

MAX_EDITS = 100
"""Most steps one fork may edit."""


class InvalidEdit(RetryError):
    """An edit names a step the fork does not take over, or its value does not fit the step.

    Attributes:
        step: The step of the edit.
    """

    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(f"set.{step}: {message}")


def apply_edits(seed: Seed, target: Definition, edits: Mapping[str, Any], by: str | None) -> Seed:
    """``seed`` as a fork's: the outputs of the steps in ``edits`` replaced, checked.

    Raises:
        InvalidEdit: A step is not taken over by the fork (it runs again, or does not exist),
            or its new output does not fit it.
    """
    if len(edits) > MAX_EDITS:
        raise InvalidEdit("*", f"at most {MAX_EDITS} steps can be edited (got {len(edits)})")
    specs = {s.id or "": s for s in target.steps}
    taken = {s.id: s for s in seed.steps}
    for sid in sorted(edits):
        if sid not in specs:
            raise InvalidEdit(sid, f"workflow '{target.name}' has no step '{sid}'")
        if sid not in taken:
            raise InvalidEdit(sid, "the step runs again in the fork (it is `from` or after it)")
        problem = _problem(specs[sid], edits[sid])
        if problem is not None:
            raise InvalidEdit(sid, problem)
    steps = [
        s.model_copy(update={"output": edits[s.id]}) if s.id in edits else s for s in seed.steps
    ]
    edited = [s.id for s in seed.steps if s.id in edits]
    return seed.model_copy(update={"steps": steps, "mode": "fork", "edited": edited, "by": by})


def edits_digest(edits: Mapping[str, Any]) -> str:
    """A stable text of ``edits`` (part of the fork's run id: the same edits, the same run)."""
    text = json.dumps(edits, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _problem(spec: Any, value: Any) -> str | None:
    """Why ``value`` cannot be the output of ``spec``; None when it can."""
    schema = spec.form if spec.kind == "human" else getattr(spec, "output_schema", None)
    return output_problem(spec.kind, spec.id or "", schema, value)
