"""Temporal's tracing interceptor, with kworkflow's workflow side: context, never spans.

Temporal's ``TracingInterceptor`` makes zero-length spans in the workflow (``RunWorkflow``,
``StartActivity``, ``HandleSignal``, ``CompleteWorkflow``) when the workflow is not replaying.
That is not enough to make them once: when a query reaches a run that no worker has cached
while a workflow task is pending, the SDK runs the run's newest events to answer it, not as a
replay, then throws that work away, and the real workflow task makes the same spans again.

So kworkflow keeps the interceptor's client side (``StartWorkflow``, ``SignalWorkflow``...,
which carry the context in headers) and activity side (``RunActivity``, once per attempt), and
replaces its workflow side with one that only passes context on: activities and child workflows
started by an interpreter run get the run's ``run <workflow>`` span
(:mod:`telemetry.trace_context`) as their parent; other workflows (the agent loop) pass on the
context they were started with. The run span is reported once, by an activity
(:mod:`telemetry.run_report`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import temporalio.converter
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.worker import (
    ContinueAsNewInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from telemetry.trace_context import HEADER, TraceContext


class KworkflowTracingInterceptor(TracingInterceptor):
    """Temporal's tracing interceptor whose workflow side makes no spans (module docstring)."""

    def workflow_interceptor_class(  # type: ignore[override]
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _ContextOnlyInbound


class _ContextOnlyInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_ContextOnlyOutbound(outbound))


class _ContextOnlyOutbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = _with_context(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = _with_context(input.headers)
        return super().start_local_activity(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        input.headers = _with_context(input.headers)
        return await super().start_child_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        incoming = workflow.info().headers.get(HEADER)  # the next run continues the same trace
        if incoming is not None:
            input.headers = {**input.headers, HEADER: incoming}
        super().continue_as_new(input)


def _with_context(headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
    """``headers`` plus the context what the workflow starts continues from."""
    trace = getattr(workflow.instance(), "trace_context", None)
    if isinstance(trace, TraceContext):
        converter = temporalio.converter.PayloadConverter.default
        return {**headers, HEADER: converter.to_payloads([trace.carrier()])[0]}
    incoming = workflow.info().headers.get(HEADER)
    return headers if incoming is None else {**headers, HEADER: incoming}
