"""The catalog of reference workflows shipped in the package: list them, read them, copy one.

Each template is a directory ``examples/templates/NAME/`` holding ``workflow.yaml`` (its
``description`` is the template's one-line summary), ``README.md``, ``worker.yaml`` (the worker
configuration it needs) and, when it calls Python tools, ``tools.py``. The files are package
data, read through :mod:`importlib.resources`, so an installed kworkflow serves them without a
checkout. ``kworkflow init`` and ``GET /v1/templates`` read them here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

FILES = ("workflow.yaml", "README.md", "worker.yaml", "tools.py")
"""The files a template may hold, in the order they are listed; ``workflow.yaml`` always."""
NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class TemplateError(Exception):
    """Base of the catalog's errors (a template that does not exist, a target in the way)."""


class UnknownTemplate(TemplateError):
    """No template has this name; the message lists the names there are."""


class TargetNotEmpty(TemplateError):
    """``init`` refuses to write into a directory that holds anything already."""


@dataclass(frozen=True)
class Template:
    """One template: its name, one-line description and files (name -> text)."""

    name: str
    description: str
    files: dict[str, str]

    @property
    def workflow(self) -> str:
        """The text of ``workflow.yaml``."""
        return self.files["workflow.yaml"]


def _root() -> Traversable:
    return resources.files(__name__)


def names() -> list[str]:
    """Every template's name, sorted."""
    return sorted(
        entry.name
        for entry in _root().iterdir()
        if entry.is_dir() and NAME.match(entry.name) and entry.joinpath("workflow.yaml").is_file()
    )


def get(name: str) -> Template:
    """The template ``name``.

    Raises:
        UnknownTemplate: there is none of that name.
    """
    if not NAME.match(name) or name not in names():
        raise UnknownTemplate(
            f"no template named {name!r}; the templates are: {', '.join(names())}"
        )
    folder = _root().joinpath(name)
    files = {
        file: folder.joinpath(file).read_text(encoding="utf-8")
        for file in FILES
        if folder.joinpath(file).is_file()
    }
    return Template(name, _description(files["workflow.yaml"]), files)


def catalog() -> list[Template]:
    """Every template, sorted by name."""
    return [get(name) for name in names()]


def _description(workflow: str) -> str:
    loaded = yaml.safe_load(workflow)
    text = loaded.get("description") if isinstance(loaded, dict) else None
    return " ".join(str(text).split()) if text else ""


def write(name: str, target: Path) -> list[Path]:
    """Copy template ``name`` into ``target`` (created if missing); the paths written.

    Raises:
        UnknownTemplate: there is no such template.
        TargetNotEmpty: ``target`` exists and is not an empty directory.
    """
    template = get(name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "is not a directory" if not target.is_dir() else "is not empty"
        raise TargetNotEmpty(f"{target} {what}: init writes only into a new or empty directory")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for file, text in template.files.items():
        path = target / file
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
