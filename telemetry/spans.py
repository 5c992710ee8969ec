"""kworkflow's own spans and metric updates: one span per step attempt, and the human steps
waiting.

Step attempts happen in activities, so :func:`step_attempt` (used by
``activities.base.step_activity``) gives one span per attempt, and replays never repeat them.
The run's own span and its end's count come from a local activity too
(:mod:`telemetry.run_report`). The workflow side only keeps the human steps waiting: a set of
(run, step) by run, changed outside replay and under a lock (the workflow tasks of different
runs run in threads of their own); adding or removing the same pair twice changes nothing, so
work the SDK runs again outside replay (a query to an uncached run) cannot skew it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode
from temporalio import activity, workflow

from telemetry import metrics
from telemetry.attributes import (
    ATTEMPT,
    ERROR_MESSAGE,
    ERROR_TYPE,
    KIND,
    RUN_ID,
    STATUS,
    STEP_ID,
    STEP_PATH,
    TENANT,
    WORKFLOW,
)
from telemetry.tracing import tracer


class StepAttempt:
    """The span of one step activity attempt; :meth:`succeeded` adds the output's facts."""

    def __init__(self, span: Span, kind: str) -> None:
        self.span = span
        self.kind = kind

    def succeeded(self, output: Any) -> None:
        """Mark the attempt succeeded; an ``llm`` output adds GenAI attributes and tokens."""
        self.span.set_attribute(STATUS, "succeeded")
        if self.kind == "llm" and isinstance(output, dict):
            _llm_facts(self.span, output)


@contextlib.contextmanager
def step_attempt(ref: Any, kind: str, params: dict[str, Any]) -> Iterator[StepAttempt]:
    """A span ``step <path>`` around one attempt of a step activity, plus its metrics.

    Args:
        ref: The call's :class:`activities.contract.RunRef`.
        kind: The activity's kind (``llm``, ``tool``, ``code``).
        params: The step's resolved fields (the requested model of an llm call).
    """
    info = activity.info()
    scheduled = info.current_attempt_scheduled_time
    if scheduled is not None:
        latency = (datetime.now(UTC) - scheduled).total_seconds()
        metrics.DISPATCH_LATENCY.labels(kind).observe(max(latency, 0.0))
    attributes: dict[str, Any] = {
        RUN_ID: ref.run_id,
        WORKFLOW: ref.workflow,
        TENANT: ref.tenant,
        STEP_ID: _step_id(ref.step),
        STEP_PATH: ref.step,
        KIND: kind,
        ATTEMPT: info.attempt,
    }
    if kind == "llm":
        attributes["gen_ai.operation.name"] = "chat"
        attributes["gen_ai.system"] = str(params.get("provider") or "openai")
        if isinstance(params.get("model"), str):
            attributes["gen_ai.request.model"] = params["model"]
    began = time.monotonic()
    status = "failed"
    with tracer().start_as_current_span(
        f"step {ref.step}",
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield StepAttempt(span, kind)
            status = "succeeded"
        except BaseException as exc:
            span.set_attribute(STATUS, "failed")
            span.set_attribute(ERROR_TYPE, getattr(exc, "type", None) or type(exc).__name__)
            span.set_attribute(ERROR_MESSAGE, str(exc)[:500])
            span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
            raise
        finally:
            metrics.STEP_ATTEMPTS.labels(kind, status).inc()
            metrics.STEP_DURATION.labels(kind).observe(time.monotonic() - began)


def _llm_facts(span: Span, output: dict[str, Any]) -> None:
    model = output.get("model")
    usage = output.get("usage") or {}
    if isinstance(model, str):
        span.set_attribute("gen_ai.response.model", model)
    label = model if isinstance(model, str) else "unknown"
    for key, direction in (("input_tokens", "input"), ("output_tokens", "output")):
        value = usage.get(key) if isinstance(usage, dict) else None
        if isinstance(value, int):
            span.set_attribute(f"gen_ai.usage.{key}", value)
            metrics.TOKENS.labels(label, direction).inc(value)
    cost = output.get("cost_usd")
    if isinstance(cost, int | float) and cost > 0:
        metrics.COST.labels(label).inc(cost)
    reason = output.get("finish_reason")
    if isinstance(reason, str):
        span.set_attribute("gen_ai.response.finish_reasons", [reason])


def _step_id(path: str) -> str:
    """``gather[3]`` and ``check#2`` belong to the steps ``gather`` and ``check``."""
    for i, char in enumerate(path):
        if not (char.isalnum() or char == "_"):
            return path[:i]
    return path


# ---- the workflow side (no effect on the run; nothing twice for a replay) ------------------

_WAITING: dict[str, set[str]] = {}
"""The human steps waiting in the runs this worker has run, by run id. Workflow tasks of
different runs run in threads of their own, so every change holds :data:`_LOCK`."""
_LOCK = threading.Lock()
_count = 0
"""How many (run, step) pairs :data:`_WAITING` holds."""


def run_ended(run_id: str) -> None:
    """The run ended: its human steps wait no more (not while replaying)."""
    if not _replaying():
        _change(run_id, None, add=False)


def breakpoint_hit(workflow_name: str, when: str) -> None:
    """A step was held at a breakpoint: counted (not while replaying)."""
    if not _replaying():
        metrics.BREAKPOINTS_HIT.labels(workflow_name, when).inc()


def human_opened(run_id: str, step: str) -> None:
    """A human step began waiting (not while replaying)."""
    if not _replaying():
        _change(run_id, step, add=True)


def human_closed(run_id: str, step: str) -> None:
    """A human step stopped waiting: answered, timed out or cancelled.

    Not while replaying, nor when the worker evicts the run from its cache (Temporal counts
    eviction as replay): the step still waits then.
    """
    if not _replaying():
        _change(run_id, step, add=False)


def _change(run_id: str, step: str | None, *, add: bool) -> None:
    """Add or remove (run, step), or all of a run's steps (``step`` None); set the gauge."""
    global _count
    with _LOCK:
        steps = _WAITING.get(run_id)
        before = len(steps) if steps else 0
        if add:
            _WAITING.setdefault(run_id, set()).add(step or "")
        elif steps is not None:
            if step is None:
                steps.clear()
            else:
                steps.discard(step)
            if not steps:
                del _WAITING[run_id]
        after = len(_WAITING.get(run_id, ()))
        if after == before:
            return
        _count += after - before
        metrics.HUMAN_WAITING.set(_count)


def _replaying() -> bool:
    """Replaying, being evicted, or outside the workflow's event loop (a coroutine closed by the
    garbage collector after its worker stopped): no effects then."""
    return not workflow.in_workflow() or workflow.unsafe.is_replaying()
