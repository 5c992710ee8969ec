"""human steps: wait, holding nothing, until a person answers or the step times out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from interpreter import patches
from interpreter.kinds.base import Invocation, Runtime

FORM_CHECK_PATCH = "human-form-check"
"""Runs recorded before forms were checked when a human step opens keep waiting on a bad form."""

with workflow.unsafe.imports_passed_through():
    from interpreter.carry import Resume, Suspended
    from interpreter.errors import SchemaInvalid
    from interpreter.schemas import compile_schema
    from interpreter.spec import HumanStep
    from interpreter.state import StepError


async def run_human(runtime: Runtime, inv: Invocation, fields: dict[str, Any]) -> Any:
    """Output ``{data, actor, responded_at, timed_out}`` once answered (see ``respond``).

    Only the step's own ``timeout`` bounds the wait (``defaults.timeout`` is for activities):
    without it a human step waits as long as the run may. A top-level wait suspends when the run
    continues as new, and the next run waits on until the same ``timeout_at``. A ``form``
    that is not a valid JSON Schema once rendered (a templated ``pattern`` RE2 cannot
    compile...) fails the step with ``InvalidForm`` instead of waiting for answers it could never
    take.
    """
    spec = inv.spec
    assert isinstance(spec, HumanStep)
    form = fields.get("form")
    if form is not None:
        try:
            compile_schema(form)
        except SchemaInvalid as exc:
            if patches.patched(FORM_CHECK_PATCH):
                raise StepError(
                    "InvalidForm", f"the form is not a valid JSON Schema: {exc}"
                ) from None
    pending = runtime.open_human(inv, fields)
    if inv.resume is None:
        runtime.tell_assignees(pending)
    timeout = None
    if pending.timeout_at is not None:
        timeout = max(pending.timeout_at - workflow.now(), timedelta(milliseconds=1))

    def answered_or_suspended() -> bool:
        return pending.answer is not None or (inv.suspendable and runtime.may_suspend_waits())

    try:
        await workflow.wait_condition(answered_or_suspended, timeout=timeout)
        if pending.answer is None:
            raise Suspended(Resume(since=pending.since, timeout_at=pending.timeout_at))
    except TimeoutError:
        if spec.on_timeout == "continue":
            return {
                "data": fields.get("default"),
                "actor": None,
                "responded_at": None,
                "timed_out": True,
            }
        raise StepError("HumanTimeout", f"no answer within {spec.timeout}") from None
    finally:
        runtime.close_human(inv)
    return pending.answer
