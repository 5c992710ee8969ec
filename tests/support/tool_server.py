"""A real HTTP server on 127.0.0.1 that plays tools in tests: scripted replies, recorded requests.

Every request is recorded (method, path, query, headers, body). Replies are scripted per path
with :meth:`ToolServer.route`: the replies are used in order and the last one repeats, so
``route("/flaky", Reply(503), Reply(503), Reply(json={"ok": True}))`` fails twice, then
succeeds. A path without a script echoes the request as JSON::

    {"method": "POST", "path": "/x", "query": {"a": ["1"]}, "headers": {...}, "json": {...}}

The pytest fixture :func:`tool_server` starts one server per test on a free port.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.loopback import LoopbackServer, egress_allowed, send_body


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        status: The HTTP status.
        json: A JSON body (sent as ``application/json``).
        text: A plain-text body (when ``json`` is None).
        headers: Extra response headers (``Retry-After``...).
        delay: Seconds to wait before answering.
        echo: Answer with the echo of the request (as for an unscripted path).
        hold: Wait until this event is set before answering (a call the test keeps open).
    """

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    echo: bool = False
    hold: threading.Event | None = None


@dataclass(frozen=True)
class Request:
    """One request as the server received it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None

    def echo(self) -> dict[str, Any]:
        """What an echo reply answers."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json if self.headers.get("content-type") == "application/json" else None,
        }


def failing(times: int, reply: Reply, then: Reply | None = None) -> list[Reply]:
    """``reply`` ``times`` times, then ``then`` (default: an echo)."""
    return [*([reply] * times), then or Reply(echo=True)]


class ToolServer(LoopbackServer):
    """The server; its ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        super().__init__(_handler(self))

    def route(self, path: str, *replies: Reply) -> str:
        """Script the replies for ``path`` (used in order, the last repeats); return its URL."""
        with self._lock:
            self._scripts[path] = list(replies)
        return self.url + path

    def calls(self, path: str | None = None) -> list[Request]:
        """The requests received (for ``path`` only, when given), in order."""
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def keys(self, path: str | None = None) -> Counter[str]:
        """How many requests carried each ``Idempotency-Key``."""
        return Counter(r.headers.get("idempotency-key", "") for r in self.calls(path))

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            script = self._scripts.get(request.path)
            if not script:
                return Reply(echo=True)
            return script.pop(0) if len(script) > 1 else script[0]


def _handler(server: ToolServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            parts = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
                at=time.monotonic(),
            )
            reply = server._next(request)
            if reply.hold is not None:
                reply.hold.wait(60.0)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.echo or (reply.json is None and reply.text is None and reply.status < 300):
                body, kind = json.dumps(request.echo()).encode(), "application/json"
            elif reply.json is not None:
                body, kind = json.dumps(reply.json).encode(), "application/json"
            else:
                body, kind = (reply.text or "").encode(), "text/plain; charset=utf-8"
            send_body(self, reply.status, body, kind, reply.headers)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    return Handler


@pytest.fixture
def tool_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ToolServer]:
    """A running :class:`ToolServer` for this test, which the egress policy lets tools reach
    (``KWORKFLOW_EGRESS_ALLOW=127.0.0.1:<its port>``, inherited by worker processes the test
    starts)."""
    yield from egress_allowed(ToolServer(), monkeypatch)
