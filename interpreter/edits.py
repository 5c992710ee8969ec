"""What a person's replacement for a step's output must satisfy (a fork's edit, a breakpoint's).

A human step's output ``data`` must fit its ``form``, an ``llm`` or ``agent`` step's ``data`` its
``output_schema``; every value must be one a run can carry (:mod:`interpreter.values`). Pure:
used by the API (a fork) and inside the workflow (continuing at a breakpoint).
"""

from __future__ import annotations

from typing import Any

from interpreter.answers import form_problem
from interpreter.schemas import SchemaInvalid, compile_schema
from interpreter.values import describe, find_problem


def output_problem(kind: str, step: str, schema: Any, value: Any) -> str | None:
    """Why ``value`` cannot be the output of step ``step`` of ``kind``; None when it can.

    Args:
        kind: The step's kind.
        step: The step's id (named in a form's message).
        schema: The step's ``form`` (human) or ``output_schema`` (llm, agent); None: no check.
        value: The new output, whole.
    """
    carried = find_problem(value)
    if carried is not None:
        return f"{describe('output', carried[0])}: {carried[1]}"
    if schema is None or kind not in ("human", "llm", "agent"):
        return None
    if not isinstance(value, dict) or "data" not in value:
        return f"a {kind} step's output is an object with `data` (what its schema checks)"
    if kind == "human":
        found = form_problem(step, schema, value["data"])
        return None if found is None else found[1]
    try:
        errors = compile_schema(schema).errors(value["data"])
    except SchemaInvalid as exc:
        return f"the step's output_schema is not usable: {exc}"
    if not errors:
        return None
    first = errors[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.path)
    return f"data{where}: {first.message}"
