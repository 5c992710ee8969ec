"""Bounds on what a request may carry: the body size (413 before it is all read).

:class:`BodyLimit` answers 413 at once when ``Content-Length`` is over the bound, and counts the
bytes of a body sent without one (chunked), stopping the read with 413 when the count passes the
bound. The run input's own bound (and an edit's, which a run carries too) is checked where it is
parsed, with :func:`check_carried`.

Most HTTP clients read the response only after sending the whole body, and a server that closes
a connection with unread bytes makes the kernel reset it, losing the 413. So the rest of an
oversized body is read and thrown away (never kept), up to :data:`DRAIN_BYTES`; past that, or
when the client asked ``Expect: 100-continue`` (and so has sent nothing yet), the connection is
just closed after the 413.
"""

from __future__ import annotations

import json
from typing import Any

import fastapi
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.schemas_runs import encoded_json

DRAIN_BYTES = 16 * 1024 * 1024
"""The most of an oversized body read (and discarded) so that the client sees the 413."""


class BodyTooLarge(HTTPException):
    """A request body over the bound; rendered as 413 ``{"detail": ...}``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {describe_size(limit)}")


def describe_size(size: int) -> str:
    """``1 MiB``, ``256 KiB`` or ``300 bytes``."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"


def check_carried(value: Any, max_bytes: int, invalid: str, subject: str) -> None:
    """Check that a run can carry ``value`` (:func:`~api.schemas_runs.encoded_json`) and that
    it is at most ``max_bytes`` as JSON.

    Args:
        value: A run input, or an edit of a step's input or output.
        max_bytes: The bound (``KWORKFLOW_MAX_INPUT_BYTES``).
        invalid: What starts the 422 message, before why (``"input: the run input "``).
        subject: What the 413 message says is too large, with its verb (``"the run input is"``).

    Raises:
        HTTPException: 422 it cannot be carried; 413 it is too large.
    """
    try:
        size = len(encoded_json(value))
    except ValueError as exc:
        raise fastapi.HTTPException(422, f"{invalid}{exc}") from None
    if size > max_bytes:
        limit = describe_size(max_bytes)
        raise fastapi.HTTPException(413, f"{subject} larger than {limit} ({size} bytes)")


class BodyLimit:
    """ASGI middleware: request bodies of at most ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            expects = (_header(scope, b"expect") or "").lower() == "100-continue"
            drain = not expects and int(declared) <= DRAIN_BYTES
            await _too_large(send, BodyTooLarge(self.max_bytes), receive if drain else None)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    if message.get("more_body", False):
                        await _drain(receive, DRAIN_BYTES)
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:  # read outside a route (routes turn it into a response)
            if started:
                raise
            await _too_large(send, exc)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1").strip())
    return None


async def _drain(receive: Receive, limit: int) -> None:
    """Read and discard the rest of the request body, at most ``limit`` bytes."""
    drained = 0
    while drained <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _too_large(send: Send, exc: BodyTooLarge, drain_from: Receive | None = None) -> None:
    """Answer 413; with ``drain_from``, read the unread body between the headers and the body."""
    body = json.dumps({"detail": exc.detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    if drain_from is not None:
        await _drain(drain_from, DRAIN_BYTES)
    await send({"type": "http.response.body", "body": body})
