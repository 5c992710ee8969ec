"""What a run is started with, and the names under which the interpreter is registered."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from interpreter.carry import Carry
from interpreter.limits import FlowLimits
from interpreter.seed import Seed
from interpreter.spec import Definition

WORKFLOW_NAME = "kworkflow"
"""Temporal workflow type of the interpreter."""
AGENT_WORKFLOW_NAME = "kworkflow.agent"
"""Temporal workflow type of an agent step's child workflow."""
DEFAULT_TASK_QUEUE = "kworkflow"
RESPOND = "respond"
"""Name of the update and of the signal that answer a human step."""
STATUS_QUERY = "status"
"""Name of the query that returns a run's live state."""
STEP_QUERY = "step"
"""Name of the query that returns one step whole (``status`` shows large values as markers)."""
TRANSITIONS_QUERY = "transitions"
"""Name of the query that returns a run's transitions after a sequence number."""
ATTEMPT_SIGNAL = "kworkflow.attempt"
"""Name of the signal a step activity sends when a retry attempt starts."""


class BreakpointSet(BaseModel):
    """Steps a run stops at (:mod:`interpreter.breakpoints`), besides those its definition
    declares: before they start, or after they ran and before their output is final."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    before: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)

    def unknown(self, definition: Definition) -> list[str]:
        """The ids named here that are not top-level steps of ``definition``, sorted."""
        ids = {s.id for s in definition.steps}
        return sorted({sid for sid in (*self.before, *self.after) if sid not in ids})


class RunRequest(BaseModel):
    """The interpreter workflow's single argument.

    Attributes:
        definition: The definition to run (already loaded and linted by the starter).
        input: The run input as given; the workflow checks it and applies schema defaults.
        version: The definition's published version (0 for a file run).
        tenant: Who the run belongs to.
        subflows: Definitions of named subflows, pinned when the run started, keyed by
            ``name`` or ``name@version`` exactly as the ``subflow`` steps write them.
        parent: For a child run, the parent's run id (informational).
        carry: Set when the run continued as new: what the previous run hands on
            (:mod:`interpreter.carry`).
        event_limit: History events after which the run continues as new (default
            :data:`interpreter.carry.DEFAULT_EVENT_LIMIT`; Temporal may suggest it sooner).
        flow_limits: The operator's flow limits, from the starter's worker configuration
            (default: :class:`interpreter.limits.FlowLimits`'s defaults).
        seed: Set for a retry: the ended steps of the original run the new run takes over
            without running them (:mod:`interpreter.seed`).
        breakpoints: Steps the run stops at before or after (:mod:`interpreter.breakpoints`);
            an unknown step id fails the run (``InvalidBreakpoints``).
        events_out: The starter's configuration names a lifecycle events sink: the run sends
            its transitions to it (:mod:`interpreter.events_out`); False: it pays nothing.
    """

    model_config = ConfigDict(frozen=True)

    definition: Definition
    input: Any = Field(default_factory=dict)
    version: int = 0
    tenant: str = "default"
    subflows: dict[str, Definition] = Field(default_factory=dict)
    parent: str | None = None
    carry: Carry | None = None
    event_limit: int | None = Field(default=None, ge=100)
    flow_limits: FlowLimits | None = None
    seed: Seed | None = None
    breakpoints: BreakpointSet | None = None
    events_out: bool = False


class RespondRequest(BaseModel):
    """The payload of the ``respond`` update and signal.

    Attributes:
        step: Id of the waiting human step.
        data: The answer; must satisfy the step's ``form``.
        actor: Who answered (the API fills it from the caller's identity).
    """

    step: str
    data: Any = None
    actor: str | None = None


class AttemptReport(BaseModel):
    """The payload of :data:`ATTEMPT_SIGNAL`: attempt ``attempt`` of the step at ``path`` began."""

    path: str
    attempt: int
