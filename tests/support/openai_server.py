"""A real OpenAI-compatible HTTP server on loopback, scripted per test, recording every request.

Tests queue the replies the server gives, in order, and read back exactly what was sent::

    async def test_x(openai_server):
        openai_server.reply(completion("hi"))
        ...  # something POSTs to f"{openai_server.url}/v1/chat/completions"
        assert openai_server.requests[0].body["model"] == "m"

With nothing queued the server asks the responder set with :meth:`OpenAIServer.respond_with`
(a function of the request body, for requests that arrive in no fixed order, as a fan-out's),
and without one answers 500 ``{"error": {"message": "no scripted reply"}}``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.support.loopback import LoopbackServer, send_body


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a JSON ``body``, or ``text`` sent as it is, after ``delay`` seconds."""

    status: int = 200
    body: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    """The body parsed as JSON (None when it is not JSON)."""
    at: float
    """``time.monotonic()`` when it arrived."""


class OpenAIServer(LoopbackServer):
    """The server, its reply queue and its record of requests; its ``url`` is
    ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._replies: deque[Reply] = deque()
        self._responder: Callable[[Any], Reply | dict[str, Any] | None] | None = None
        self._lock = threading.Lock()
        super().__init__(_handler(self))

    def reply(self, *replies: Reply | dict[str, Any]) -> None:
        """Queue replies; a dict is a 200 with that JSON body."""
        with self._lock:
            self._replies.extend(r if isinstance(r, Reply) else Reply(body=r) for r in replies)

    def respond_with(self, responder: Callable[[Any], Reply | dict[str, Any] | None]) -> None:
        """Answer requests the queue has no reply for with ``responder(body)``; a dict is a 200
        with that JSON body, None the 500 of an unscripted request."""
        self._responder = responder

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.popleft()
            responder = self._responder
        answer = responder(request.body) if responder is not None else None
        if answer is None:
            return Reply(500, error_body("no scripted reply"))
        return answer if isinstance(answer, Reply) else Reply(body=answer)


def _handler(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server._next(Request("POST", self.path, headers, body, time.monotonic()))
            text = reply.text if reply.text is not None else json.dumps(reply.body)
            data = text.encode()
            time.sleep(reply.delay)
            send_body(self, reply.status, data, "application/json", reply.headers)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet

    return Handler


# ------------------------------------------------------------------------------------- replies


def completion(
    text: str | None = "",
    *,
    model: str = "gpt-test-2024",
    finish_reason: str = "stop",
    usage: tuple[int, int] | None = (12, 5),
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A chat completion body with one choice."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }
    return body


def tool_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """One assistant tool call; ``arguments`` that are not a string are sent as JSON text."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def tool_call_reply(*calls: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """A completion whose message only calls tools (content null, finish_reason tool_calls)."""
    return completion(None, finish_reason="tool_calls", tool_calls=list(calls), **kw)


def error_body(message: str, type_: str = "invalid_request_error") -> dict[str, Any]:
    """An OpenAI error body."""
    return {"error": {"message": message, "type": type_, "param": None, "code": None}}


def rate_limited(retry_after: str = "1") -> Reply:
    """429 with ``Retry-After``."""
    return Reply(
        429, error_body("Rate limit reached", "rate_limit"), headers={"retry-after": retry_after}
    )


def server_error(message: str = "The server had an error") -> Reply:
    """500 with an OpenAI error body."""
    return Reply(500, error_body(message, "server_error"))


def unauthorized(message: str = "Incorrect API key provided") -> Reply:
    """401 with an OpenAI error body."""
    return Reply(401, error_body(message, "invalid_api_key"))


def malformed(text: str = '{"choices": [') -> Reply:
    """200 whose body is not JSON."""
    return Reply(200, text=text)


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A fresh scripted server on a free loopback port for one test."""
    server = OpenAIServer().start()
    yield server
    server.stop()
