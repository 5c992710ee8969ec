"""The OpenAI chat-completions wire format: request bodies, replies, JSON output, prices.

Pure functions, no I/O: :mod:`activities.llm` does the HTTP call. Every problem leaves as a
``temporalio.exceptions.ApplicationError`` typed for Temporal's retries:

- ``InvalidInput`` (non-retryable): the step's own fields are wrong (messages, tools, schema).
- ``LLMOutputInvalid`` (retryable): the model answered, but not with what was asked for (not
  JSON, breaks ``output_schema``, tool arguments that are not a JSON object). Another attempt
  usually gets a better answer.
- ``LLMBadResponse`` (retryable): the server's reply is not a chat completion at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from temporalio.exceptions import ApplicationError

from interpreter import schemas
from interpreter.errors import SchemaInvalid

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
"""Message roles the chat-completions API knows."""

DEFAULT_PARAMETERS: dict[str, Any] = {"type": "object"}
"""The ``parameters`` of a tool that has no ``input_schema``."""

EXCERPT = 200
"""How much of a bad model answer an error message quotes."""

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)

ToolLookup = Callable[[str], tuple[str | None, dict[str, Any] | None]]
"""``name -> (description, input_schema)`` of a tool the worker knows, ``(None, None)`` else."""


@dataclass(frozen=True)
class Reply:
    """The parts of a chat completion a step's output is made of.

    Attributes:
        text: The assistant message's text (``""`` when it only called tools).
        model: The model the server says answered.
        finish_reason: Why generation stopped (``stop``, ``length``, ``tool_calls``...).
        input_tokens: Prompt tokens (0 when the server does not say).
        output_tokens: Completion tokens (0 when the server does not say).
        tool_calls: ``[{id, name, arguments}]`` with the arguments parsed to an object.
        refusal: The model's refusal, when it declined to answer.
    """

    text: str
    model: str | None
    finish_reason: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    refusal: str | None = None


# ------------------------------------------------------------------------------------ requests


def request_body(
    model: str,
    params: Mapping[str, Any],
    lookup: ToolLookup | None = None,
    response_format: str = "json_schema",
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for an llm step or an agent turn.

    Args:
        model: The model to ask.
        params: The step's resolved fields (``system``, ``prompt`` or ``messages``,
            ``temperature``, ``max_tokens``, ``tools``, ``output_schema``).
        lookup: Describes tools the definition did not describe (the worker's registry).
        response_format: How ``output_schema`` is asked for: ``json_schema`` (the schema is
            sent), ``json_object`` (JSON mode only; the answer is still validated here) or
            ``none`` (only validated here).

    Raises:
        ApplicationError: ``InvalidInput`` when a field has the wrong shape.
    """
    body: dict[str, Any] = {"model": model, "messages": chat_messages(params)}
    for name in ("temperature", "max_tokens"):
        if params.get(name) is not None:
            body[name] = _number(name, params[name])
    tools = params.get("tools")
    if tools:
        body["tools"] = wire_tools(tools, lookup)
    schema = params.get("output_schema")
    if schema is not None:
        check_schema(schema)
        if response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": False},
            }
        elif response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
    return body


def chat_messages(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``system`` + ``prompt`` as two messages, or ``messages`` (after ``system``, if set).

    Messages in the interpreter's shape (assistant ``tool_calls`` as ``{id, name, arguments}``
    with an object as arguments) are written in the wire shape; others are passed as given.
    """
    system = params.get("system")
    head = [{"role": "system", "content": as_text(system)}] if system is not None else []
    if params.get("messages") is None:
        if params.get("prompt") is None:
            raise invalid_input("an llm step needs `prompt` or `messages`")
        return [*head, {"role": "user", "content": as_text(params["prompt"])}]
    messages = params["messages"]
    if not isinstance(messages, list) or not messages:
        raise invalid_input(f"`messages` must be a non-empty list, not {_shape(messages)}")
    return [*head, *(_wire_message(i, m) for i, m in enumerate(messages))]


def _wire_message(index: int, message: Any) -> dict[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise invalid_input(
            f"{where} must be a map with `role` and `content`, not {_shape(message)}"
        )
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise invalid_input(f"{where}.role must be one of {', '.join(sorted(ROLES))}, not {role!r}")
    content = message.get("content")
    calls = message.get("tool_calls")
    if not (isinstance(content, str | list) or (content is None and calls)):
        raise invalid_input(f"{where}.content must be text, not {_shape(content)}")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise invalid_input(f"{where} has role `tool` but no `tool_call_id`")
    if not calls:
        return dict(message)
    if role != "assistant" or not isinstance(calls, list):
        raise invalid_input(f"{where}.tool_calls must be a list on an assistant message")
    return {
        **message,
        "tool_calls": [_wire_call(f"{where}.tool_calls[{i}]", c) for i, c in enumerate(calls)],
    }


def _wire_call(where: str, call: Any) -> dict[str, Any]:
    if isinstance(call, dict) and "function" in call:  # already in the wire shape
        return call
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise invalid_input(f"{where} must be {{id, name, arguments}}, not {_shape(call)}")
    arguments = call.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments or {}, separators=(",", ":"), ensure_ascii=False)
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": call["name"], "arguments": arguments},
    }


def wire_tools(tools: Any, lookup: ToolLookup | None = None) -> list[dict[str, Any]]:
    """``[{name, description, input_schema}]`` as OpenAI ``tools``.

    A tool without a description or schema gets the worker's (``lookup``); a schema still
    missing becomes ``{"type": "object"}`` (any arguments).
    """
    if not isinstance(tools, list):
        raise invalid_input(f"`tools` must be a list, not {_shape(tools)}")
    wire = []
    for i, tool in enumerate(tools):
        spec = {"name": tool} if isinstance(tool, str) else tool
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise invalid_input(f"tools[{i}] must be {{name, description, input_schema}}")
        description, schema = spec.get("description"), spec.get("input_schema")
        if (description is None or schema is None) and lookup is not None:
            known_description, known_schema = lookup(spec["name"])
            description = description if description is not None else known_description
            schema = schema if schema is not None else known_schema
        function: dict[str, Any] = {"name": spec["name"]}
        if description is not None:
            function["description"] = description
        function["parameters"] = schema if schema is not None else dict(DEFAULT_PARAMETERS)
        wire.append({"type": "function", "function": function})
    return wire


def check_schema(schema: Any) -> None:
    """Refuse an ``output_schema`` that is not a valid JSON Schema (``InvalidInput``)."""
    if not isinstance(schema, dict):
        raise invalid_input(f"`output_schema` must be a JSON Schema object, not {_shape(schema)}")
    try:
        schemas.check_schema(schema)  # Draft 2020-12, RE2 regexes (interpreter.schemas)
    except SchemaInvalid as exc:
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
        raise invalid_input(
            f"`output_schema` is not a valid JSON Schema at {path}: {exc.reason}"
        ) from None


# ------------------------------------------------------------------------------------- replies


def parse_reply(body: Any) -> Reply:
    """The first choice of a chat completion.

    Raises:
        ApplicationError: ``LLMBadResponse`` when ``body`` is not a chat completion;
            ``LLMOutputInvalid`` when a tool call's arguments are not a JSON object.
    """
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise bad_response("the reply has no `choices`")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise bad_response("the reply's first choice has no `message`")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    refusal = message.get("refusal")
    return Reply(
        text=_content_text(message.get("content")),
        model=body.get("model") if isinstance(body.get("model"), str) else None,
        finish_reason=choices[0].get("finish_reason"),
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
        tool_calls=[_parse_call(i, c) for i, c in enumerate(message.get("tool_calls") or [])],
        refusal=refusal if isinstance(refusal, str) else None,
    )


def _parse_call(index: int, call: Any) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise bad_response(f"tool_calls[{index}] has no function name")
    raw = function.get("arguments") or "{}"
    try:
        arguments = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise output_invalid(
            f"the arguments of tool call {function['name']!r} are not JSON: {exc}; "
            f"got {excerpt(raw)}"
        ) from None
    if not isinstance(arguments, dict):
        raise output_invalid(
            f"the arguments of tool call {function['name']!r} are not a JSON object: {excerpt(raw)}"
        )
    return {"id": call.get("id"), "name": function["name"], "arguments": arguments}


def parse_output(reply: Reply, schema: dict[str, Any]) -> Any:
    """The model's answer as JSON, checked against ``schema`` (```` ``` ```` fences allowed).

    Raises:
        ApplicationError: ``LLMOutputInvalid`` saying where the JSON breaks or which part of
            it breaks the schema.
    """
    if reply.refusal and not reply.text:
        raise output_invalid(f"the model refused to answer: {excerpt(reply.refusal)}")
    text = reply.text
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = " (cut off: finish_reason length)" if reply.finish_reason == "length" else ""
        raise output_invalid(
            f"the model's answer is not JSON: {exc}; got {excerpt(reply.text)}{cut}"
        ) from None
    try:
        error = schemas.compile_schema(schema).best_error(data)
    except SchemaInvalid as exc:
        raise invalid_input(f"`output_schema` cannot be applied: {exc}") from None
    if error is not None:
        raise output_invalid(
            f"the model's answer does not match output_schema at {error.json_path}: {error.message}"
        )
    return data


def cost_usd(prices: Mapping[str, Any], models: list[str | None], reply: Reply) -> float:
    """What a reply cost: USD per million tokens from ``prices`` of the first known model.

    Args:
        prices: ``{model: Price}`` (objects with ``input`` and ``output``).
        models: Names to look up in order (the model that answered, then the one asked for).
        reply: The reply whose token counts are priced.
    """
    price = next((prices[m] for m in models if m is not None and m in prices), None)
    if price is None:
        return 0.0
    total = reply.input_tokens * price.input + reply.output_tokens * price.output
    return round(total / 1_000_000, 12)


def error_message(body: Any) -> str | None:
    """The provider's own explanation in an error body (``{"error": {"message": ...}}``)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(error, str):
        return error
    message = body.get("message") or body.get("detail")
    return message if isinstance(message, str) else None


# ------------------------------------------------------------------------------------- helpers


def as_text(value: Any) -> str:
    """A prompt as text: a string as itself, any other value as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def excerpt(text: Any, limit: int = EXCERPT) -> str:
    """``text`` quoted for an error message, cut at ``limit`` characters."""
    text = text if isinstance(text, str) else as_text(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def invalid_input(message: str) -> ApplicationError:
    """The step's fields are wrong: never retried."""
    return ApplicationError(message, type="InvalidInput", non_retryable=True)


def output_invalid(message: str) -> ApplicationError:
    """The model's answer is not what was asked for: worth another attempt."""
    return ApplicationError(message, type="LLMOutputInvalid")


def bad_response(message: str) -> ApplicationError:
    """The server's reply is not a chat completion: worth another attempt."""
    return ApplicationError(message, type="LLMBadResponse")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _number(name: str, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_input(f"`{name}` must be a number, not {_shape(value)}")
    return value


def _shape(value: Any) -> str:
    if value is None:
        return "null"
    kind = {dict: "a map", list: "a list", str: "text", bool: "a boolean"}.get(type(value))
    return kind or f"a {type(value).__name__}"
