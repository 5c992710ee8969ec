"""The ``llm`` step activity: one OpenAI-compatible chat completion per attempt.

Used by ``llm`` steps and by every model turn of an ``agent`` step. The provider is the step's
``provider`` (named in the worker configuration, :mod:`activities.config`) or the default one
(``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``); the call is ``POST {base_url}/chat/completions``
with ``Authorization: Bearer <key>`` when a key is set, plus the provider's ``headers``.

The output::

    {text, data, model, finish_reason, usage: {input_tokens, output_tokens}, cost_usd}

plus ``tool_calls: [{id, name, arguments}]`` on agent turns (when ``tools`` are offered; ``[]``
for a final answer). Plain llm steps have no ``tool_calls`` key. ``data`` is the answer parsed
as JSON and validated against ``output_schema``, or null without one (and on a turn that calls
tools). ``model`` is the model the server says answered; ``cost_usd`` is priced from the
provider's ``prices`` (0.0 for a model without a price).

Failures (Temporal owns retries; the client never retries): 408/409/425/429/5xx, connection
errors and timeouts are retried, honouring ``Retry-After``; other 4xx are not, and carry the
provider's own message. A reply that is not a chat completion is a retryable
``LLMBadResponse``; an answer that breaks ``output_schema`` a retryable ``LLMOutputInvalid``;
wrong step fields (no model, bad ``messages``) a non-retryable ``InvalidInput``; an unknown
provider or a broken worker configuration a non-retryable ``ConfigError``. The API key is never
part of an output or an error message.

``output_schema`` is asked for as ``response_format: {type: json_schema, json_schema: {name:
output, schema, strict: false}}``. A provider whose server only knows JSON mode is configured
with ``response_format: json_object`` (or ``none``: validate only).
"""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from activities._openai import (
    bad_response,
    cost_usd,
    error_message,
    excerpt,
    invalid_input,
    parse_output,
    parse_reply,
    request_body,
)
from activities.base import (
    connection_failure,
    heartbeating,
    http_client,
    http_failure,
    step_activity,
)
from activities.config import Provider, current_config
from activities.contract import StepCall
from activities.errors import ConfigError

REDACTED = "***"
"""What an API key is replaced with in error messages."""


@step_activity("llm")
async def llm(call: StepCall) -> dict[str, Any]:
    """Ask the step's model for one chat completion; the output is described in the module.

    Args:
        call: ``params`` holds ``model``, ``provider``, ``system``, ``prompt`` or ``messages``,
            ``temperature``, ``max_tokens``, ``output_schema`` and, on agent turns, ``tools``.

    Raises:
        ApplicationError: Typed as described in the module docstring.
    """
    params = call.params
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_input("no model: set the step's `model` or the definition's `defaults.model`")
    wanted = params.get("provider")
    if wanted is not None and not isinstance(wanted, str):
        raise invalid_input(f"`provider` must be a provider's name, not {excerpt(wanted)}")
    try:
        name, provider = current_config().provider(wanted)
    except ConfigError as exc:
        raise ApplicationError(str(exc), type="ConfigError", non_retryable=True) from None
    key = provider.api_key()
    try:
        return await _complete(params, model, name, provider, key)
    except ApplicationError as exc:
        raise _scrubbed(exc, key) from None
    except Exception as exc:  # a surprise must not carry the key either (header errors do)
        raise ApplicationError(
            _scrub(f"{type(exc).__name__}: {exc}", key), type=type(exc).__name__
        ) from None


async def _complete(
    params: dict[str, Any], model: str, name: str, provider: Provider, key: str | None
) -> dict[str, Any]:
    """One request to the provider and the step output made of its reply."""
    offers_tools = params.get("tools") is not None
    body = request_body(
        model,
        params,
        lookup=registered_tool if offers_tools else None,
        response_format=provider.response_format,
    )
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    headers.update(provider.headers)
    what = f"provider '{name}'"
    try:
        async with heartbeating():
            response = await http_client().post(
                provider.base_url.rstrip("/") + "/chat/completions",
                json=body,
                headers=headers,
                timeout=provider.timeout_seconds,
            )
    except httpx.HTTPError as exc:
        raise connection_failure(exc, what) from None
    payload = _json(response)
    if response.status_code >= 400:
        raise http_failure(response, what, error_message(payload))
    if payload is None:
        raise bad_response(
            f"{what} answered HTTP {response.status_code} with a body that is not JSON: "
            f"{excerpt(response.text)}"
        )
    reply = parse_reply(payload)
    schema = params.get("output_schema")
    output: dict[str, Any] = {
        "text": reply.text,
        "data": parse_output(reply, schema)
        if schema is not None and not reply.tool_calls
        else None,
        "model": reply.model or model,
        "finish_reason": reply.finish_reason,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        "cost_usd": cost_usd(provider.prices, [reply.model, model], reply),
    }
    if offers_tools:
        output["tool_calls"] = reply.tool_calls
    return output


def registered_tool(name: str) -> tuple[str | None, dict[str, Any] | None]:
    """``(description, input_schema)`` of a tool registered in this worker, else ``(None, None)``.

    Fills in agent tools the definition's ``tools:`` section does not describe.
    """
    from activities.registry import registered_tool as lookup

    tool = lookup(name)
    if tool is None:
        return None, None
    return tool.description, tool.input_schema


def _json(response: httpx.Response) -> Any:
    """The response body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _scrub(text: str, key: str | None) -> str:
    return text.replace(key, REDACTED) if key else text


def _scrubbed(error: ApplicationError, key: str | None) -> ApplicationError:
    """``error`` without the API key in its message."""
    if not key or key not in error.message:
        return error
    return ApplicationError(
        _scrub(error.message, key),
        *error.details,
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
    )
