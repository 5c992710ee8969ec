"""What every step activity shares: the StepResult envelope and how failures are classified.

Temporal owns retries. An activity raises ``ApplicationError`` with a ``type`` and
``non_retryable`` set from what went wrong, and ``next_retry_delay`` when the other side said
when to come back (``Retry-After``); its first detail is ``{"attempt": n}`` so the interpreter
can count attempts. :func:`step_activity` does this wrapping for a plain async function.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from pydantic_core import PydanticSerializationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contract import StepCall, StepResult, failure_details
from interpreter.request import ATTEMPT_SIGNAL, AttemptReport
from interpreter.values import describe, find_problem
from telemetry import spans

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth another attempt; every other 4xx is the caller's mistake."""
HEARTBEAT_SECONDS = 10.0
"""How often a waiting call heartbeats (more often when the heartbeat timeout is shorter)."""

_client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None


def step_activity(
    name: str,
) -> Callable[[Callable[[StepCall], Awaitable[Any]]], Callable[[StepCall], Awaitable[StepResult]]]:
    """Make ``async def fn(call) -> output`` the step activity ``name``.

    The output is wrapped in :class:`StepResult` with the attempt number; an
    ``ApplicationError`` gets the attempt as its first detail; any other exception becomes a
    retryable ``ApplicationError`` of its class name. An output that no run can carry (NaN,
    Infinity, an integer beyond 64 bits, nesting past :data:`interpreter.values.MAX_DEPTH`, a
    value that is not JSON) fails at once with a non-retryable ``UnserializableOutput``: another
    attempt would only produce it again. Each attempt is a span
    (``step <path>``) and is counted in the step metrics (:mod:`telemetry.spans`).
    """

    def wrap(
        fn: Callable[[StepCall], Awaitable[Any]],
    ) -> Callable[[StepCall], Awaitable[StepResult]]:
        @activity.defn(name=name)
        @functools.wraps(fn)
        async def run(call: StepCall) -> StepResult:
            attempt = activity.info().attempt
            if attempt > 1:
                await report_attempt(call.ref.step, attempt)
            with spans.step_attempt(call.ref, name, call.params) as span:
                try:
                    output = await fn(call)
                except ApplicationError as exc:
                    raise with_attempt(exc, attempt) from exc
                except PydanticSerializationError as exc:  # the same output every attempt
                    raise unserializable(call, attempt, "output", str(exc)) from exc
                except Exception as exc:
                    raise ApplicationError(
                        f"{type(exc).__name__}: {exc}",
                        failure_details(attempt),
                        type=type(exc).__name__,
                    ) from exc
                problem = find_problem(output)
                if problem is not None:
                    where = describe("output", problem[0])
                    raise unserializable(call, attempt, where, problem[1])
                span.succeeded(output)
            return StepResult(output=output, attempt=attempt)

        return run

    return wrap


def unserializable(call: StepCall, attempt: int, where: str, reason: str) -> ApplicationError:
    """The non-retryable ``UnserializableOutput`` of a step whose output no run can carry."""
    return ApplicationError(
        f"step '{call.ref.step}': {where}: {reason}",
        failure_details(attempt),
        type="UnserializableOutput",
        non_retryable=True,
    )


async def report_attempt(path: str, attempt: int) -> None:
    """Tell the workflow that a retry attempt of the step at ``path`` began (best effort).

    The run then shows the live attempt count and a ``step_retrying`` transition; if the signal
    cannot be sent, the attempt goes on regardless.
    """
    info = activity.info()
    if info.workflow_id is None:  # not started by a workflow
        return
    try:
        handle = activity.client().get_workflow_handle(
            info.workflow_id, run_id=info.workflow_run_id
        )
        report = AttemptReport(path=path, attempt=attempt)
        await asyncio.wait_for(handle.signal(ATTEMPT_SIGNAL, report), timeout=5)
    except Exception as exc:  # the report is a courtesy; the attempt itself matters
        activity.logger.warning("could not report attempt %d of %s: %s", attempt, path, exc)


def with_attempt(error: ApplicationError, attempt: int) -> ApplicationError:
    """The same error with ``{"attempt": n}`` as its first detail."""
    return ApplicationError(
        error.message,
        failure_details(attempt),
        *error.details,
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
    )


def http_failure(
    response: httpx.Response, what: str, message: str | None = None
) -> ApplicationError:
    """Classify a failed HTTP response: 408/409/425/429/5xx retry (honouring Retry-After),
    other 4xx do not.

    Args:
        response: The response with a status of 400 or more.
        what: Who answered, for the message (``provider 'openai'``, ``tool 'crm_lookup'``).
        message: The other side's own explanation, when one was extracted from the body.
    """
    status = response.status_code
    detail = message or _short_body(response)
    retryable = status in RETRYABLE_STATUS or status >= 500
    return ApplicationError(
        f"{what} answered HTTP {status}" + (f": {detail}" if detail else ""),
        type=f"HTTP{status}",
        non_retryable=not retryable,
        next_retry_delay=retry_after(response) if retryable else None,
    )


def connection_failure(exc: httpx.HTTPError, what: str) -> ApplicationError:
    """A transport failure (connect, read, timeout): always worth another attempt."""
    kind = "Timeout" if isinstance(exc, httpx.TimeoutException) else "ConnectionError"
    return ApplicationError(f"{what}: {type(exc).__name__}: {exc}", type=kind)


def retry_after(response: httpx.Response) -> timedelta | None:
    """The ``Retry-After`` header as a delay (seconds or an HTTP date), capped at 10 minutes."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return timedelta(seconds=min(max(seconds, 0.0), 600.0))


def _short_body(response: httpx.Response, limit: int = 300) -> str:
    try:
        text = response.text.strip()
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def http_client() -> httpx.AsyncClient:
    """The process's one HTTP client (one per event loop): no retries, no redirects.

    Temporal owns retries, so the transport never retries underneath it.
    """
    global _client
    loop = asyncio.get_running_loop()
    if _client is None or _client[0] is not loop or _client[1].is_closed:
        transport = httpx.AsyncHTTPTransport(retries=0)
        _client = (loop, httpx.AsyncClient(transport=transport, follow_redirects=False))
    return _client[1]


@contextlib.asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background while the body waits (long model or tool calls).

    Every :data:`HEARTBEAT_SECONDS`, or every half heartbeat timeout when that is shorter.
    """
    timeout = activity.info().heartbeat_timeout
    interval = HEARTBEAT_SECONDS
    if timeout:
        interval = max(0.1, min(interval, timeout.total_seconds() / 2))

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
