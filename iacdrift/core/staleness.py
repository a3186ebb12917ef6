"""Which stacks are due, and whether what the history says about a stack still holds.

Pure: the run history's answers and ``now`` are passed in.

Two words, two moments on the same clock (``age = now - last success``):

* **due** when ``age >= frequency`` (or never checked): a run should check it now;
* **stale** when ``age > frequency`` (or never checked): the last answer is past
  its schedule, so the stack's status is STALE, unknown, never green.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from iacdrift.core.schedule import is_due
from iacdrift.models.finding import LockHolder, StackResult, StackStatus
from iacdrift.models.registry import DriftManagedUnit
from iacdrift.models.run import StackStatusEntry
from iacdrift.primitives.duration import parse_frequency
from iacdrift.primitives.moments import require_aware


def is_stale(frequency: str, last_success: datetime | None, now: datetime) -> bool:
    """True when there never was a successful check or the last one is past its schedule."""
    if last_success is None:
        return True
    return now - last_success > parse_frequency(frequency)


def overdue(frequency: str, last_success: datetime | None, now: datetime) -> timedelta | None:
    """How long past its schedule the stack is; None when never checked (most overdue)."""
    if last_success is None:
        return None
    return now - last_success - parse_frequency(frequency)


def due_stacks(
    units: Iterable[DriftManagedUnit],
    last_success: Mapping[str, datetime | None],
    now: datetime,
) -> list[str]:
    """Names of the due stacks, in the order a run should check them.

    Sorted by risk tier (critical, high, medium, low), then most overdue first
    (never checked before everything else), then name. A stack missing from
    ``last_success`` was never checked.
    """
    require_aware(now, "now")
    keyed: list[tuple[int, int, timedelta, str]] = []
    for unit in units:
        frequency = unit.spec.schedule.frequency
        success = last_success.get(unit.name)
        if success is not None:
            require_aware(success, f"last success of {unit.name}")
        if not is_due(frequency, success, now):
            continue
        late = overdue(frequency, success, now)
        never = 0 if late is None else 1
        # Negated so that ascending order puts the most overdue first.
        keyed.append((unit.spec.riskTier.rank, never, -(late or timedelta()), unit.name))
    return [name for *_, name in sorted(keyed)]


def stack_status_entry(
    unit: DriftManagedUnit,
    *,
    last_result: StackResult | None,
    last_success: datetime | None,
    consecutive_failures: int,
    now: datetime,
    lock: LockHolder | None = None,
    lock_error: str | None = None,
) -> StackStatusEntry:
    """One stack's status from its history and (optionally) its current state lock.

    ``status`` is STALE when the last successful check is older than the schedule
    or absent, whatever the last check said; otherwise the last check's status
    (so a failed check after a current success shows ERROR / LOCKED).
    """
    require_aware(now, "now")
    spec = unit.spec
    frequency = spec.schedule.frequency
    stale = is_stale(frequency, last_success, now)
    status = StackStatus.STALE if stale or last_result is None else last_result.status
    return StackStatusEntry(
        stack=unit.name,
        owner=spec.owner,
        environment=spec.environment,
        riskTier=spec.riskTier,
        frequency=frequency,
        lastCheckedAt=last_result.checkedAt if last_result else None,
        lastSuccessAt=last_success,
        lastStatus=last_result.status if last_result else None,
        lastReason=last_result.reason if last_result else None,
        due=is_due(frequency, last_success, now),
        stale=stale,
        status=status,
        consecutiveFailures=consecutive_failures,
        lock=lock,
        lockError=lock_error,
    )
