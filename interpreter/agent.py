"""The agent child workflow: model turn, tool calls in parallel, repeat until a final answer.

The transcript lives in workflow state, so a worker that crashes mid-agent resumes at the next
turn from history without repeating finished model or tool calls.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.contract import RunRef, StepCall
    from interpreter.options import activity_options
    from interpreter.request import (
        AGENT_WORKFLOW_NAME,
        ATTEMPT_SIGNAL,
        STATUS_QUERY,
        AttemptReport,
    )
    from interpreter.spec import Defaults, RetrySpec
    from interpreter.state import StepError


class AgentRequest(BaseModel):
    """The agent workflow's argument: the agent step's resolved fields and options."""

    model_config = ConfigDict(frozen=True)

    ref: RunRef
    model: Any = None
    provider: Any = None
    instructions: Any = None
    prompt: Any = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    """Tool specs offered to the model: ``{name, description, input_schema}``."""
    tool_defs: dict[str, Any] = Field(default_factory=dict)
    """The definition's HTTP tools among them, for the ``tool`` activity."""
    max_turns: int = 10
    on_max_turns: str = "fail"
    output_schema: dict[str, Any] | None = None
    turn_timeout_seconds: float = 300.0
    retry: RetrySpec | None = None


@workflow.defn(name=AGENT_WORKFLOW_NAME)
class AgentWorkflow:
    """Runs one agent step: every model turn and every tool call is its own activity."""

    def __init__(self) -> None:
        self._messages: list[dict[str, Any]] = []
        self._turns = 0
        self._retries: list[dict[str, Any]] = []

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> dict[str, Any]:
        """The transcript so far, the number of model turns taken and the retried calls."""
        return {"turns": self._turns, "messages": self._messages, "retries": self._retries}

    @workflow.signal(name=ATTEMPT_SIGNAL)
    def attempt_started(self, report: AttemptReport) -> None:
        """A model turn or tool call began a retry attempt."""
        self._retries.append({"path": report.path, "attempt": report.attempt})

    @workflow.run
    async def run(self, request: AgentRequest) -> dict[str, Any]:
        """Loop until the model answers without tool calls or ``max_turns`` is reached."""
        opts = activity_options(
            Defaults(timeout=f"{request.turn_timeout_seconds}s", retry=request.retry), [], []
        )
        if request.instructions:
            self._messages.append({"role": "system", "content": _text(request.instructions)})
        self._messages.append({"role": "user", "content": _text(request.prompt)})
        usage = {"input_tokens": 0, "output_tokens": 0}
        cost = 0.0
        reply: dict[str, Any] = {}
        for turn in range(1, request.max_turns + 1):
            self._turns = turn
            reply = await self._call(
                request,
                "llm",
                f"{request.ref.step}.turn{turn}",
                {
                    "model": request.model,
                    "provider": request.provider,
                    "messages": list(self._messages),
                    "tools": request.tools,
                    "output_schema": request.output_schema,
                },
                opts,
            )
            for key in usage:
                usage[key] += int((reply.get("usage") or {}).get(key) or 0)
            cost += float(reply.get("cost_usd") or 0.0)
            calls = reply.get("tool_calls") or []
            if not calls:
                return _answer(reply, turn, usage, cost)
            self._messages.append(
                {"role": "assistant", "content": reply.get("text"), "tool_calls": calls}
            )
            results = await asyncio.gather(
                *(self._tool(request, turn, call, opts) for call in calls)
            )
            for call, result in zip(calls, results, strict=True):
                self._messages.append(
                    {"role": "tool", "tool_call_id": call.get("id"), "content": result}
                )
        if request.on_max_turns == "continue":
            return _answer(reply, request.max_turns, usage, cost)
        raise ApplicationError(
            f"no final answer after max_turns={request.max_turns} turns",
            {"turns": request.max_turns, "usage": usage, "cost_usd": cost},
            type="AgentMaxTurns",
            non_retryable=True,
        )

    async def _tool(self, request: AgentRequest, turn: int, call: dict[str, Any], opts: Any) -> str:
        """One tool call; a failure goes back to the model as the tool's answer."""
        name = call.get("name")
        try:
            output = await self._call(
                request,
                "tool",
                f"{request.ref.step}.turn{turn}.{call.get('id') or name}",
                {"tool": name, "args": call.get("arguments") or {}},
                opts,
                tools={name: request.tool_defs[name]} if name in request.tool_defs else {},
            )
        except StepError as exc:
            output = {"error": exc.as_json()}
        return json.dumps(output, separators=(",", ":"), ensure_ascii=False)

    async def _call(
        self,
        request: AgentRequest,
        kind: str,
        path: str,
        params: dict[str, Any],
        opts: Any,
        tools: dict[str, Any] | None = None,
    ) -> Any:
        from interpreter.kinds.activity import activity_failure, execute

        ref = request.ref.model_copy(update={"step": path})
        call = StepCall(ref=ref, kind=kind, params=params, tools=tools or {})
        try:
            result = await execute(call, path, opts)
        except ActivityError as err:
            failure = activity_failure(err, opts.max_attempts)
            if kind == "tool":
                raise failure from None
            raise ApplicationError(failure.message, type=failure.type, non_retryable=True) from None
        return result.output


def _answer(
    reply: dict[str, Any], turns: int, usage: dict[str, int], cost: float
) -> dict[str, Any]:
    """The agent step's output from the model's last reply."""
    return {
        "text": reply.get("text"),
        "data": reply.get("data"),
        "turns": turns,
        "usage": usage,
        "cost_usd": cost,
    }


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
