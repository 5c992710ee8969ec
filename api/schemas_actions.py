"""Request and response bodies of the pause and resume routes (:mod:`api.run_actions`), and the
row a bulk action lists for a run it skipped or could not act on (bulk retries list them too)."""

from __future__ import annotations

from typing import Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from api.schemas_runs import PausedOut, RunStatus


class PauseIn(BaseModel):
    """The optional body of the pause and resume routes."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        default=None, max_length=1000, description="Why, for the run's transition log"
    )


class PauseOut(BaseModel):
    """What a pause or resume did to one run."""

    run_id: str
    status: RunStatus = Field(description="`paused` or `running` after the action")
    paused: PausedOut | None
    changed: bool = Field(description="False: the run already was paused (or running)")


class BulkProblemOut(BaseModel):
    """A run a bulk action skipped or could not act on."""

    run_id: str
    status_code: int = Field(description="What the one-run route would have answered")
    detail: str

    @classmethod
    def of(cls, run_id: str, exc: Exception) -> BulkProblemOut:
        """One run's problem: a refusal's status and message, or 503 when Temporal did not
        answer for it (counted, not fatal to the bulk action)."""
        if isinstance(exc, HTTPException):
            return cls(run_id=run_id, status_code=exc.status_code, detail=str(exc.detail))
        return cls(run_id=run_id, status_code=503, detail=f"{type(exc).__name__}: {exc}")


class BulkActionOut(BaseModel):
    """What a bulk pause or resume did to the running runs of a workflow."""

    workflow: str
    action: Literal["pause", "resume"]
    matched: int = Field(description="Running runs of the workflow found")
    changed: int = Field(description="Runs paused (or resumed) by this call")
    unchanged: int = Field(description="Runs that already were paused (or running)")
    skipped: int = Field(description="Runs that ended meanwhile, or are stalled (409)")
    failed: int = Field(description="Runs that did not answer in time, or failed otherwise")
    problems: list[BulkProblemOut] = Field(
        description="The skipped and failed runs (the first 100), with why"
    )
