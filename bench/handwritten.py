"""Hand-written Temporal workflows calling the step activity directly: the benchmark baseline."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contract import RunRef, StepCall, StepResult

_OPTS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=5),
    "retry_policy": RetryPolicy(maximum_attempts=3),
}


def _call(i: int) -> StepCall:
    info = workflow.info()
    ref = RunRef(run_id=info.workflow_id, workflow="hand", step=f"s{i}")
    return StepCall(ref=ref, kind="tool", params={"tool": "noop", "args": {"i": i}})


@workflow.defn(name="bench.chain")
class HandChain:
    """N activities one after the other."""

    @workflow.run
    async def run(self, n: int) -> list[Any]:
        """Run the chain."""
        out = []
        for i in range(n):
            r = await workflow.execute_activity(
                "tool", _call(i), result_type=StepResult, activity_id=f"s{i}", **_OPTS
            )
            out.append(r.output)
        return out


@workflow.defn(name="bench.fanout")
class HandFanout:
    """N activities at once."""

    @workflow.run
    async def run(self, n: int) -> list[Any]:
        """Run the fan-out."""
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    "tool", _call(i), result_type=StepResult, activity_id=f"s{i}", **_OPTS
                )
                for i in range(n)
            )
        )
        return [r.output for r in results]


@workflow.defn(name="bench.nothing")
class HandNothing:
    """No activity at all: the baseline of activity-free runs (aggregate and branch only)."""

    @workflow.run
    async def run(self, n: int) -> int:
        """Return at once."""
        return n
