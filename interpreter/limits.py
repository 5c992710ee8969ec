"""Operator limits on what a definition may ask for: the model, its defaults, and the checks.

The operator sets them in the worker configuration (``limits:`` in ``kworkflow.worker.yaml``,
see :mod:`activities.config`); lint and publish check a definition against them
(:func:`interpreter.lint.lint` takes a :class:`Limits`, default :data:`DEFAULT_LIMITS`) and the
worker checks each step again when it runs it, failing it with a non-retryable
``LimitExceeded``. Pure: no I/O, importable by the interpreter, lint, the API and the worker.

Each kind of limit has its own section, so more can be added beside ``code`` (the run's
``max_duration``, ``max_concurrency`` of a fan-out...) without changing the file's shape::

    limits:
      code:
        max_memory_mb: 1024      # the largest `memory_mb` a code step may ask for
        max_timeout: 15m         # the longest `timeout` of one code step attempt
        max_cpu_seconds: 600     # CPU time of one attempt, whatever its timeout
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

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


class Limits(BaseModel):
    """Every operator limit, by section (the ``limits:`` key of the worker configuration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: CodeLimits = Field(default_factory=CodeLimits)


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
