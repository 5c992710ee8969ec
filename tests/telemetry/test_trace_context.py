"""A run's span ids, computed in the workflow from its start header and its run id."""

from __future__ import annotations

import pytest

from telemetry.trace_context import TraceContext, parse_traceparent, run_trace

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def test_the_run_span_continues_the_callers_trace() -> None:
    trace = run_trace({"traceparent": f"00-{TRACE}-{PARENT}-01"}, "run-1")
    assert (trace.trace_id, trace.parent_span_id, trace.sampled) == (
        int(TRACE, 16),
        int(PARENT, 16),
        True,
    )
    assert trace == run_trace({"traceparent": f"00-{TRACE}-{PARENT}-01"}, "run-1")  # replays
    assert trace.span_id != run_trace({"traceparent": f"00-{TRACE}-{PARENT}-01"}, "run-2").span_id
    assert trace.carrier() == {"traceparent": f"00-{TRACE}-{trace.span_id:016x}-01"}


def test_an_unsampled_caller_keeps_its_flag() -> None:
    trace = run_trace({"traceparent": f"00-{TRACE}-{PARENT}-00"}, "run-1")
    assert not trace.sampled
    assert trace.traceparent().endswith("-00")


@pytest.mark.parametrize(
    "carrier",
    [
        None,
        {},
        {"traceparent": 7},
        {"traceparent": "garbage"},
        {"traceparent": f"00-{'0' * 32}-{PARENT}-01"},
        {"traceparent": f"00-{TRACE}-{'0' * 16}-01"},
        {"traceparent": f"01-{TRACE}-{PARENT}-01"},
    ],
)
def test_without_a_usable_caller_the_run_is_a_root(carrier: dict[str, object] | None) -> None:
    assert parse_traceparent(carrier) is None
    trace = run_trace(carrier, "run-1")
    assert trace.parent_span_id is None and trace.sampled
    assert trace == run_trace(None, "run-1")  # derived from the run id alone
    assert trace.trace_id != run_trace(None, "run-2").trace_id
    assert isinstance(trace, TraceContext) and trace.trace_id and trace.span_id
