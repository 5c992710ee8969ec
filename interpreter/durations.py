"""Durations as written in definitions (``500ms``, ``30s``, ``5m``, ``2h``, ``1d``, ``1h30m``)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DAYS = 36_525
"""The longest duration a definition may write: 100 years (Temporal and Python's timedelta
overflow not far beyond; no run sensibly waits longer)."""


def parse_duration(text: str) -> timedelta:
    """Read a duration such as ``1h30m``.

    Args:
        text: One or more ``<number><unit>`` parts, units ``ms``, ``s``, ``m``, ``h``, ``d``.

    Returns:
        The duration.

    Raises:
        ValueError: ``text`` is not a duration, is zero, or is longer than 100 years.
    """
    if not isinstance(text, str):
        raise ValueError(f"a duration is a string such as '30s' or '2h', not {text!r}")
    stripped = text.strip()
    pos, seconds = 0, 0.0
    for match in _PART.finditer(stripped):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(stripped) or pos == 0:
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit (ms, s, m, h, d), e.g. '30s'"
        )
    if seconds <= 0:
        raise ValueError(f"{text!r}: a duration must be more than zero")
    if seconds > MAX_DAYS * _UNITS["d"]:
        raise ValueError(f"{text!r}: a duration must be at most 100 years ({MAX_DAYS}d)")
    return timedelta(seconds=seconds)
