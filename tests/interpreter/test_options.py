"""A step's Temporal options: timeout and retry layered over defaults, and the heartbeat rule."""

from __future__ import annotations

from datetime import timedelta

from interpreter.options import HEARTBEAT_TIMEOUT, activity_options
from interpreter.spec import Defaults, RetrySpec


def test_builtin_defaults() -> None:
    opts = activity_options(Defaults(), [], [])
    assert opts.start_to_close == timedelta(minutes=5)
    assert opts.schedule_to_close is None
    assert opts.heartbeat == HEARTBEAT_TIMEOUT == timedelta(seconds=30)
    assert opts.max_attempts == 3
    policy = opts.retry_policy
    assert (policy.initial_interval, policy.backoff_coefficient) == (timedelta(seconds=1), 2.0)
    assert (policy.maximum_interval, policy.maximum_attempts) == (timedelta(minutes=1), 3)
    assert policy.non_retryable_error_types is None


def test_layers_win_field_by_field_outermost_first() -> None:
    defaults = Defaults(
        timeout="2m",
        retry=RetrySpec(max_attempts=5, initial_interval="2s", non_retryable_errors=["Bad"]),
    )
    outer = RetrySpec(max_attempts=4, max_duration="10m")
    inner = RetrySpec(initial_interval="100ms")
    opts = activity_options(defaults, ["90s", None], [outer, inner])
    assert opts.start_to_close == timedelta(seconds=90)
    assert opts.schedule_to_close == timedelta(minutes=10)
    assert opts.max_attempts == 4
    assert opts.retry_policy.initial_interval == timedelta(milliseconds=100)
    assert opts.retry_policy.non_retryable_error_types == ["Bad"]


def test_short_attempts_need_no_heartbeat() -> None:
    assert activity_options(Defaults(timeout="60s"), [], []).heartbeat is None
    assert activity_options(Defaults(timeout="61s"), [], []).heartbeat == HEARTBEAT_TIMEOUT
