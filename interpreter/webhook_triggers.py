"""Webhook triggers: a request's signature, and whether it starts a run with which input.

A ``triggers:`` entry ``{webhook, secret, filter?, input?}``
(:class:`interpreter.spec.WebhookTrigger`) is reached at ``POST /v1/hooks/{tenant}/{webhook}``
(:mod:`api.webhooks`). The sender signs each request Stripe-style:
``X-Kworkflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``
(several ``v1=`` are allowed, so a sender can roll its secret); :func:`verify` checks it in
constant time and refuses a ``t`` more than :data:`TOLERANCE` seconds from now. ``filter``
(CEL over ``body`` and ``headers``) rules a request out; ``input`` with its ``${}`` resolved
over the same is the run's input, ``body`` itself when the trigger has none. Pure: the caller
passes the clock. Evaluated by the API, outside workflows.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from interpreter.celcost import Meter
from interpreter.errors import ExpressionError
from interpreter.expr import Scope, compile_cel, resolve

SIGNATURE_HEADER = "X-Kworkflow-Signature"
TOLERANCE = 300
"""Seconds a signature's timestamp may be away from the server's clock (replays are older)."""


class SignatureRejected(Exception):
    """A request whose signature is missing, malformed, wrong or too old; the message says which."""


class HookError(Exception):
    """A webhook trigger's ``filter`` or ``input`` failed on a request; the message says which."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Kworkflow-Signature`` value a sender gives ``body`` at ``timestamp``."""
    return f"t={timestamp},v1={_digest(secret, body, str(timestamp))}"


def _digest(secret: str, body: bytes, timestamp: str) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(header: str | None, secret: str, body: bytes, now: float) -> None:
    """Check a request's signature header against ``secret`` and the clock ``now``.

    Raises:
        SignatureRejected: The header is missing or malformed, no ``v1`` matches, or ``t`` is
            more than :data:`TOLERANCE` seconds away from ``now``.
    """
    if not header:
        raise SignatureRejected(f"missing signature: send {SIGNATURE_HEADER}: t=<unix>,v1=<hex>")
    timestamp: str | None = None
    given: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            given.append(value)
    if timestamp is None or not (timestamp.isascii() and timestamp.isdigit()) or not given:
        raise SignatureRejected(
            f"malformed signature: {SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex>"
        )
    expected = _digest(secret, body, timestamp).encode()
    matched = False
    for value in given:  # every candidate compared, in constant time
        matched |= hmac.compare_digest(expected, value.encode("ascii", "replace"))
    if not matched:
        raise SignatureRejected("invalid signature: it does not match the body and timestamp")
    if abs(now - int(timestamp)) > TOLERANCE:
        raise SignatureRejected(
            f"expired signature: its timestamp is more than {TOLERANCE} s from the server's clock"
        )


def evaluate(trigger: Mapping[str, Any], body: Any, headers: Mapping[str, str]) -> tuple[bool, Any]:
    """``(fires, input)`` of ``trigger`` (a dumped :class:`~interpreter.spec.WebhookTrigger`)
    for a verified request: ``fires`` is False when the filter rules it out.

    Raises:
        HookError: The filter does not evaluate to a bool, or the input does not resolve.
    """
    scope = Scope({"body": body, "headers": dict(headers)}, Meter())
    condition = trigger.get("filter")
    if condition is not None:
        try:
            if not compile_cel(condition).evaluate_bool(scope):
                return False, None
        except ExpressionError as exc:
            raise HookError(f"filter: {exc}") from None
    if trigger.get("input") is None:
        return True, body
    try:
        return True, resolve(trigger["input"], scope)
    except ExpressionError as exc:
        raise HookError(f"input: {exc}") from None
