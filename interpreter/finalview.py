"""The run's final view, kept in its memo so that reading an ended run needs no worker.

When a run ends, the interpreter writes the ``status`` query's answer (values above a size are
markers, :mod:`interpreter.viewsize`) into the workflow's memo under :data:`FINAL_VIEW_MEMO`.
Temporal keeps the memo with the execution and returns it with every describe, so the API serves
an ended run from one describe instead of asking a worker to replay its whole history.

The memo goes through kworkflow's data converter: a view at or above the blob store's threshold
(``KWORKFLOW_PAYLOAD_THRESHOLD``, 256 KiB) is kept in the blob store and the memo holds its
reference, so a large run's view stays far below Temporal's memo limit (2 MiB by default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow

from interpreter import patches

FINAL_VIEW_MEMO = "kworkflow.final_view"
"""The memo key of the run's final view."""
FINAL_VIEW_PATCH = "final-view-memo"
"""Runs recorded before the final view was kept replay without it."""


def keep_final_view(view: Callable[[], dict[str, Any]]) -> None:
    """Write ``view()`` (the ended run's ``status`` answer) into the run's memo."""
    if patches.patched(FINAL_VIEW_PATCH):
        workflow.upsert_memo({FINAL_VIEW_MEMO: view()})
