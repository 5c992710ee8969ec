"""Whether a failed step fails its run: its ``on_error``, and the default of the builtin
``notify`` tool.

A ``tool`` step calling the builtin ``notify`` (a name the definition's ``tools:`` does not
define) that does not set ``on_error`` (the spec holds None, carried as null in a run's
request; ``fail`` otherwise) continues when it fails: a notification that cannot be
delivered does not fail the run (its ``on: failed`` edges can be taken). Written explicitly,
``on_error: fail`` still fails the run. Runs recorded before this default (patch
:data:`NOTIFY_PATCH`) replay as they ran.
"""

from __future__ import annotations

from collections.abc import Mapping

from interpreter import patches
from interpreter.spec import StepSpec

NOTIFY_TOOL = "notify"
NOTIFY_PATCH = "notify-continues"
"""Runs recorded before a failed ``notify`` step continued by default replay as they ran."""


def continues_by_default(spec: StepSpec, tools: Mapping[str, object]) -> bool:
    """Whether ``spec`` is a builtin ``notify`` call without an ``on_error`` of its own."""
    return (
        spec.kind == "tool"
        and getattr(spec, "tool", None) == NOTIFY_TOOL
        and NOTIFY_TOOL not in tools
        and spec.on_error is None
    )


def continues(spec: StepSpec, tools: Mapping[str, object]) -> bool:
    """Whether a failure of ``spec`` leaves the run going (for lint and the definition layer)."""
    return spec.on_error == "continue" or continues_by_default(spec, tools)


def fails_run(spec: StepSpec, tools: Mapping[str, object]) -> bool:
    """Whether a failure of ``spec`` fails the run (in the workflow: asks the patch only for a
    ``notify`` step without ``on_error``)."""
    if spec.on_error == "continue":
        return False
    return not (continues_by_default(spec, tools) and patches.patched(NOTIFY_PATCH))
