"""Request and response bodies of the ``/v1/workflows`` routes (pydantic, the HTTP boundary)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from interpreter.errors import Problem
from interpreter.spec import Definition
from registry.source import to_data
from registry.store import Published, Summary, VersionInfo


class ProblemOut(BaseModel):
    """One thing wrong with a definition (or a request), located.

    ``line`` and ``column`` are 1-based positions in a YAML body; null for JSON bodies and for
    problems that are not about the body.
    """

    path: str = Field(description="Where in the document, e.g. `steps[3].retry.max_attempts`")
    line: int | None = None
    column: int | None = None
    message: str
    step: str | None = Field(default=None, description="The id of the step concerned")
    code: str = Field(description="A short stable name of the kind of problem")
    severity: str = Field(
        default="error",
        description="`error` (refuses a publish) or `warning` (reported, does not refuse)",
    )

    @classmethod
    def of(cls, problem: Problem) -> ProblemOut:
        """The body of a :class:`~interpreter.errors.Problem`."""
        return cls(
            path=problem.path,
            line=problem.line,
            column=problem.column,
            message=problem.message,
            step=problem.step,
            code=problem.code,
            severity=problem.severity,
        )


class ErrorOut(BaseModel):
    """The body of an error response."""

    detail: str


class ProblemsOut(ErrorOut):
    """The body of a 413, 415 or 422 response: a summary and every problem found."""

    problems: list[ProblemOut]


class ValidationOut(BaseModel):
    """The result of ``POST /v1/workflows/validate``."""

    ok: bool = Field(description="True when the definition would publish")
    problems: list[ProblemOut]


class PublishedOut(BaseModel):
    """A version just published (201 of ``POST /v1/workflows``)."""

    name: str
    version: int
    created_at: datetime
    definition: dict[str, Any] = Field(
        description="The definition as JSON data: the fields as written, defaults left out"
    )

    @classmethod
    def of(cls, published: Published) -> PublishedOut:
        """The body of a :class:`~registry.store.Published`."""
        return cls(**_published_fields(published))


class WorkflowOut(PublishedOut):
    """One version of a workflow with the text it was published from."""

    source: str
    format: Literal["yaml", "json"]

    @classmethod
    def of(cls, published: Published) -> WorkflowOut:
        """The body of a :class:`~registry.store.Published`, source included."""
        return cls(**_published_fields(published), source=published.source, format=published.format)


def _published_fields(published: Published) -> dict[str, Any]:
    """The fields of :class:`PublishedOut` of a published version."""
    return {
        "name": published.name,
        "version": published.version,
        "created_at": published.created_at,
        "definition": definition_data(published.definition),
    }


class SummaryOut(BaseModel):
    """A workflow as listed: its latest version."""

    name: str
    latest_version: int
    description: str | None
    updated_at: datetime

    @classmethod
    def of(cls, summary: Summary) -> SummaryOut:
        """The body of a :class:`~registry.store.Summary`."""
        return cls(
            name=summary.name,
            latest_version=summary.latest_version,
            description=summary.description,
            updated_at=summary.updated_at,
        )


class WorkflowListOut(BaseModel):
    """The tenant's workflows, by name."""

    workflows: list[SummaryOut]


class VersionOut(BaseModel):
    """One version of a workflow, without its definition."""

    version: int
    created_at: datetime

    @classmethod
    def of(cls, info: VersionInfo) -> VersionOut:
        """The body of a :class:`~registry.store.VersionInfo`."""
        return cls(version=info.version, created_at=info.created_at)


class VersionListOut(BaseModel):
    """Every version of one workflow, oldest first."""

    name: str
    versions: list[VersionOut]


def definition_data(definition: Definition) -> dict[str, Any]:
    """A definition as it appears in responses (see :func:`registry.source.to_data`)."""
    return to_data(definition)
