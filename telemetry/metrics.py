"""kworkflow's Prometheus metrics, their registry, and the ``/metrics`` endpoints.

Every process (the API, each worker) keeps its own counts in :data:`REGISTRY`; Prometheus
scrapes each and sums. Temporal's own SDK metrics come from the SDK's core runtime, which serves
them on a port of its own (:func:`temporal_runtime`). See docs/observability.md.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

REGISTRY = CollectorRegistry(auto_describe=True)
"""kworkflow's metrics (not the default registry, so tests and embedders see only these)."""

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

RUNS_STARTED = Counter(
    "kworkflow_runs_started",
    "Runs started through the API or the command line, by workflow.",
    ["workflow"],
    registry=REGISTRY,
)
RUNS_FINISHED = Counter(
    "kworkflow_runs_finished",
    "Runs that ended, by workflow and status (succeeded, failed, cancelled); counted by the "
    "worker that ran the run's last workflow task.",
    ["workflow", "status"],
    registry=REGISTRY,
)
RUNS_PAUSED = Counter(
    "kworkflow_runs_paused",
    "Runs paused through the API (one-run or bulk), by workflow; a pause that found the run "
    "already paused is not counted.",
    ["workflow"],
    registry=REGISTRY,
)
RUNS_RESUMED = Counter(
    "kworkflow_runs_resumed",
    "Paused runs resumed through the API, by workflow.",
    ["workflow"],
    registry=REGISTRY,
)
BREAKPOINTS_HIT = Counter(
    "kworkflow_breakpoints_hit",
    "Steps held at a breakpoint (before or after), by workflow and when; counted by the worker "
    "that ran the step (not again on replay).",
    ["workflow", "when"],
    registry=REGISTRY,
)
RUNS_CONTINUED = Counter(
    "kworkflow_runs_continued",
    "Runs let go on from a breakpoint through the API, by workflow and whether the step's "
    "input or output was edited.",
    ["workflow", "edited"],
    registry=REGISTRY,
)
RUNS_COMPENSATED = Counter(
    "kworkflow_runs_compensated",
    "Runs whose compensation ended, by workflow, mode (`auto`: the run compensated itself; "
    "`manual`: a compensation run started through the API) and status (`compensated`, "
    "`compensation_failed`, `compensation_cancelled`); counted by the worker with the run's end.",
    ["workflow", "mode", "status"],
    registry=REGISTRY,
)
RUNS_RETRIED = Counter(
    "kworkflow_runs_retried",
    "Retries and forks started through the API (one-run or bulk), by workflow and mode "
    "(`retry` or `fork`); asking for the same retry again is not counted.",
    ["workflow", "mode"],
    registry=REGISTRY,
)
RUNS_UPGRADED = Counter(
    "kworkflow_runs_upgraded",
    "Paused runs upgraded to a newer version through the API, by workflow.",
    ["workflow"],
    registry=REGISTRY,
)
STEP_ATTEMPTS = Counter(
    "kworkflow_step_attempts",
    "Step activity attempts, by kind and outcome (succeeded, failed).",
    ["kind", "status"],
    registry=REGISTRY,
)
STEP_DURATION = Histogram(
    "kworkflow_step_attempt_duration_seconds",
    "How long one step activity attempt ran, by kind.",
    ["kind"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
DISPATCH_LATENCY = Histogram(
    "kworkflow_step_dispatch_latency_seconds",
    "From an attempt being scheduled (the step became ready, or its retry came due) to its "
    "activity starting on a worker, by kind.",
    ["kind"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
TOKENS = Counter(
    "kworkflow_llm_tokens",
    "Model tokens, by model and direction (input, output).",
    ["model", "direction"],
    registry=REGISTRY,
)
COST = Counter(
    "kworkflow_llm_cost_usd",
    "Model cost in USD (from the provider's prices), by model.",
    ["model"],
    registry=REGISTRY,
)
QUOTA_WAIT = Histogram(
    "kworkflow_step_quota_wait_seconds",
    "How long a step waited queued for a slot of its tenant's step quota, by kind (only runs "
    "under a quota; the count is how many steps asked).",
    ["kind"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
HUMAN_WAITING = Gauge(
    "kworkflow_human_steps_waiting",
    "Human steps waiting for an answer, as seen by this worker (sum over workers).",
    registry=REGISTRY,
)


def render() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> None:
    """Serve :data:`REGISTRY` at ``http://addr:port/metrics`` from a background thread."""
    start_http_server(port, addr=addr, registry=REGISTRY)


def temporal_runtime(bind_address: str | None = None) -> Runtime:
    """A worker's Temporal runtime: core's logs through Python logging (:mod:`telemetry.logs`
    says why), and its SDK metrics served in the Prometheus format when ``bind_address`` is set.

    Args:
        bind_address: ``host:port`` of the SDK's own Prometheus endpoint (any path answers).
    """
    from telemetry.logs import core_logging

    metrics = None if bind_address is None else PrometheusConfig(bind_address=bind_address)
    return Runtime(telemetry=TelemetryConfig(logging=core_logging(), metrics=metrics))
