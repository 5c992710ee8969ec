"""Errors raised by the definitions registry.

Hierarchy::

    RegistryError
     ├── DefinitionRejected      a definition that does not load or lint clean; carries Problems
     │    └── DefinitionTooLarge its text is over the size bound
     ├── NotFound                no such workflow (for this tenant), version or subflow
     ├── PublishConflict         concurrent publishes of one name kept taking the same version
     └── StoreUnavailable        the database cannot be reached or used
"""

from __future__ import annotations

from interpreter.errors import Problem


class RegistryError(Exception):
    """Base class of every error raised by the :mod:`registry` package."""


class DefinitionRejected(RegistryError):
    """A definition that does not load, or that loads with lint findings.

    Attributes:
        problems: Every problem found, each with its path (and, for YAML, line and column).
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"the definition has {count} problem{'s' * (count != 1)}:\n{lines}")


class DefinitionTooLarge(DefinitionRejected):
    """A definition text over :data:`registry.source.MAX_DEFINITION_BYTES`."""


class NotFound(RegistryError):
    """No workflow of that name for the tenant, or no such version of it.

    Another tenant's workflow is not found exactly like a missing one.

    Attributes:
        name: The workflow name asked for.
        version: The version asked for (None: any version).
    """

    def __init__(self, name: str, version: int | None = None) -> None:
        self.name = name
        self.version = version
        if version is None:
            super().__init__(f"no workflow {name!r}")
        else:
            super().__init__(f"no version {version} of workflow {name!r}")


class PublishConflict(RegistryError):
    """Publishing kept colliding with concurrent publishes of the same name.

    Attributes:
        name: The workflow name.
        attempts: How many versions were tried.
    """

    def __init__(self, name: str, attempts: int) -> None:
        self.name = name
        self.attempts = attempts
        super().__init__(
            f"could not publish {name!r}: {attempts} attempts collided with concurrent "
            "publishes of the same name; try again"
        )


class StoreUnavailable(RegistryError):
    """The database cannot be reached, or its URL is not usable.

    Attributes:
        reason: What the database driver said.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the definitions database is unavailable: {reason}")
