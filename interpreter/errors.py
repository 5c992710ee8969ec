"""Errors raised by the definition layer and the interpreter.

Hierarchy::

    InterpreterError
     ├── DefinitionError     a definition that does not load (YAML syntax, schema); carries Problems
     ├── ExpressionError     a CEL expression or ${} template that does not compile or evaluate
     ├── InputError          a run input that breaks the definition's `input` schema
     └── SchemaInvalid       a JSON Schema that is not valid (or a regex RE2 cannot compile)

Inside a running workflow, failures leave as ``temporalio.exceptions.ApplicationError`` whose
``type`` is one of the names in :data:`FAILURE_TYPES`.
"""

from __future__ import annotations

from dataclasses import dataclass

FAILURE_TYPES = (
    "ExpressionError",  # a step's fields, repeat.until or the run output failed to evaluate
    "EdgeConditionError",  # an edge `when` or a branch case failed to evaluate: fails the run
    "InvalidInput",  # the run input breaks the `input` schema
    "RepeatExhausted",  # repeat.max_iterations ran without `until` becoming true
    "HumanTimeout",  # a human step timed out with on_timeout: fail
    "InvalidForm",  # a human step's form (after templating) is not a valid JSON Schema
    "AgentMaxTurns",  # an agent reached max_turns without a final answer
    "StepFailed",  # the run failed because a step failed (details name the step)
    "RunTimeout",  # the run-level `timeout` passed
    "SubflowNotFound",  # a subflow names a workflow that was not pinned at start
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, located in its source.

    Attributes:
        path: Where in the document, e.g. ``steps[3].retry.max_attempts``.
        message: What is wrong, for a person.
        line: 1-based line in the YAML source, when known.
        column: 1-based column in the YAML source, when known.
        step: The id of the step concerned, when there is one.
        code: A short stable name for the kind of problem (``yaml``, ``schema``, ``cycle``...).
        severity: ``error`` (the definition is refused) or ``warning`` (reported, not refused;
            ``kworkflow lint --strict`` fails on it too).
    """

    path: str
    message: str
    line: int | None = None
    column: int | None = None
    step: str | None = None
    code: str = "schema"
    severity: str = "error"

    def __str__(self) -> str:
        where = self.path or "<document>"
        if self.line is not None:
            where = f"{self.line}:{self.column or 1}: {where}"
        return f"{where}: {self.message}"


class InterpreterError(Exception):
    """Base class of every error raised by the :mod:`interpreter` package."""


class DefinitionError(InterpreterError):
    """A definition does not load: YAML syntax or a field that breaks the format.

    Attributes:
        problems: Every problem found, each with its path and (when known) line and column.
        source: A name for the document (usually its file name), for messages.
    """

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        prefix = f"{source}:" if source else ""
        super().__init__("\n".join(f"{prefix}{p}" for p in self.problems))


class ExpressionError(InterpreterError):
    """A CEL expression or a ``${}`` template that does not compile or evaluate.

    Attributes:
        expression: The expression (or template) text.
        reason: What went wrong, for a person.
        offset: 0-based character offset in ``expression`` where the problem is, when known.
    """

    def __init__(self, expression: str, reason: str, offset: int | None = None) -> None:
        self.expression = expression
        self.reason = reason
        self.offset = offset
        super().__init__(f"{reason} in `{expression}`")


class InputError(InterpreterError):
    """A run input that breaks the definition's ``input`` schema.

    Attributes:
        path: Where in the input, e.g. ``topic`` or ``items[2].name`` (empty for the whole input).
        reason: What is wrong with the value there.
        violations: Every violation found as ``(path, reason)``, the one above first, up to
            :data:`MAX_VIOLATIONS` (``str()`` names the first only: a run's failure message).
        more: How many violations there were beyond ``violations``.
    """

    def __init__(
        self,
        path: str,
        reason: str,
        violations: tuple[tuple[str, str], ...] = (),
        more: int = 0,
    ) -> None:
        self.path = path
        self.reason = reason
        self.violations = violations or ((path, reason),)
        self.more = more
        super().__init__(_input_line(path, reason))

    def describe_all(self) -> str:
        """Every violation kept, ``; ``-separated, and how many more there were."""
        text = "; ".join(_input_line(p, r) for p, r in self.violations)
        return text + (f"; and {self.more} more" if self.more else "")


MAX_VIOLATIONS = 10
"""How many of a run input's schema violations an :class:`InputError` keeps."""


def _input_line(path: str, reason: str) -> str:
    return f"input.{path}: {reason}" if path else f"input: {reason}"


class SchemaInvalid(InterpreterError):
    """A JSON Schema (``input``, ``input_schema``, ``form``, ``output_schema``) that is not valid.

    Attributes:
        path: Where inside the schema, as segments (``("properties", "code", "pattern")``).
        reason: What is wrong there, for a person.
    """

    def __init__(self, path: tuple[str | int, ...], reason: str) -> None:
        self.path = path
        self.reason = reason
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        super().__init__(f"{where[1:]}: {reason}" if where else reason)
