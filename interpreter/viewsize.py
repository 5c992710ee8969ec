"""Keeping the ``status`` query's answer small: large values become size markers.

A run's outputs may be megabytes each (they live in the blob store, :mod:`storage`), but the
``status`` query is asked for every ``GET /v1/runs/{id}`` and every UI refresh. Its answer
replaces each step ``input``/``output``, the run ``result`` and each pending human ``prompt``
whose compact JSON is above :data:`VALUE_LIMIT` bytes, and then the largest remaining ones
while all of them together are above :data:`VIEW_BUDGET`, by ``{"$truncated": true,
"size": N}`` (N: the value's size in bytes as compact UTF-8 JSON); a step output's marker also
keeps the ``usage`` and ``cost_usd`` the output held (summed as the API's run totals sum them),
so a run's totals stay right. The whole values stay
available: a step's through the ``step`` query (``GET /v1/runs/{id}/steps/{step}``), the
result through the run's result (the API puts it back into the run view once the run ended).
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

VALUE_LIMIT = 256 * 1024
"""Values above this many bytes of JSON are replaced by a marker in the ``status`` view."""
VIEW_BUDGET = 2 * 1024 * 1024
"""All the values of one ``status`` view together stay within this many bytes of JSON."""
TRUNCATED = "$truncated"


def truncated(size: int) -> dict[str, Any]:
    """The marker that stands for a value of ``size`` bytes."""
    return {TRUNCATED: True, "size": size}


def is_truncated(value: Any) -> bool:
    """Whether ``value`` is a marker made by :func:`truncated`."""
    return isinstance(value, dict) and value.get(TRUNCATED) is True and "size" in value


def json_size(value: Any) -> int:
    """The size of ``value`` as compact UTF-8 JSON."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", errors="replace"))


def bounded_view(
    view: dict[str, Any], value_limit: int = VALUE_LIMIT, budget: int = VIEW_BUDGET
) -> dict[str, Any]:
    """``view`` (a ``status`` answer, changed in place) with its large values as markers."""
    slots: list[tuple[MutableMapping[str, Any], str]] = []
    for step in (view.get("steps") or {}).values():
        slots.extend((step, key) for key in ("input", "output"))
    slots.append((view, "result"))
    slots.extend((pending, "prompt") for pending in view.get("pending_human") or [])
    sized = [(json_size(c[k]), c, k) for c, k in slots if c.get(k) is not None]
    total = sum(size for size, _, _ in sized)
    for size, container, key in sorted(sized, key=lambda s: s[0], reverse=True):
        if size <= value_limit and total <= budget:
            break
        marker = truncated(size)
        if key == "output":
            marker.update(spent(container[key]) or {})
        container[key] = marker
        total -= size
    return view


def spent(value: Any) -> dict[str, Any] | None:
    """The ``usage`` and ``cost_usd`` summed over every mapping in ``value`` that holds both
    (llm and agent outputs; not looked into further); None when there is none."""
    tokens = {"input_tokens": 0, "output_tokens": 0}
    cost, found, todo = 0.0, False, [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            if "usage" in item and "cost_usd" in item:
                found = True
                usage = item["usage"] if isinstance(item["usage"], dict) else {}
                for name in tokens:
                    tokens[name] += _number(usage.get(name), int)
                cost += _number(item["cost_usd"], (int, float))
                continue
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return {"usage": tokens, "cost_usd": round(cost, 9)} if found else None


def _number(value: Any, kinds: type | tuple[type, ...]) -> Any:
    return value if isinstance(value, kinds) and not isinstance(value, bool) else 0
