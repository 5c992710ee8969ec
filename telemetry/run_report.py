"""The end of a run, reported once: the ``run <workflow>`` span and the runs-finished count.

Workflow code cannot make either exactly once (:mod:`telemetry.workflow_tracing` says why), so
the interpreter ends every run with one small activity, :func:`report_run`. An activity runs
only after the workflow task that scheduled it was accepted, once per attempt; a run that is
replayed or answers a query never schedules it again. The span covers the whole run (from the
run's start to its end) and has the id the run's activities already name as their parent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from pydantic import BaseModel, ConfigDict
from temporalio import activity

from telemetry import metrics
from telemetry.attributes import (
    ERROR_MESSAGE,
    ERROR_TYPE,
    RUN_ID,
    STATUS,
    TENANT,
    VERSION,
    WORKFLOW,
)
from telemetry.trace_context import TraceContext
from telemetry.tracing import fixed_ids, tracer

ACTIVITY = "kworkflow.run_finished"
"""The activity's name (one activity per run, after the run's last step)."""


class RunReport(BaseModel):
    """What :func:`report_run` reports: the run, how it ended, and its span's ids (hex)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    workflow: str
    version: int
    tenant: str
    status: str
    error: dict[str, Any] | None = None
    started_at: datetime
    ended_at: datetime
    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    sampled: bool = True

    @staticmethod
    def ids(trace: TraceContext) -> dict[str, Any]:
        """The span fields of a report, from the run's trace context."""
        parent = trace.parent_span_id
        return {
            "trace_id": f"{trace.trace_id:032x}",
            "span_id": f"{trace.span_id:016x}",
            "parent_span_id": None if parent is None else f"{parent:016x}",
            "sampled": trace.sampled,
        }


@activity.defn(name=ACTIVITY)
async def report_run(report: RunReport) -> None:
    """Count the run's end and export its ``run <workflow>`` span (when tracing is on)."""
    metrics.RUNS_FINISHED.labels(report.workflow, report.status).inc()
    attributes: dict[str, Any] = {
        RUN_ID: report.run_id,
        WORKFLOW: report.workflow,
        VERSION: report.version,
        TENANT: report.tenant,
        STATUS: report.status,
    }
    if report.error:
        attributes[ERROR_TYPE] = str(report.error.get("type"))
        attributes[ERROR_MESSAGE] = str(report.error.get("message"))[:500]
    trace_id, span_id = int(report.trace_id, 16), int(report.span_id, 16)
    flags = TraceFlags(TraceFlags.SAMPLED if report.sampled else TraceFlags.DEFAULT)
    if report.parent_span_id is None:  # a root span (an empty context, not the activity's)
        context = Context()
    else:
        parent_id = int(report.parent_span_id, 16)
        remote = SpanContext(trace_id, parent_id, is_remote=True, trace_flags=flags)
        context = trace.set_span_in_context(NonRecordingSpan(remote))
    with fixed_ids(trace_id, span_id):
        span = tracer().start_span(
            f"run {report.workflow}",
            context=context,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=_ns(report.started_at),
        )
    if report.status == "failed":
        message = str((report.error or {}).get("message"))[:200]
        span.set_status(Status(StatusCode.ERROR, message))
    span.end(end_time=_ns(report.ended_at))


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)
