"""Where the Temporal server is, read from the environment, and a client connected to it."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from temporalio.client import Client

from client.errors import ServerUnavailable
from interpreter.registration import data_converter
from interpreter.request import DEFAULT_TASK_QUEUE
from telemetry.tracing import tracing_interceptors

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
CONNECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Settings:
    """How to reach Temporal and which task queue kworkflow's workers poll.

    Attributes:
        address: Temporal frontend ``host:port`` (``TEMPORAL_ADDRESS``).
        namespace: Temporal namespace (``TEMPORAL_NAMESPACE``).
        task_queue: Task queue of the kworkflow workers (``KWORKFLOW_TASK_QUEUE``).
    """

    address: str = DEFAULT_ADDRESS
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: the process environment).

        Unset or empty variables take their defaults.
        """
        env = os.environ if env is None else env
        return cls(
            address=env.get("TEMPORAL_ADDRESS") or DEFAULT_ADDRESS,
            namespace=env.get("TEMPORAL_NAMESPACE") or DEFAULT_NAMESPACE,
            task_queue=env.get("KWORKFLOW_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
        )


async def connect(settings: Settings, timeout: float = CONNECT_TIMEOUT_SECONDS) -> Client:
    """A client of the configured server, using kworkflow's data converter (and Temporal's
    tracing interceptor when tracing is set up, :mod:`telemetry.tracing`).

    Args:
        settings: Where the server is.
        timeout: Seconds to wait for the connection.

    Raises:
        ServerUnavailable: The server did not answer.
        storage.errors.StorageConfigError: A blob store setting is wrong.
    """
    converter = data_converter()
    try:
        return await asyncio.wait_for(
            Client.connect(
                settings.address,
                namespace=settings.namespace,
                data_converter=converter,
                interceptors=tracing_interceptors(),
            ),
            timeout,
        )
    except TimeoutError:
        raise ServerUnavailable(settings.address, f"no answer within {timeout:g}s") from None
    except RuntimeError as exc:
        raise ServerUnavailable(settings.address, _reason(str(exc))) from exc


def _reason(text: str) -> str:
    """The useful part of the core SDK's connection error text."""
    text = text.removeprefix("Failed client connect: ")
    for pattern in (r'message: "([^"]+)"', r'ConnectError\("([^"]+)"'):
        match = re.search(pattern, text)
        if match:
            return match.group(1).lower()
    return text
