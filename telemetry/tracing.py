"""Tracing setup: the process's TracerProvider and Temporal's OpenTelemetry interceptor.

Spans are exported over OTLP/HTTP only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; otherwise
:func:`setup_tracing` does nothing and every span kworkflow starts is a no-op. Tests call
:func:`setup_tracing` with their own exporter (an in-memory one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from temporalio.contrib.opentelemetry import TracingInterceptor

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
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
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


def tracing_interceptors() -> list[TracingInterceptor]:
    """Temporal's tracing interceptor when tracing is on, else nothing.

    On a client it starts ``StartWorkflow`` spans and sends the context in headers; on a
    worker it continues it into ``RunWorkflow``/``StartActivity``/``RunActivity`` spans
    (workflow-side spans only when not replaying).
    """
    return [TracingInterceptor(tracer())] if tracing_enabled() else []


def tracer() -> trace.Tracer:
    """kworkflow's tracer (a no-op one when tracing is off)."""
    return trace.get_tracer(TRACER_NAME)
