"""The end of a run, reported once: the ``run <workflow>`` span and the runs-finished count.

Workflow code cannot make either exactly once (:mod:`telemetry.workflow_tracing` says why), so
the interpreter ends every run with one small local activity, :func:`report_run`, run by the
worker inside the run's last workflow task (no activity task, no workflow task more). Its
result is recorded in the run's history with the run's end, so a run that is replayed or
answers a query never runs it again, and runs recorded before it (an activity then) replay as
they ran.

What "once" means: once per end of a run that a worker computed. The end is recorded only when
the server accepts that last workflow task, so in two races it is computed again, and reported
again:

- a signal, an update or a cancel request reaches the run while its last workflow task is in
  progress: the server refuses the task, and the run goes on from its last recorded point (a
  cancel request then ends it ``cancelled``);
- the worker is lost between the report and the server accepting the task: another worker runs
  the task again.

A worker counts the same end of the same run (same Temporal run id, same status) once, however
often it reports it (:data:`REMEMBERED` ends are remembered), so the first race adds a count
only when the end changes (``succeeded`` then ``cancelled``: one of each), and the second adds
one on the other worker. Both races are as wide as the last workflow task, a few milliseconds.
The span covers the whole run (from the run's start to its end) and has the id the run's
activities already name as their parent; a second report exports it again with the same ids.
"""

from __future__ import annotations

from collections import OrderedDict
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
    COMPENSATION,
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
"""The activity's name (one local activity per run, after the run's last step)."""
REMEMBERED = 10_000
"""How many ends of runs a worker remembers, not to count one twice (module docstring)."""
_reported: OrderedDict[tuple[str, str], None] = OrderedDict()


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
    compensation: str | None = None
    """How the run's compensation ended (``compensated``...; None: it did not compensate)."""
    compensation_mode: str | None = None
    """``auto`` (the run compensated itself) or ``manual`` (a compensation run)."""
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
    """Count the run's end and export its ``run <workflow>`` span (when tracing is on), unless
    this worker has reported the same end of the same run already."""
    if not _first_report((activity.info().workflow_run_id or report.run_id, report.status)):
        return
    metrics.RUNS_FINISHED.labels(report.workflow, report.status).inc()
    if report.compensation is not None:
        labels = (report.workflow, report.compensation_mode or "auto", report.compensation)
        metrics.RUNS_COMPENSATED.labels(*labels).inc()
    attributes: dict[str, Any] = {
        RUN_ID: report.run_id,
        WORKFLOW: report.workflow,
        VERSION: report.version,
        TENANT: report.tenant,
        STATUS: report.status,
    }
    if report.compensation is not None:
        attributes[COMPENSATION] = report.compensation
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


def _first_report(key: tuple[str, str]) -> bool:
    """Whether ``key`` (a Temporal run id and a status) is reported for the first time here."""
    if key in _reported:
        return False
    _reported[key] = None
    if len(_reported) > REMEMBERED:
        _reported.popitem(last=False)
    return True


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)
