"""llm, tool and code steps: one Temporal activity each, named after the kind."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    RetryState,
    TimeoutError,
)

from interpreter.kinds.base import Invocation, Runtime

with workflow.unsafe.imports_passed_through():
    from activities.contract import StepCall, StepResult
    from interpreter.options import ActivityOptions, activity_options
    from interpreter.quota import slot
    from interpreter.state import StepError


def options_for(runtime: Runtime, inv: Invocation) -> ActivityOptions:
    """The step's timeout and retry, layered over the definition's defaults."""
    return activity_options(
        runtime.definition.defaults,
        [layer.timeout for layer in inv.layers],
        [layer.retry for layer in inv.layers],
    )


def tools_for(runtime: Runtime, names: list[str]) -> dict[str, Any]:
    """The definition's HTTP tools among ``names``, as plain dicts for an activity."""
    tools = runtime.definition.tools
    return {n: tools[n].model_dump(exclude_none=True) for n in names if n in tools}


async def run_activity(runtime: Runtime, inv: Invocation, fields: dict[str, Any]) -> Any:
    """Run the step as the activity named after its kind; its output is the activity's."""
    opts = options_for(runtime, inv)
    tool = fields.get("tool")
    call = StepCall(
        ref=runtime.run_ref(inv.path),
        kind=inv.spec.kind,
        params=fields,
        tools=tools_for(runtime, [tool]) if isinstance(tool, str) else {},
    )
    try:
        async with slot(runtime, inv):
            result = await execute(call, inv.path, opts)
    except ActivityError as err:
        failure = activity_failure(err, opts.max_attempts)
        runtime.report_attempts(inv, failure.attempts)
        raise failure from None
    runtime.report_attempts(inv, result.attempt)
    return result.output


async def execute(call: StepCall, activity_id: str, opts: ActivityOptions) -> StepResult:
    """Run the activity named after ``call.kind`` with a step's options."""
    return await workflow.execute_activity(
        call.kind,
        call,
        result_type=StepResult,
        activity_id=activity_id,
        start_to_close_timeout=opts.start_to_close,
        schedule_to_close_timeout=opts.schedule_to_close,
        heartbeat_timeout=opts.heartbeat,
        retry_policy=opts.retry_policy,
    )


def activity_failure(err: ActivityError, max_attempts: int) -> StepError:
    """The step error for an activity that gave up, with its attempt count where known.

    Raises:
        asyncio.CancelledError: The activity was cancelled (the step is being cancelled).
    """
    cause = err.cause
    if isinstance(cause, CancelledError):
        raise asyncio.CancelledError()
    last = _last_application_error(cause)
    attempts = _attempt_of(last)
    if isinstance(cause, ApplicationError):
        error_type, message = cause.type or "ApplicationError", cause.message
    elif isinstance(cause, TimeoutError):
        error_type = "Timeout"
        kind = cause.type.name.lower() if cause.type is not None else "activity"
        message = f"{kind} timeout"
        if err.retry_state == RetryState.TIMEOUT:
            message += " (gave up: retry.max_duration reached)"
        if last is not None:
            message += f"; last error: {last.type or 'ApplicationError'}: {last.message}"
    else:
        error_type = type(cause).__name__ if cause else "ActivityError"
        message = str(cause or err)
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED and max_attempts > 0:
        attempts = max_attempts
    return StepError(error_type, message, attempts)


def _last_application_error(failure: BaseException | None) -> ApplicationError | None:
    """The first ApplicationError in a failure's cause chain (the last attempt's error)."""
    while failure is not None:
        if isinstance(failure, ApplicationError):
            return failure
        failure = (
            failure.__cause__ if failure.__cause__ is not None else getattr(failure, "cause", None)
        )
    return None


def _attempt_of(error: ApplicationError | None) -> int | None:
    """The attempt a step activity wrote into its error's first detail."""
    if error is None or not error.details:
        return None
    detail = error.details[0]
    if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
        return int(detail["attempt"])
    return None
