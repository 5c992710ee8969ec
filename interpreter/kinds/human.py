"""human steps: wait, holding nothing, until a person answers or the step times out."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from interpreter.kinds.base import Invocation, Runtime

with workflow.unsafe.imports_passed_through():
    from interpreter.durations import parse_duration
    from interpreter.spec import HumanStep
    from interpreter.state import StepError


async def run_human(runtime: Runtime, inv: Invocation, fields: dict[str, Any]) -> Any:
    """Output ``{data, actor, responded_at, timed_out}`` once answered (see ``respond``).

    Only the step's own ``timeout`` bounds the wait (``defaults.timeout`` is for activities):
    without it a human step waits as long as the run may.
    """
    spec = inv.spec
    assert isinstance(spec, HumanStep)
    pending = runtime.open_human(inv, fields)
    timeout = parse_duration(spec.timeout) if spec.timeout else None
    try:
        await workflow.wait_condition(lambda: pending.answer is not None, timeout=timeout)
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
