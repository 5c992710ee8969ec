"""``/v1/templates``: the reference workflows shipped with kworkflow (:mod:`examples.templates`),
listed and read, so a client (the UI's "New from template") can start a definition from one.
They are the same for every tenant and read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from api.schemas_workflows import ErrorOut
from examples import templates

router = APIRouter(prefix="/v1/templates", tags=["templates"])


class TemplateSummary(BaseModel):
    """One template in the list."""

    name: str
    description: str


class TemplateOut(TemplateSummary):
    """One template with its files: ``workflow.yaml`` (the definition), ``README.md``,
    ``worker.yaml`` and, when it calls Python tools, ``tools.py``."""

    workflow: str
    files: dict[str, str]


class TemplateList(BaseModel):
    """Every template, sorted by name."""

    templates: list[TemplateSummary]


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such template"}
}


@router.get("", response_model=TemplateList, summary="List the templates")
def list_templates() -> TemplateList:
    """Every template's name and one-line description."""
    return TemplateList(
        templates=[
            TemplateSummary(name=t.name, description=t.description) for t in templates.catalog()
        ]
    )


@router.get("/{name}", response_model=TemplateOut, responses=_NOT_FOUND, summary="Read a template")
def get_template(name: str) -> TemplateOut:
    """A template's definition and files; 404 names the templates there are."""
    try:
        template = templates.get(name)
    except templates.UnknownTemplate as exc:
        raise HTTPException(404, str(exc)) from exc
    return TemplateOut(
        name=template.name,
        description=template.description,
        workflow=template.workflow,
        files=template.files,
    )
