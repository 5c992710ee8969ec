"""Errors raised when starting and following runs from outside a workflow.

Hierarchy::

    ClientError
     ├── ServerUnavailable   the Temporal server cannot be reached
     ├── SubflowNotFound     a named subflow has no definition in the search directories
     ├── RunAlreadyExists    a run id that is already taken by a running run
     ├── RunError            a run that did not succeed
     │    ├── RunFailed      the workflow failed (for StepFailed: step, kind, attempts, error)
     │    ├── RunTimedOut    the run's time limit passed
     │    └── RunCancelled   the run was cancelled or terminated
     └── RetryError          a retry or fork refused (client.retry, client.fork)
          ├── NotRetryable   the run has not ended, or succeeded and no step was named
          ├── UnknownStep    ``from`` names no step
          ├── UnreadableStep the original's state of a step cannot be carried
          ├── VersionMismatch a kept step is missing from the new version or changed kind
          └── InvalidEdit    a fork's edit of a step that runs again, or that does not fit
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base class of every error raised by the :mod:`client` package."""


class ServerUnavailable(ClientError):
    """The Temporal server cannot be reached.

    Attributes:
        address: The ``host:port`` that was tried.
        reason: What the connection attempt said.
    """

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"cannot reach the Temporal server at {address}: {reason}")


class SubflowNotFound(ClientError):
    """A ``subflow`` step names a workflow no definition file provides (or several do).

    Attributes:
        name: The workflow name the step asks for.
        search_dirs: The directories that were searched.
    """

    def __init__(self, name: str, search_dirs: list[str], detail: str | None = None) -> None:
        self.name = name
        self.search_dirs = list(search_dirs)
        if detail is None:
            where = ", ".join(self.search_dirs) or "no directories"
            detail = f"no definition with `name: {name}` in {where}"
        super().__init__(f"subflow {name!r}: {detail}")


class RunAlreadyExists(ClientError):
    """A run with this id is already running.

    Attributes:
        run_id: The id asked for.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"a run with id {run_id!r} is already running")


class RunError(ClientError):
    """A run that did not succeed.

    Attributes:
        run_id: The run's workflow id.
    """

    def __init__(self, run_id: str, message: str) -> None:
        self.run_id = run_id
        super().__init__(message)


class RunFailed(RunError):
    """The run failed.

    For a run that failed because a step failed (failure type ``StepFailed``) the step's
    ``step``, ``kind``, ``attempts``, ``error_type`` and ``error_message`` are set; for any other
    failure type only ``failure_type`` and ``message`` are.

    Attributes:
        failure_type: The ``ApplicationError`` type (``StepFailed``, ``EdgeConditionError``...).
        message: The failure's own message.
        step: The id of the step that failed.
        kind: That step's kind.
        attempts: How many attempts the step made.
        error_type: The type of the step's last error.
        error_message: The message of the step's last error.
    """

    def __init__(
        self,
        run_id: str,
        failure_type: str | None,
        message: str,
        *,
        step: str | None = None,
        kind: str | None = None,
        attempts: int | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
    ) -> None:
        self.failure_type = failure_type
        self.message = message
        self.step = step
        self.kind = kind
        self.attempts = attempts
        self.error_type = error_type
        self.error_message = error_message
        super().__init__(run_id, self._describe())

    @classmethod
    def from_details(
        cls, run_id: str, failure_type: str | None, message: str, details: Any
    ) -> RunFailed:
        """Build from an ``ApplicationError``'s type, message and first detail.

        Args:
            run_id: The run's workflow id.
            failure_type: The ``ApplicationError`` type.
            message: The ``ApplicationError`` message.
            details: Its first detail; for ``StepFailed`` a map
                ``{"step", "kind", "attempts", "error": {"type", "message"}}``.
        """
        if failure_type != "StepFailed" or not isinstance(details, dict):
            return cls(run_id, failure_type, message)
        error = details.get("error")
        error = error if isinstance(error, dict) else {}
        attempts = details.get("attempts")
        return cls(
            run_id,
            failure_type,
            message,
            step=_str_or_none(details.get("step")),
            kind=_str_or_none(details.get("kind")),
            attempts=attempts if isinstance(attempts, int) else None,
            error_type=_str_or_none(error.get("type")),
            error_message=_str_or_none(error.get("message")),
        )

    def _describe(self) -> str:
        if self.step is None:
            return f"{self.failure_type}: {self.message}" if self.failure_type else self.message
        text = f"step {self.step!r}"
        if self.kind:
            text += f" ({self.kind})"
        text += " failed"
        if self.attempts is not None:
            text += f" after {self.attempts} attempt{'' if self.attempts == 1 else 's'}"
        last = ": ".join(p for p in (self.error_type, self.error_message) if p)
        return f"{text}: {last}" if last else text


class RunTimedOut(RunError):
    """The run's time limit passed before it finished."""


class RunCancelled(RunError):
    """The run was cancelled or terminated before it finished."""


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
