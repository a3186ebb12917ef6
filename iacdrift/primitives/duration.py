"""Durations and schedule frequencies, as the registry writes them (``15m``, ``daily``)."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    # A retention year: 365 days. Leap days do not matter at this resolution.
    "y": timedelta(days=365),
}
_NAMED = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(weeks=1),
}
_DURATION = re.compile(r"^(\d+)([smhdwy])$")


def parse_duration(text: str) -> timedelta:
    """``"15m"`` -> 15 minutes. Raises ValueError naming the accepted forms."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"{text!r} is not a duration: write <number><unit> with unit one of "
            "s, m, h, d, w, y (e.g. 15m, 6h, 90d, 7y)"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_frequency(text: str) -> timedelta:
    """hourly / daily / weekly, or a duration such as ``6h``."""
    named = _NAMED.get(text.strip().lower())
    if named is not None:
        return named
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a frequency: use hourly, daily, weekly or a duration such as 15m"
        ) from None
