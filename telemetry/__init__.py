"""Observability: OpenTelemetry traces (tracing, spans, asgi) and Prometheus metrics."""
