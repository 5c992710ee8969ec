"""Event triggers: whether a CloudEvent starts a run of a definition, and with which input.

A ``triggers:`` entry ``{event, filter?, input?}`` (:class:`interpreter.spec.EventTrigger`)
matches an event whose ``type`` equals ``event`` or fits it as a glob (``*`` any characters,
``?`` one, ``[abc]`` one of a set: :func:`fnmatch.fnmatchcase`), and whose ``filter`` (CEL over
``event``) is true. The run's input is ``input`` with its ``${}`` resolved over ``event``, or the
event's ``data`` when the trigger has no ``input``. Evaluated by the API, outside workflows.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from interpreter.celcost import Meter
from interpreter.errors import ExpressionError
from interpreter.expr import Scope, compile_cel, resolve


class TriggerError(Exception):
    """A trigger's ``filter`` or ``input`` failed on an event; the message says which."""


def type_matches(pattern: str, type_: str) -> bool:
    """Whether an event type fits a trigger's ``event`` (exact, or a glob)."""
    return pattern == type_ or fnmatch.fnmatchcase(type_, pattern)


def evaluate(
    trigger: dict[str, Any], event: dict[str, Any], meter: Meter | None = None
) -> tuple[bool, Any]:
    """``(fires, input)`` of ``trigger`` (a dumped :class:`~interpreter.spec.EventTrigger`)
    for ``event``: ``fires`` is False when the type or the filter rules it out. What the
    evaluation costs is added to ``meter`` (the caller bounds the sum over many triggers).

    Raises:
        TriggerError: The filter does not evaluate to a bool, or the input does not resolve.
    """
    if not type_matches(str(trigger.get("event", "")), str(event.get("type", ""))):
        return False, None
    scope = Scope({"event": event}, Meter() if meter is None else meter)
    condition = trigger.get("filter")
    if condition is not None:
        try:
            if not compile_cel(condition).evaluate_bool(scope):
                return False, None
        except ExpressionError as exc:
            raise TriggerError(f"filter: {exc}") from None
    if "input" not in trigger:
        return True, event.get("data")
    try:
        return True, resolve(trigger["input"], scope)
    except ExpressionError as exc:
        raise TriggerError(f"input: {exc}") from None
