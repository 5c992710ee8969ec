"""Per-step Temporal options: a step's `timeout` and `retry` layered over `defaults`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

from interpreter.durations import parse_duration
from interpreter.spec import Defaults, RetrySpec

DEFAULT_TIMEOUT = timedelta(minutes=5)
"""One attempt's limit when neither the step nor `defaults` sets `timeout`."""
DEFAULT_RETRY = RetrySpec(
    max_attempts=3, initial_interval="1s", backoff_coefficient=2.0, max_interval="1m"
)
"""Retry fields used where neither the step nor `defaults.retry` sets them."""

HEARTBEAT_TIMEOUT = timedelta(seconds=30)
"""Attempts longer than twice this must heartbeat (the kworkflow activities do, every 10 s), so
a worker that dies mid-call is noticed after this long instead of at the step's timeout."""

_RETRY_FIELDS = tuple(RetrySpec.model_fields)


@dataclass(frozen=True)
class ActivityOptions:
    """What ``workflow.execute_activity`` needs for one step."""

    start_to_close: timedelta
    schedule_to_close: timedelta | None
    heartbeat: timedelta | None
    retry_policy: RetryPolicy
    max_attempts: int


def merge_retry(layers: Iterable[RetrySpec | None]) -> RetrySpec:
    """Field by field, the last layer that sets a field wins; DEFAULT_RETRY fills the rest."""
    merged = DEFAULT_RETRY.model_dump()
    for layer in layers:
        if layer is not None:
            merged.update({k: v for k in _RETRY_FIELDS if (v := getattr(layer, k)) is not None})
    return RetrySpec.model_validate(merged)


def activity_options(
    defaults: Defaults, timeouts: Iterable[str | None], retries: Iterable[RetrySpec | None]
) -> ActivityOptions:
    """Options for an activity step.

    Args:
        defaults: The definition's ``defaults``.
        timeouts: ``timeout`` of each enclosing layer, outermost first (e.g. a parallel step,
            then its inner spec); the last one set wins over ``defaults.timeout``.
        retries: ``retry`` of each enclosing layer, outermost first.
    """
    timeout = defaults.timeout
    for t in timeouts:
        if t is not None:
            timeout = t
    retry = merge_retry([defaults.retry, *retries])
    assert retry.max_attempts is not None
    policy = RetryPolicy(
        initial_interval=parse_duration(retry.initial_interval or "1s"),
        backoff_coefficient=retry.backoff_coefficient or 2.0,
        maximum_interval=parse_duration(retry.max_interval) if retry.max_interval else None,
        maximum_attempts=retry.max_attempts,
        non_retryable_error_types=list(retry.non_retryable_errors or ()) or None,
    )
    start_to_close = parse_duration(timeout) if timeout else DEFAULT_TIMEOUT
    return ActivityOptions(
        start_to_close=start_to_close,
        heartbeat=HEARTBEAT_TIMEOUT if start_to_close > 2 * HEARTBEAT_TIMEOUT else None,
        schedule_to_close=parse_duration(retry.max_duration) if retry.max_duration else None,
        retry_policy=policy,
        max_attempts=retry.max_attempts,
    )
