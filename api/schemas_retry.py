"""Request and response schemas of the retry routes (:mod:`api.retry`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas_actions import BulkProblemOut
from interpreter.spec import NAME_PATTERN


class RetryIn(BaseModel):
    """What to retry: from which step, with which version."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(
        default=None,
        alias="from",
        pattern=NAME_PATTERN,
        max_length=200,
        description="Retry this step and everything downstream of it too (default: the steps "
        "that failed, were cancelled or did not run)",
    )
    version: int | None = Field(
        default=None, ge=1, description="Run this published version (default: the run's own)"
    )


class RetryOut(BaseModel):
    """The run a retry started (or found, when the same retry was asked before)."""

    run_id: str = Field(description="The new run's id")
    retry_of: str = Field(description="The run it retries")
    from_: str | None = Field(default=None, alias="from")
    version: int = Field(description="The definition version the new run runs")
    created: bool = Field(description="False: this retry had been asked before; that run")
    reused: list[str] = Field(description="Steps taken over from the original, not run again")
    retried: list[str] = Field(description="Steps that run again")
    edited: list[str] = Field(default_factory=list, description="A fork's edited steps")
    links: dict[str, str] = Field(description="`run`: the new run, `original`: the one retried")

    model_config = ConfigDict(populate_by_name=True)


class ForkIn(BaseModel):
    """Where to fork a run, and the outputs to replace before it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(
        alias="from",
        pattern=NAME_PATTERN,
        max_length=200,
        description="The fork runs this step and everything downstream of it again",
    )
    set: dict[str, Any] = Field(
        default_factory=dict,
        description="New outputs (whole) of steps the fork takes over, by step id",
    )
    version: int | None = Field(
        default=None, ge=1, description="Run this published version (default: the run's own)"
    )


class BulkRetryIn(BaseModel):
    """Which failed runs of a workflow to retry."""

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(default=None, description="Runs that ended at or after this")
    error_type: str | None = Field(
        default=None,
        max_length=200,
        description="Runs whose error (or a failed step's error) has this type",
    )


class BulkRetryOut(BaseModel):
    """What a bulk retry did."""

    workflow: str
    matched: int = Field(description="Failed (or timed-out) runs of the workflow found")
    retried: int = Field(description="Retries started by this call")
    already: int = Field(description="Runs whose retry had been started before (not again)")
    skipped: int = Field(description="Runs not retried: another error type, or refused (4xx)")
    failed: int = Field(description="Runs that could not be retried now (a server problem)")
    runs: dict[str, str] = Field(description="Each retried run -> its retry's run id")
    problems: list[BulkProblemOut] = Field(description="The refused and failed runs (first 100)")
