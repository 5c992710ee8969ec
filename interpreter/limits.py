"""Operator limits on what a definition may ask for: the model, its defaults, and the checks.

The operator sets them in the worker configuration (``limits:`` in ``kworkflow.worker.yaml``,
see :mod:`activities.config`); lint and publish check a definition against them
(:func:`interpreter.lint.lint` takes a :class:`Limits`, default :data:`DEFAULT_LIMITS`) and the
worker checks each step again when it runs it, failing it with a non-retryable
``LimitExceeded``. Pure: no I/O, importable by the interpreter, lint, the API and the worker.

Each kind of limit has its own section::

    limits:
      code:
        max_memory_mb: 1024      # the largest `memory_mb` a code step may ask for
        max_timeout: 15m         # the longest `timeout` of one code step attempt
        max_cpu_seconds: 600     # CPU time of one attempt, whatever its timeout
      flow:
        max_concurrency: 100     # items of one parallel step at once (also its default bound)
        max_items: 10000         # items one for_each may fan out over
        max_duration: 365d       # the longest duration a definition may write
      schedules:                 # triggers (interpreter/triggers.py, docs/triggers.md)
        min_interval: 1m         # the shortest time between two fire times of a trigger
        max_per_workflow: 10     # triggers one definition may declare
        max_per_tenant: 100      # schedules of one tenant, all workflows together
        max_backfill_runs: 100   # runs one backfill may start

The ``flow`` limits are also checked inside the run (the workflow cannot read the worker's
files, so whoever starts a run passes them in :attr:`interpreter.request.RunRequest.flow_limits`):
a run over them fails at its start with ``LimitExceeded``, a ``for_each`` over more items fails
its step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from interpreter.durations import parse_duration
from interpreter.spec import Duration

CODE_DEFAULT_MEMORY_MB = 256
"""The address-space limit of a code step that sets no ``memory_mb`` (capped by the maximum)."""


class CodeLimits(BaseModel):
    """Maxima for ``code`` steps.

    Attributes:
        max_memory_mb: The largest ``memory_mb`` a step may ask for.
        max_timeout: The longest ``timeout`` of one attempt (the step's, its enclosing
            ``parallel``'s or ``defaults.timeout``; 5m when none is set).
        max_cpu_seconds: CPU seconds one attempt may use; the code's CPU limit is the smaller of
            this and its timeout. Not something a definition asks for, so never a lint finding:
            code that uses more fails with ``CodeTimeout``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_memory_mb: int = Field(default=1024, ge=16)
    max_timeout: Duration = "15m"
    max_cpu_seconds: float = Field(default=600.0, gt=0)

    @property
    def max_timeout_delta(self) -> timedelta:
        """``max_timeout`` as a duration."""
        return parse_duration(self.max_timeout)

    def memory_mb(self, asked: int | None) -> int:
        """The memory a step gets: what it asked for, else the default capped by the maximum."""
        return asked if asked is not None else min(CODE_DEFAULT_MEMORY_MB, self.max_memory_mb)


class StepQuota(BaseModel):
    """The per-tenant quota of concurrently executing steps (``limits.flow.step_quota``).

    At most this many llm, tool and code activities of one tenant execute at once, across all
    workers (:mod:`interpreter.quota`, docs/flow-control.md).

    Attributes:
        default: The quota of a tenant not named in ``tenants`` (None: such tenants are not
            limited).
        tenants: The quota of named tenants.
        lease: How often a limiter checks for holder runs that ended without releasing their
            slots (a terminated run), and how long an idle limiter lives.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: int | None = Field(default=None, ge=1, le=10_000)
    tenants: dict[str, Annotated[int, Field(ge=1, le=10_000)]] = Field(default_factory=dict)
    lease: Duration = "1m"

    def of(self, tenant: str) -> int | None:
        """The quota of ``tenant`` (None: not limited)."""
        return self.tenants.get(tenant, self.default)

    @property
    def lease_seconds(self) -> float:
        """``lease`` in seconds (at least one)."""
        return max(1.0, parse_duration(self.lease).total_seconds())


class FlowLimits(BaseModel):
    """Maxima for the shape of a run: fan-out and durations.

    Attributes:
        max_concurrency: The most items of one ``parallel`` step that run at once: a
            ``max_concurrency`` above it is refused, and a ``parallel`` without one runs at most
            this many.
        max_items: The most items a ``for_each`` may fan out over.
        max_duration: The longest duration a definition may write (a run or step ``timeout``, a
            human step's wait, a retry interval or ``max_duration``).
        step_quota: The per-tenant quota of concurrently executing steps (None: no quota, and
            no limiter round-trips at all).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrency: int = Field(default=100, ge=1, le=10_000)
    max_items: int = Field(default=10_000, ge=1, le=1_000_000)
    max_duration: Duration = "365d"
    step_quota: StepQuota | None = None

    @property
    def max_duration_delta(self) -> timedelta:
        """``max_duration`` as a duration."""
        return parse_duration(self.max_duration)


class ScheduleLimits(BaseModel):
    """The operator's bounds on schedule triggers (``limits.schedules`` of the worker config).

    Attributes:
        min_interval: The shortest time between two fire times a trigger may ask for.
        max_per_workflow: The most triggers one definition may declare.
        max_per_tenant: The most schedules one tenant may have, all workflows together.
        max_backfill_runs: The most runs one backfill may start.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_interval: Duration = "1m"
    max_per_workflow: int = Field(default=10, ge=0, le=1000)
    max_per_tenant: int = Field(default=100, ge=0, le=100_000)
    max_backfill_runs: int = Field(default=100, ge=1, le=100_000)

    @property
    def min_interval_delta(self) -> timedelta:
        """``min_interval`` as a duration."""
        return parse_duration(self.min_interval)


class Limits(BaseModel):
    """Every operator limit, by section (the ``limits:`` key of the worker configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: CodeLimits = Field(default_factory=CodeLimits)
    flow: FlowLimits = Field(default_factory=FlowLimits)
    schedules: ScheduleLimits = Field(default_factory=ScheduleLimits)


DEFAULT_LIMITS = Limits()
"""The limits of a worker (or lint) without a ``limits:`` configuration."""


@dataclass(frozen=True)
class Excess:
    """One field of a step over its operator maximum.

    Attributes:
        field: The step's field (``memory_mb``, ``timeout``).
        value: What the step asks for, as written in messages.
        maximum: The maximum, as written in messages.
        setting: Where the operator sets the maximum (``limits.code.max_memory_mb``).
    """

    field: str
    value: str
    maximum: str
    setting: str

    def describe(self) -> str:
        """``memory_mb 2048 is over this worker's maximum of 1024 (limits.code.max_memory_mb)``."""
        return (
            f"{self.field} {self.value} is over this worker's maximum of {self.maximum} "
            f"({self.setting})"
        )


def code_excesses(memory_mb: int | None, timeout: timedelta, limits: CodeLimits) -> list[Excess]:
    """The fields of a code step over ``limits``.

    Args:
        memory_mb: The step's ``memory_mb`` (None: not set, so within the limit).
        timeout: One attempt's resolved timeout.
        limits: The operator's maxima.
    """
    found = []
    if memory_mb is not None and memory_mb > limits.max_memory_mb:
        setting = "limits.code.max_memory_mb"
        found.append(Excess("memory_mb", str(memory_mb), str(limits.max_memory_mb), setting))
    if timeout > limits.max_timeout_delta:
        maximum = format_duration(limits.max_timeout_delta)
        found.append(
            Excess("timeout", format_duration(timeout), maximum, "limits.code.max_timeout")
        )
    return found


def flow_limits(request: Any) -> FlowLimits:
    """The flow limits a run was started with (the defaults when its starter gave none)."""
    given = getattr(request, "flow_limits", None)
    return given if isinstance(given, FlowLimits) else DEFAULT_LIMITS.flow


DURATION_FIELDS = frozenset({"timeout", "initial_interval", "max_interval", "max_duration"})
"""The keys of a definition whose values are durations."""


def flow_excesses(data: Any, limits: FlowLimits, path: str = "") -> Iterator[tuple[str, Excess]]:
    """Every place of a definition (as plain data, by alias) over the flow limits, with its
    path (``steps[2].timeout``): durations, ``max_concurrency``, static ``for_each`` lists."""
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield from flow_excesses(item, limits, f"{path}[{index}]")
        return
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key in DURATION_FIELDS and isinstance(value, str):
            excess = duration_excess(key, value, limits)
            if excess is not None:
                yield where, excess
        elif key == "max_concurrency" and isinstance(value, int):
            if value > limits.max_concurrency:
                maximum = str(limits.max_concurrency)
                setting = "limits.flow.max_concurrency"
                yield where, Excess("max_concurrency", str(value), maximum, setting)
        elif key == "for_each" and isinstance(value, list) and len(value) > limits.max_items:
            yield where, items_excess(len(value), limits)
        else:
            yield from flow_excesses(value, limits, where)


def duration_excess(field: str, value: str, limits: FlowLimits) -> Excess | None:
    """The excess of a duration over ``max_duration``; None within it or unreadable (the
    loader reports those)."""
    try:
        asked = parse_duration(value)
    except (ValueError, OverflowError):
        return None
    if asked <= limits.max_duration_delta:
        return None
    maximum = format_duration(limits.max_duration_delta)
    return Excess(field, value, maximum, "limits.flow.max_duration")


def items_excess(count: int, limits: FlowLimits) -> Excess:
    """``for_each`` over ``count`` items, above ``max_items``."""
    return Excess("for_each", f"of {count} items", str(limits.max_items), "limits.flow.max_items")


def format_duration(value: timedelta) -> str:
    """A duration as a definition writes it: ``15m``, ``1h30m``, ``2.5s``."""
    millis = round(value.total_seconds() * 1000)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    if millis:
        parts.append(
            f"{millis / 1000:g}s" if millis % 1000 == 0 or millis > 1000 else f"{millis}ms"
        )
    return "".join(parts) or "0s"
