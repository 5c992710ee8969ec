"""The bug-fix template's tool: ``land_fix``, a stand-in for opening and merging a pull request.

It touches nothing outside this process: it keeps the change in an in-memory list and returns
a content-addressed change id. Replace its body with a call to your code host (and keep it
idempotent: landing the same fix twice gives the same change).
"""

from __future__ import annotations

import hashlib

from activities.registry import tool

LANDED: dict[str, str] = {}
"""change id -> title of every fix landed (this process only)."""


@tool
def land_fix(title: str, code: str) -> dict[str, object]:
    """Land a fix: the whole fixed source with a one-line title; the change id.

    Args:
        title: What the fix does, one line.
        code: The fixed source.
    """
    change = hashlib.sha256(code.encode()).hexdigest()[:12]
    LANDED.setdefault(change, title)
    return {"change": change, "title": title}
