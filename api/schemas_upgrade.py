"""Request and response schemas of the upgrade route (:mod:`api.upgrade`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class UpgradeIn(BaseModel):
    """Which version to upgrade a paused run to."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="A published version of the run's workflow (default: the latest)",
    )


class UpgradeOut(BaseModel):
    """What an upgrade did to a run."""

    run_id: str
    status: Literal["paused"] = Field(description="The run stays paused: resume it to go on")
    from_version: int = Field(description="The version the run ran before")
    version: int = Field(description="The version it runs now")
    added: list[str] = Field(description="Steps of the new version the run did not have")
    removed: list[str] = Field(description="Steps not started that the new version removed")
