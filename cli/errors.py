"""The CLI's exit codes and the error every command raises to stop with a message.

Hierarchy::

    CLIError             printed as ``kworkflow: <message>``; the process exits with its ``code``
     ├── ApiError        the kworkflow HTTP API answered with an error status (4xx)
     └── ApiUnavailable  the API cannot be reached, timed out, or failed (5xx): exit 3
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
"""Lint findings; a run that failed, timed out or was cancelled; a dev-stack process that died."""
EXIT_USAGE = 2
"""Nothing was started: bad arguments, a definition that does not load or lint, bad input,
a subflow that cannot be found, a run id that is taken, a port that is in use."""
EXIT_UNAVAILABLE = 3
"""The Temporal server or the kworkflow API cannot be reached, or failed to answer."""
EXIT_INTERRUPTED = 130
"""Ctrl-C while waiting (the run itself goes on)."""


class CLIError(Exception):
    """Stop the command: print ``kworkflow: <message>`` on stderr and exit with ``code``.

    Attributes:
        code: The exit code.
    """

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        self.code = code
        super().__init__(message)


class ApiError(CLIError):
    """The kworkflow HTTP API refused a request (a 4xx answer).

    Each command decides the exit code from ``status``; the default is :data:`EXIT_FAILED`.

    Attributes:
        status: The HTTP status code.
        detail: The answer's ``detail`` (or its text when it is not the API's JSON error).
        problems: The answer's ``problems`` (a 422 from publishing), else an empty list.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        problems: list[dict[str, Any]] | None = None,
        code: int = EXIT_FAILED,
        message: str | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.problems = list(problems or [])
        super().__init__(message or f"{detail} (HTTP {status})", code)


class ApiUnavailable(CLIError):
    """The kworkflow HTTP API cannot be reached, timed out, or answered with a 5xx.

    Attributes:
        url: The API's base URL.
    """

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(message, EXIT_UNAVAILABLE)
