"""The ``code`` step activity: a step's Python source, run in the sandbox, returns ``output``.

The source runs in a separate process (see :mod:`activities._sandbox` and
``docs/code-sandbox.md``): no network, no worker secrets, its own temporary directory, limits on
time, memory, file size and processes. The step's output is exactly the value the source gives
``output``. What the code printed is logged; when the step fails it also travels as the
error's second detail, ``{"stdout": ..., "stderr": ...}`` (each cut to 10 kB).

Errors (all but ``SandboxError`` are never retried: running the same code again would do the
same thing):

    InvalidInput        ``language`` other than ``python``, or a malformed ``source``/``memory_mb``
    LimitExceeded       ``memory_mb`` or the step's timeout over this worker's ``limits.code``
    CodeError           the code raised (the message is its traceback), did not set ``output``,
                        set one that is not JSON, exited or crashed
    CodeTimeout         the code ran longer than the step's ``timeout`` (wall clock or CPU), or
                        used more CPU time than ``limits.code.max_cpu_seconds``
    CodeMemoryExceeded  the code needed more than ``memory_mb`` (default 256)
    SandboxError        the sandbox itself could not start the code (retryable)
"""

from __future__ import annotations

import math
import signal
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import _sandbox
from activities.base import step_activity
from activities.config import current_config
from activities.contract import StepCall
from interpreter.limits import CODE_DEFAULT_MEMORY_MB, CodeLimits, code_excesses

DEFAULT_MEMORY_MB = CODE_DEFAULT_MEMORY_MB
"""The code's address-space limit when the step sets no ``memory_mb``."""
DEFAULT_TIMEOUT = timedelta(minutes=5)
"""Used only when the activity was started without a start-to-close timeout."""


class CodeParams(BaseModel):
    """The fields of a ``code`` step, as the interpreter resolved them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    language: str = "python"
    source: str
    input: Any = None
    memory_mb: int | None = Field(default=None, ge=16)


@step_activity("code")
async def code(call: StepCall) -> Any:
    """Run the step's source in the sandbox and return the value it set as ``output``.

    Raises:
        ApplicationError: ``InvalidInput``, ``LimitExceeded``, ``CodeError``, ``CodeTimeout``,
            ``CodeMemoryExceeded`` (none retried) or ``SandboxError`` (retried).
    """
    params = _params(call)
    limits = current_config().limits.code
    attempt = activity.info().start_to_close_timeout or DEFAULT_TIMEOUT
    _check_limits(call, params, attempt, limits)
    timeout = attempt.total_seconds()
    memory_mb = limits.memory_mb(params.memory_mb)
    cpu_seconds = min(timeout, limits.max_cpu_seconds)
    finished = await _sandbox.run(
        params.source,
        params.input,
        timeout=timeout,
        memory_mb=memory_mb,
        cpu_seconds=cpu_seconds,
        heartbeat=activity.heartbeat,
    )
    for name, text in (("stdout", finished.stdout), ("stderr", finished.stderr)):
        if text:
            activity.logger.info("code step %s %s:\n%s", call.ref.step, name, text)
    result = finished.result
    if not finished.timed_out and result.get("status") == "ok" and "output" in result:
        return result["output"]
    error_type, message = failure(finished, timeout, memory_mb, cpu_seconds)
    raise ApplicationError(
        message,
        {"stdout": finished.stdout, "stderr": finished.stderr},
        type=error_type,
        non_retryable=error_type != "SandboxError",
    )


_MESSAGES: dict[str, tuple[str, str]] = {
    "error": ("CodeError", "{traceback}"),
    "memory": (
        "CodeMemoryExceeded",
        "the code ran out of memory (memory_mb: {memory_mb})\n{traceback}",
    ),
    "no_output": ("CodeError", "the code did not set `output`"),
    "unserializable": ("CodeError", "`output` is not JSON-serializable: {reason}"),
    "too_large": ("CodeError", "`output` is {size:,} bytes of JSON; the limit is {limit:,}"),
    "exit": ("CodeError", "the code called sys.exit({code}) before it set `output`"),
    "setup": ("SandboxError", "the sandbox could not start the code: {reason}"),
}
"""Error type and message for each status the code's process (or the stage) reports."""


def failure(
    finished: _sandbox.Finished, timeout: float, memory_mb: int, cpu_seconds: float | None = None
) -> tuple[str, str]:
    """The error type and message of a run that did not produce an ``output``.

    Args:
        finished: What the sandbox reported.
        timeout: The attempt's timeout, in seconds.
        memory_mb: The code's memory limit.
        cpu_seconds: The code's CPU limit (default: the timeout).
    """
    limit = f"{timeout:g}s (the step's timeout)"
    if finished.timed_out:
        return "CodeTimeout", f"the code ran longer than {limit}"
    cpu = timeout if cpu_seconds is None else cpu_seconds
    if cpu < timeout:
        limit = f"{cpu:g}s (this worker's limits.code.max_cpu_seconds)"
    result = finished.result
    status = result.get("status")
    if status in _MESSAGES:
        error_type, template = _MESSAGES[status]
        fields = {**result, "memory_mb": memory_mb, "limit": _sandbox.OUTPUT_LIMIT}
        try:
            return error_type, template.format_map(fields)
        except (KeyError, ValueError):
            pass  # the code wrote something of its own to fd 3
    if "MemoryError" in finished.stderr or "Cannot allocate memory" in finished.stderr:
        return "CodeMemoryExceeded", f"the code ran out of memory (memory_mb: {memory_mb})"
    signum = result.get("signal") if status == "signal" else None
    if not isinstance(signum, int) and finished.exit_code is not None and finished.exit_code < 0:
        signum = -finished.exit_code
    if isinstance(signum, int):
        used = result.get("cpu", 0)
        if signum == signal.SIGXCPU or (signum == signal.SIGKILL and used >= math.ceil(cpu)):
            return "CodeTimeout", f"the code used more CPU time than {limit}"
        return "CodeError", f"the code's process was killed by {_signal_name(signum)}"
    code = finished.exit_code
    return "CodeError", f"the code's process exited with status {code} before it set `output`"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _check_limits(
    call: StepCall, params: CodeParams, attempt: timedelta, limits: CodeLimits
) -> None:
    """Refuse, never retried, a step that asks for more than this worker allows."""
    excesses = code_excesses(params.memory_mb, attempt, limits)
    if excesses:
        what = "; ".join(e.describe() for e in excesses)
        raise ApplicationError(
            f"code step `{call.ref.step}`: {what}", type="LimitExceeded", non_retryable=True
        )


def _params(call: StepCall) -> CodeParams:
    """The step's fields, or a non-retryable ``InvalidInput`` saying what is wrong."""
    try:
        params = CodeParams.model_validate(call.params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in exc.errors()
        )
        raise ApplicationError(
            f"code step: {problems}", type="InvalidInput", non_retryable=True
        ) from exc
    if params.language != "python":
        raise ApplicationError(
            f"code step: language {params.language!r} is not supported (only 'python')",
            type="InvalidInput",
            non_retryable=True,
        )
    return params
