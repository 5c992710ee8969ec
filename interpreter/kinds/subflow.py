"""subflow steps: a child run of the same interpreter, named (pinned at start) or inline."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    TimeoutError,
)

from interpreter.kinds.base import Invocation, Runtime

with workflow.unsafe.imports_passed_through():
    from interpreter.durations import parse_duration
    from interpreter.request import WORKFLOW_NAME, RunRequest
    from interpreter.spec import Definition, SubflowStep
    from interpreter.state import StepError


async def run_subflow(runtime: Runtime, inv: Invocation, fields: dict[str, Any]) -> Any:
    """The child run's result. The step's ``timeout`` bounds the whole child run."""
    spec = inv.spec
    assert isinstance(spec, SubflowStep)
    parent = runtime.definition
    if spec.workflow is not None:
        key = spec.pin_key
        assert key is not None
        definition = runtime.request.subflows.get(key)
        if definition is None:
            raise StepError(
                "SubflowNotFound",
                f"workflow '{key}' was not pinned when the run started",
            )
        version = spec.version or 0
    else:
        assert spec.steps is not None
        definition = Definition(
            kworkflow=1,
            name=f"{parent.name}.{_name_part(inv.path)}",
            steps=spec.steps,
            edges=spec.edges,
            output=spec.output,
            defaults=parent.defaults,
            tools=parent.tools,
        )
        version = runtime.request.version
    request = RunRequest(
        definition=definition,
        input=fields.get("input") if fields.get("input") is not None else {},
        version=version,
        tenant=runtime.request.tenant,
        subflows=runtime.request.subflows,
        parent=runtime.state.run_id,
        event_limit=runtime.request.event_limit,
        flow_limits=runtime.request.flow_limits,
        events_out=runtime.request.events_out,
    )
    return await run_child(
        runtime,
        inv,
        WORKFLOW_NAME,
        request,
        parse_duration(spec.timeout) if spec.timeout else None,
    )


async def run_child(
    runtime: Runtime, inv: Invocation, name: str, arg: Any, timeout: Any = None
) -> Any:
    """Run a child workflow for a step and map its failure to a step error."""
    try:
        return await workflow.execute_child_workflow(
            name, arg, id=runtime.child_id(inv.path), execution_timeout=timeout
        )
    except ChildWorkflowError as err:
        cause = err.cause
        if isinstance(cause, CancelledError):
            raise asyncio.CancelledError() from None
        if isinstance(cause, ApplicationError):
            raise StepError(cause.type or "ApplicationError", cause.message) from None
        if isinstance(cause, TimeoutError):
            raise StepError("Timeout", f"'{inv.path}' did not finish within its timeout") from None
        error_type = type(cause).__name__ if cause else "ChildWorkflowError"
        raise StepError(error_type, str(cause or err)) from None


def _name_part(path: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", path).strip("-") or "inline"
