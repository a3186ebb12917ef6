"""The wall clock: the one module that reads it (the engine times its own calls).

Everything else is handed ``now`` or a :data:`Clock`, so tests can fix time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Today's date where this process runs (the local calendar day)."""
    return date.today()
