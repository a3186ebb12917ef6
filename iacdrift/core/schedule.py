"""When a stack is due. Pure: ``now`` is always passed in."""

from __future__ import annotations

from datetime import datetime

from iacdrift.primitives.duration import parse_frequency


def is_due(frequency: str, last_success: datetime | None, now: datetime) -> bool:
    """A stack is due when it was never checked or its last success is a period old."""
    if last_success is None:
        return True
    return now - last_success >= parse_frequency(frequency)
