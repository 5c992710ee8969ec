"""A real HTTP tool server on 127.0.0.1 that records how many calls of each tenant run at once.

``POST /t/<tenant>`` sleeps :attr:`ConcurrencyServer.delay` seconds and answers
``{"tenant": ...}``; while it sleeps the call counts as in flight for its tenant. The server
keeps the most calls ever in flight per tenant and each call's start and end.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.support.loopback import LoopbackServer, egress_allowed, send_body


@dataclass(frozen=True)
class Call:
    """One call: its tenant and when it started and ended (``time.monotonic``)."""

    tenant: str
    start: float
    end: float


class ConcurrencyServer(LoopbackServer):
    """The server; its ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, delay: float = 0.3) -> None:
        self.delay = delay
        self.calls: list[Call] = []
        self.peak: dict[str, int] = defaultdict(int)
        self._inflight: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        super().__init__(_handler(self))

    def of(self, tenant: str) -> list[Call]:
        """The calls of ``tenant`` that ended, in the order they ended."""
        with self._lock:
            return [c for c in self.calls if c.tenant == tenant]

    def serve(self, tenant: str) -> None:
        """One call of ``tenant``: counted in flight while it sleeps."""
        with self._lock:
            self._inflight[tenant] += 1
            self.peak[tenant] = max(self.peak[tenant], self._inflight[tenant])
        start = time.monotonic()
        time.sleep(self.delay)
        with self._lock:
            self._inflight[tenant] -= 1
            self.calls.append(Call(tenant, start, time.monotonic()))


def _handler(server: ConcurrencyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            tenant = self.path.rsplit("/", 1)[-1]
            server.serve(tenant)
            body = json.dumps({"tenant": tenant}).encode()
            send_body(self, 200, body, "application/json")

    return Handler


@pytest.fixture
def concurrency_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConcurrencyServer]:
    """A running :class:`ConcurrencyServer` the egress policy lets tools reach (inherited by
    worker processes the test starts)."""
    yield from egress_allowed(ConcurrencyServer(), monkeypatch)
