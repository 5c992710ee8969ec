"""Which of the interpreter's behaviour changes a run has: one marker for all of them in new runs.

Every change of the interpreter's commands is behind ``workflow.patched(id)`` so that histories
recorded before it replay as they ran. Temporal's core records a marker for each patch a run
uses and, for each, a search-attribute upsert (``TemporalChangeVersion``): an event in the
history and a visibility write on the server for every patch, in every run, at whatever
workflow task first asks for it. Runs started since :data:`BASELINE` record one marker and one
upsert instead, at their start, for every patch in :data:`INCLUDED`: :func:`patched` answers
True for those without asking Temporal. Runs recorded before the baseline (no marker) ask
Temporal patch by patch, as they did.

A new behaviour change adds its own patch id (asked of Temporal as before); the next baseline,
a new id, may then include it. A baseline's list never changes once runs have recorded it.
"""

from __future__ import annotations

from temporalio import workflow

BASELINE = "kworkflow-baseline-1"
"""The marker a run records at its start: every patch of :data:`INCLUDED` is in effect."""

INCLUDED = frozenset(
    {
        "flow-limits",
        "human-form-check",
        "final-view-memo",
        "pace-long-work",
        "continue-as-new",
        "run-report-activity",
        "run-report-local",
        "step-internal-error",
        "refuse-uncarriable-values",
        "descendant-humans",
        "pause-resume",
        "parallel-lazy-start",
        "event-limit-2500",
    }
)
"""The patches in effect in every run that has :data:`BASELINE` (never changed once recorded)."""

BREAKPOINTS = "breakpoints"
"""Runs stop at breakpoints (interpreter.breakpoints); asked only of a step that has one."""
UPGRADE = "upgrade-paused-run"
"""Upgrading a paused run to a newer version (interpreter.upgrading); not in a baseline yet."""


EVENT_STEPS = "event-steps"
"""Runs that have ``event`` steps (interpreter.kinds.event): a new kind, so no earlier history
has one; the marker dates the behaviour for the next baseline."""

EVENTS_OUT = "events-out"
"""Runs that send lifecycle events (interpreter.events_out); asked only of a run whose request
has ``events_out``."""

QUOTA_ASK_NOW = "quota-ask-now"
"""A step asks its limiters with an update (interpreter.quota): a slot free at once is known
when the ask returns, in the same workflow task, instead of by a grant signal; asked only by a
step that asks a limiter."""

CEL_FUNCTIONS = "cel-functions"
"""CEL's extension functions (interpreter.celfuncs) and ``string()`` of lists and maps as JSON;
asked only when an expression calls one of them (see :func:`cel_functions`)."""


def cel_functions() -> bool:
    """Whether the run's expressions have the extension functions: the gate of its CEL scope.

    In a query or an update validator (no marker can be recorded) they do: what they answer is
    not in the history.
    """
    if workflow.unsafe.is_read_only():
        return True
    return patched(CEL_FUNCTIONS)


def start() -> None:
    """Ask for the baseline: the first thing a run does, so that a new run records it in its
    first workflow task and an older run, replayed, learns it has none."""
    workflow.patched(BASELINE)


def patched(patch_id: str) -> bool:
    """Whether the run has the behaviour change ``patch_id`` (``workflow.patched``, answered
    without a marker of its own in a run that has the baseline)."""
    if patch_id in INCLUDED and workflow.patched(BASELINE):
        return True
    return workflow.patched(patch_id)
