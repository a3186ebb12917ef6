"""Whether a force-unlock may release the lock held now (pure).

A surgery plan records the lock its ``force-unlock`` names as found when planning
(:attr:`~iacdrift.models.surgery.OperationResult.lock`). At apply time the lock held
on the state is read again; :func:`unlock_refusal` says why it must not be released,
or None. Rules, in order:

1. No lock held: nothing to release (the holder finished, or someone released it).
2. Another lock id: a different run holds the state now; its lock is not the one
   reviewed.
3. The same id with another holder, operation or creation time: not the same lock
   (ids are random; this only happens when a lock was forged or rewritten).
4. Not older than ``stale_after``: its run may still be alive; a live run's lock is
   never released.
"""

from __future__ import annotations

from datetime import timedelta

from iacdrift.models.finding import LockHolder

__all__ = ["planned_lock", "same_lock", "unlock_refusal"]


def planned_lock(found: LockHolder) -> LockHolder:
    """The lock as a plan records it: who, what, when, where; no age (an age would
    change with the clock, and with it the plan's id)."""
    return LockHolder(
        id=found.id,
        operation=found.operation,
        who=found.who,
        created=found.created,
        path=found.path,
    )


def same_lock(planned: LockHolder, current: LockHolder) -> bool:
    return planned_lock(current) == planned_lock(planned)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "of unknown age"
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m old"


def unlock_refusal(
    planned: LockHolder, current: LockHolder | None, stale_after: timedelta
) -> str | None:
    """Why the lock held now (``current``, with its age) must not be released in place
    of ``planned``; None when it may be (rules in the module docstring)."""
    where = planned.path or "the state"
    if current is None:
        return (
            f"lock {planned.id} is no longer held on {where}: nothing to release; "
            "plan again without the force-unlock"
        )
    if current.id != planned.id:
        return (
            f"the lock held on {where} is {current.id} ({current.operation or 'operation ?'} "
            f"by {current.who or 'someone'} since {current.created or '?'}), not {planned.id} "
            "named in the plan: a different run holds it; refusing"
        )
    if not same_lock(planned, current):
        return (
            f"lock {planned.id} on {where} now names {current.who!r} since "
            f"{current.created!r} (planned: {planned.who!r} since {planned.created!r}): "
            "not the lock reviewed; refusing"
        )
    if current.ageSeconds is None or current.ageSeconds <= stale_after.total_seconds():
        return (
            f"lock {planned.id} on {where} is {_age(current.ageSeconds)}, not older than "
            f"surgery.staleLockAfterMinutes ({int(stale_after.total_seconds() // 60)}): its "
            "run may be alive; wait for it, or find its holder "
            f"({current.who or 'unknown'}) first"
        )
    return None
