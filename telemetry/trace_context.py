"""A run's place in a trace, computed inside the workflow without any side effect.

Temporal's client interceptor sends the W3C ``traceparent`` of the span that started a run in
the workflow's ``_tracer-data`` header. The interpreter workflow does not make spans itself
(a workflow task can run again outside replay, and its spans would show twice); it computes
the ids of its ``run <workflow>`` span from that header and its Temporal run id instead:

- the trace id is the caller's, or one derived from the run id when nothing traced the start
  (the Temporal CLI, a schedule);
- the run span's id is derived from the run id, so every replay computes the same one.

Step activities and child workflows get the run span as their parent in their headers
(:mod:`telemetry.workflow_tracing`); one activity at the run's end reports the span itself
(:mod:`telemetry.run_report`). Nothing here touches OpenTelemetry, so it is safe in the sandbox.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HEADER = "_tracer-data"
"""The Temporal header Temporal's ``TracingInterceptor`` reads and writes."""

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    """Where a run's span sits: its trace, its own id and its parent's (None at a trace root)."""

    trace_id: int
    span_id: int
    parent_span_id: int | None = None
    sampled: bool = True

    def traceparent(self) -> str:
        """The W3C ``traceparent`` naming the run span as the parent of what it starts."""
        flags = "01" if self.sampled else "00"
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-{flags}"

    def carrier(self) -> dict[str, str]:
        """The carrier Temporal's interceptor expects in a ``_tracer-data`` header."""
        return {"traceparent": self.traceparent()}


def run_trace(carrier: Mapping[str, Any] | None, run_id: str) -> TraceContext:
    """The trace context of the run whose Temporal run id is ``run_id``.

    Args:
        carrier: The decoded ``_tracer-data`` header of the run's start, if any.
        run_id: Temporal's run id (unique for every execution, the same on every replay).
    """
    digest = hashlib.sha256(f"kworkflow-run:{run_id}".encode()).digest()
    span_id = int.from_bytes(digest[:8], "big") or 1
    parent = parse_traceparent(carrier)
    if parent is None:
        trace_id = int.from_bytes(digest[8:24], "big") or 1
        return TraceContext(trace_id=trace_id, span_id=span_id)
    trace_id, parent_span_id, sampled = parent
    return TraceContext(trace_id, span_id, parent_span_id, sampled)


def parse_traceparent(carrier: Mapping[str, Any] | None) -> tuple[int, int, bool] | None:
    """``(trace id, span id, sampled)`` of a carrier's ``traceparent``; None when absent or
    malformed (a malformed header starts a new trace rather than failing the run)."""
    if not carrier:
        return None
    value = carrier.get("traceparent")
    match = _TRACEPARENT.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if trace_id == 0 or span_id == 0:
        return None
    return trace_id, span_id, int(match[3], 16) & 1 == 1
