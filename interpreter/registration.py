"""How a worker hosts the interpreter: its workflows, sandbox settings and data converter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.converter import DataConverter
from temporalio.worker import Interceptor, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.assignees import notify_assignees
from activities.events import recent_events
from activities.events_out import publish_lifecycle
from interpreter.pacing import pause
from interpreter.tuning import Tuning
from limiter.activities import ask, ask_now, ended_holders
from storage import data_converter_from_env
from telemetry.run_report import report_run
from telemetry.tracing import tracing_interceptors


def data_converter() -> DataConverter:
    """The converter every client and worker of kworkflow uses: pydantic models on the wire,
    and payloads of ``KWORKFLOW_PAYLOAD_THRESHOLD`` and more in the blob store
    (:mod:`storage`), configured from the environment on first use.

    Raises:
        storage.errors.StorageConfigError: A storage setting is wrong.
    """
    return data_converter_from_env()


def __getattr__(name: str) -> DataConverter:
    """``DATA_CONVERTER``: :func:`data_converter`, built when first imported."""
    if name == "DATA_CONVERTER":
        return data_converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Deterministic modules the workflows import: passed through the sandbox so they are imported
# once per process instead of once per workflow run (they hold no per-run state).
PASSTHROUGH_MODULES = (
    "interpreter",
    "activities",
    "limiter",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "celpy",
    "lark",
    "re2",
    "jsonschema",
    "jsonschema_specifications",
    "referencing",
    "rpds",
    "attrs",
    "attr",
    "yaml",
    "telemetry",
    "opentelemetry",
    "prometheus_client",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox runner for kworkflow workflows."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def workflows() -> list[type]:
    """The workflow classes every kworkflow worker registers."""
    from interpreter.agent import AgentWorkflow
    from interpreter.workflow import InterpreterWorkflow
    from limiter.workflow import LimiterWorkflow

    return [InterpreterWorkflow, AgentWorkflow, LimiterWorkflow]


def _limiter_activities(given: Sequence[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """The limiters' activities (limiter.activities), unless ``given`` has them already."""
    return [] if ask in given else [ask, ask_now, ended_holders]


def new_worker(
    client: Client,
    task_queue: str,
    activities: Sequence[Callable[..., Any]] = (),
    *,
    extra_workflows: Sequence[type] = (),
    run_report: Callable[..., Any] = report_run,
    interceptors: Sequence[Interceptor] | None = None,
    **options: Any,
) -> Worker:
    """A Worker that runs the interpreter workflows and the given activities.

    Args:
        client: A client connected with :func:`data_converter`.
        task_queue: The task queue to poll.
        activities: Step activities (``llm``, ``tool``, ``code``) and any others; the run-end
            report, the interpreter's pause (:mod:`interpreter.pacing`) and the assignees'
            notifications (:mod:`activities.assignees`) and the recent events
            (:mod:`activities.events`) are added to them.
        extra_workflows: Workflows to host beside the interpreter's (benchmarks, tests).
        run_report: The ``kworkflow.run_finished`` activity (default:
            :func:`telemetry.run_report.report_run`; tests slow it down).
        interceptors: Worker interceptors; default: Temporal's tracing interceptor when tracing
            is set up (:mod:`telemetry.tracing`) and the client does not carry it already.
        **options: Passed to :class:`temporalio.worker.Worker`; the pollers, slots and cache
            not given here come from the environment (:class:`interpreter.tuning.Tuning`).

    Raises:
        activities.errors.ConfigError: A ``KWORKFLOW_*`` tuning variable is wrong.
    """
    options.setdefault("workflow_runner", workflow_runner())
    for name, value in Tuning.from_env().worker_options().items():
        options.setdefault(name, value)
    if interceptors is None:
        on_client = any(isinstance(i, TracingInterceptor) for i in client.config()["interceptors"])
        interceptors = [] if on_client else tracing_interceptors()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*workflows(), *extra_workflows],
        activities=[
            *activities,
            *([] if run_report in activities else [run_report]),
            *([] if pause in activities else [pause]),
            *([] if notify_assignees in activities else [notify_assignees]),
            *([] if recent_events in activities else [recent_events]),
            *([] if publish_lifecycle in activities else [publish_lifecycle]),
            *_limiter_activities(activities),
        ],
        interceptors=list(interceptors),
        **options,
    )
