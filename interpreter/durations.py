"""Durations as written in definitions (``500ms``, ``30s``, ``5m``, ``2h``, ``1d``, ``1h30m``)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> timedelta:
    """Read a duration such as ``1h30m``.

    Args:
        text: One or more ``<number><unit>`` parts, units ``ms``, ``s``, ``m``, ``h``, ``d``.

    Returns:
        The duration.

    Raises:
        ValueError: ``text`` is not a duration, or is zero.
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
    return timedelta(seconds=seconds)
