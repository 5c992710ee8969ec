"""Response bodies of compensation (:mod:`api.compensation`); a run view's ``compensation``
entry is :class:`api.schemas_runs.CompensationOut`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CompensateOut(BaseModel):
    """The compensation run started (or found, when it was asked before)."""

    run_id: str = Field(description="The compensation run's id: `<run id>-compensate`")
    compensation_of: str = Field(description="The run it compensates")
    created: bool = Field(description="False: asked before; that run")
    steps: list[str] = Field(description="The steps it compensates, in order")
    links: dict[str, str] = Field(description="`run`: the compensation run, `original`")
