"""Moments in time: timezone-aware datetimes, kept in UTC.

The one place that says what "aware" means (a zone that gives an offset) and how
a moment is brought to UTC. Nothing here reads the clock: see :mod:`iacdrift.clock`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def is_aware(moment: datetime) -> bool:
    """The moment carries a time zone that gives an offset."""
    return moment.tzinfo is not None and moment.utcoffset() is not None


def require_aware(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC; ValueError naming ``what`` when it has no time zone."""
    if not is_aware(moment):
        raise ValueError(f"{what} must be timezone-aware (UTC), got {moment.isoformat()}")
    return moment.astimezone(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a moment written without a zone is read as UTC."""
    return moment.astimezone(UTC) if is_aware(moment) else moment.replace(tzinfo=UTC)
