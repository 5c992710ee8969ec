"""Starting and following kworkflow runs from outside a workflow (CLI, API)."""

from client.connect import Settings, connect
from client.errors import (
    ClientError,
    RunAlreadyExists,
    RunCancelled,
    RunError,
    RunFailed,
    RunTimedOut,
    ServerUnavailable,
    SubflowNotFound,
)

__all__ = [
    "ClientError",
    "RunAlreadyExists",
    "RunCancelled",
    "RunError",
    "RunFailed",
    "RunTimedOut",
    "ServerUnavailable",
    "Settings",
    "SubflowNotFound",
    "connect",
]
