"""agent steps: a child workflow (interpreter.agent) runs the model/tool loop turn by turn.

Under a tenant's step quota an agent step holds one slot while its child runs (its turns are
the tenant's executing work, like an llm or tool step's activity); behind :data:`AGENT_QUOTA_PATCH`.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from interpreter.kinds.activity import options_for, tools_for
from interpreter.kinds.base import Invocation, Runtime
from interpreter.kinds.subflow import run_child

with workflow.unsafe.imports_passed_through():
    from interpreter import patches
    from interpreter.agent import AgentRequest
    from interpreter.limits import flow_limits
    from interpreter.options import merge_retry
    from interpreter.quota import slot
    from interpreter.request import AGENT_WORKFLOW_NAME
    from interpreter.spec import AgentStep

AGENT_QUOTA_PATCH = "agent-step-quota"
"""Agent steps hold a step-quota slot; asked only of a run whose tenant has a quota."""


async def run_agent(runtime: Runtime, inv: Invocation, fields: dict[str, Any]) -> Any:
    """Output ``{text, data, turns, usage, cost_usd}`` from the agent's child workflow."""
    spec = inv.spec
    assert isinstance(spec, AgentStep)
    tool_names = list(fields.get("tools") or [])
    tool_defs = tools_for(runtime, tool_names)
    timeout = options_for(runtime, inv).start_to_close
    request = AgentRequest(
        ref=runtime.run_ref(inv.path),
        model=fields.get("model"),
        provider=fields.get("provider"),
        instructions=fields.get("instructions"),
        prompt=fields.get("prompt"),
        tools=[
            {
                "name": name,
                "description": tool_defs.get(name, {}).get("description"),
                "input_schema": tool_defs.get(name, {}).get("input_schema"),
            }
            for name in tool_names
        ],
        tool_defs=tool_defs,
        max_turns=fields.get("max_turns") or spec.max_turns,
        on_max_turns=spec.on_max_turns,
        output_schema=fields.get("output_schema"),
        turn_timeout_seconds=timeout.total_seconds(),
        retry=merge_retry(
            [runtime.definition.defaults.retry, *(layer.retry for layer in inv.layers)]
        ),
    )
    quota = flow_limits(runtime.request).step_quota
    limited = quota is not None and quota.of(runtime.request.tenant) is not None
    if limited and patches.patched(AGENT_QUOTA_PATCH):
        async with slot(runtime, inv):
            return await run_child(runtime, inv, AGENT_WORKFLOW_NAME, request)
    return await run_child(runtime, inv, AGENT_WORKFLOW_NAME, request)
