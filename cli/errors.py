"""The CLI's exit codes and the error every command raises to stop with a message.

Hierarchy::

    CLIError     printed as ``kworkflow: <message>``; the process exits with its ``code``
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
"""Lint findings; a run that failed, timed out or was cancelled; a dev-stack process that died."""
EXIT_USAGE = 2
"""Nothing was started: bad arguments, a definition that does not load or lint, bad input,
a subflow that cannot be found, a run id that is taken, a port that is in use."""
EXIT_UNAVAILABLE = 3
"""The Temporal server cannot be reached, or refused the request."""
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
