"""Tracing setup: the process's TracerProvider and Temporal's OpenTelemetry interceptor.

Spans are exported over OTLP/HTTP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; otherwise
:func:`setup_tracing` does nothing and every span kworkflow starts is a no-op. Tests call
:func:`setup_tracing` with their own exporter (an in-memory one).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from telemetry.workflow_tracing import KworkflowTracingInterceptor

TRACER_NAME = "kworkflow"

_provider: TracerProvider | None = None
_enabled = False


def setup_tracing(
    service_name: str,
    *,
    exporter: SpanExporter | None = None,
    env: Mapping[str, str] | None = None,
) -> TracerProvider | None:
    """Install a TracerProvider for this process, once.

    Args:
        service_name: ``service.name`` of the spans (``kworkflow-api``, ``kworkflow-worker``).
        exporter: Export to this exporter, synchronously (tests). Without it, spans go to the
            OTLP/HTTP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.
        env: Default: the process environment.

    Returns:
        The provider in use, or None when tracing is off.
    """
    global _provider, _enabled
    env = os.environ if env is None else env
    if _provider is not None:  # OpenTelemetry allows one global provider per process
        if exporter is not None:
            _provider.add_span_processor(SimpleSpanProcessor(exporter))
            _enabled = True
        elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            _enabled = True
        return _provider if _enabled else None
    provider = build_provider(service_name, exporter=exporter, env=env)
    if provider is None:
        return None
    trace.set_tracer_provider(provider)
    _provider, _enabled = provider, True
    return provider


def build_provider(
    service_name: str,
    *,
    exporter: SpanExporter | None = None,
    env: Mapping[str, str],
) -> TracerProvider | None:
    """A TracerProvider exporting to ``exporter``, else over OTLP/HTTP when
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set in ``env``; None when neither (tracing off).

    The OTLP exporter reads the standard ``OTEL_EXPORTER_OTLP_*`` variables (endpoint, headers,
    timeout); spans are batched.
    """
    if exporter is None and not env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}), id_generator=_IdGenerator()
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def disable_tracing() -> None:
    """Stop adding the tracing interceptor to new clients and workers (tests).

    The provider stays installed (it cannot be replaced); call :func:`setup_tracing` again to
    turn tracing back on.
    """
    global _enabled
    _enabled = False


def tracing_enabled() -> bool:
    """:func:`setup_tracing` installed a provider in this process."""
    return _enabled


def tracing_interceptors() -> list[KworkflowTracingInterceptor]:
    """Temporal's tracing interceptor, with kworkflow's workflow side, when tracing is on.

    On a client it starts ``StartWorkflow`` spans and sends the context in headers; on a
    worker the workflows pass the context on (no spans of their own:
    :mod:`telemetry.workflow_tracing`) and each activity attempt gets a ``RunActivity`` span.
    """
    return [KworkflowTracingInterceptor(tracer())] if tracing_enabled() else []


def tracer() -> trace.Tracer:
    """kworkflow's tracer (a no-op one when tracing is off)."""
    return trace.get_tracer(TRACER_NAME)


_FIXED_IDS: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "kworkflow_fixed_span_ids", default=None
)


class _IdGenerator(RandomIdGenerator):
    """Random ids, except for a span whose ids were decided elsewhere (:func:`fixed_ids`)."""

    def generate_span_id(self) -> int:
        fixed = _FIXED_IDS.get()
        return fixed[1] if fixed else super().generate_span_id()

    def generate_trace_id(self) -> int:
        fixed = _FIXED_IDS.get()
        return fixed[0] if fixed else super().generate_trace_id()


@contextlib.contextmanager
def fixed_ids(trace_id: int, span_id: int) -> Iterator[None]:
    """Spans started inside get these ids (the trace id only counts for a root span).

    A run's span id is computed in the workflow, which hands it to the run's activities as
    their parent before the span exists (:mod:`telemetry.trace_context`).
    """
    token = _FIXED_IDS.set((trace_id, span_id))
    try:
        yield
    finally:
        _FIXED_IDS.reset(token)
