"""The one argument and the one result of every step activity (``llm``, ``tool``, ``code``).

The interpreter resolves a step's fields inside the workflow and passes them as ``params``;
each activity reads them into its own model. The result carries the attempt that succeeded,
so the run's live state can say how many attempts a step took. A failing activity raises
``ApplicationError`` whose first detail is ``{"attempt": n}`` (see :func:`failure_details`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunRef(BaseModel):
    """Which run and step an activity works for."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    workflow: str
    tenant: str = "default"
    step: str
    """The step's path in the run: ``plan``, ``gather[3]``, ``check#2`` (repeat iteration)."""


class StepCall(BaseModel):
    """The argument of a step activity.

    Attributes:
        ref: The run and step this call belongs to.
        kind: The step kind (``llm``, ``tool``, ``code``).
        params: The step's resolved fields (``${}`` already evaluated), by field name.
        tools: For ``tool`` and agent ``llm`` calls: the definition's HTTP tools by name.
    """

    model_config = ConfigDict(frozen=True)

    ref: RunRef
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    tools: dict[str, Any] = Field(default_factory=dict)


class StepResult(BaseModel):
    """The result of a step activity.

    Attributes:
        output: The step's output, a JSON value.
        attempt: The attempt (1-based) that produced it.
    """

    model_config = ConfigDict(frozen=True)

    output: Any = None
    attempt: int = 1


def failure_details(attempt: int) -> dict[str, Any]:
    """The first detail of an ``ApplicationError`` raised by a step activity."""
    return {"attempt": attempt}
