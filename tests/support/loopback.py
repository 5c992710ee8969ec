"""The base of the real HTTP servers tests stand up on loopback (tools, model providers): a
threaded server on a free 127.0.0.1 port serving in the background, its answers, and a fixture
body that lets the egress policy reach it; :func:`free_port` for servers that want a port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self, TypeVar

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackServer:
    """Serves a handler class on ``http://127.0.0.1:<port>`` (:attr:`url`) between
    :meth:`start` and :meth:`stop`, each request in a thread of its own."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> Self:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._http.shutdown()
        self._http.server_close()


def send_body(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer the handler's request with ``body`` (none to a HEAD) and ``headers``; a client
    that already gave up (a timeout) is not an error of the server's."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass


ServerT = TypeVar("ServerT", bound=LoopbackServer)


def egress_allowed(server: ServerT, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerT]:
    """The body of a fixture: ``server`` running, which the egress policy lets tools reach
    (``KWORKFLOW_EGRESS_ALLOW=127.0.0.1:<its port>``, inherited by worker processes the test
    starts), stopped after the test."""
    server.start()
    monkeypatch.setenv("KWORKFLOW_EGRESS_ALLOW", server.url.removeprefix("http://"))
    yield server
    server.stop()
