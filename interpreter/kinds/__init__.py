"""The workflow side of each step kind, by kind name."""

from __future__ import annotations

from interpreter.kinds.activity import run_activity
from interpreter.kinds.agent import run_agent
from interpreter.kinds.aggregate import run_aggregate
from interpreter.kinds.base import Invocation, KindHandler, Runtime
from interpreter.kinds.branch import run_branch
from interpreter.kinds.event import run_event
from interpreter.kinds.human import run_human
from interpreter.kinds.parallel import run_parallel
from interpreter.kinds.subflow import run_subflow

HANDLERS: dict[str, KindHandler] = {
    "llm": run_activity,
    "tool": run_activity,
    "code": run_activity,
    "agent": run_agent,
    "subflow": run_subflow,
    "human": run_human,
    "event": run_event,
    "branch": run_branch,
    "parallel": run_parallel,
    "aggregate": run_aggregate,
}

__all__ = ["HANDLERS", "Invocation", "KindHandler", "Runtime"]
