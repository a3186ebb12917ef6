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

:func:`lock_mismatch` is rules 1-2 alone, for planning (a force-unlock must name the
lock held then). :func:`own_lock` says whether a lock is the one a killed ``surgery
apply`` left behind (its own push or verification plan), which the apply that
resumes it may release without review:

5. Only when the resuming apply took the lease over from a holder on this host that
   is dead (a killed apply, not one that ended);
6. the lock was taken by this user on this host (Terraform writes ``user@host``),
   for a command the dead apply runs (``state-push`` for its push or rollback,
   ``OperationTypePlan`` for its verification);
7. it was created after the dead apply's last recorded step and before its lease
   would have expired (nothing of it can have taken a lock later);
8. and no Terraform process of a dead iacdrift is still running.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from iacdrift.models.finding import LockHolder

__all__ = ["lock_mismatch", "own_lock", "planned_lock", "same_lock", "unlock_refusal"]

# The commands a surgery apply runs under Terraform's lock (LockInfo.Operation).
APPLY_LOCK_OPERATIONS = frozenset({"state-push", "OperationTypePlan"})
# Terraform's clock and ours are this host's; this covers their rounding.
CLOCK_SLACK = timedelta(seconds=2)


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


def lock_mismatch(lock_id: str, current: LockHolder | None, where: str) -> str | None:
    """Rules 1-2: why ``current`` is not the lock ``lock_id``; None when it is."""
    if current is None:
        return (
            f"lock {lock_id} is not held on {where}: nothing to release; "
            "drop the force-unlock (plan again without it)"
        )
    if current.id != lock_id:
        return (
            f"the lock held on {where} is {current.id} ({current.operation or 'operation ?'} "
            f"by {current.who or 'someone'} since {current.created or '?'}), not {lock_id} "
            "named in the migration: a different run holds it"
        )
    return None


def unlock_refusal(
    planned: LockHolder, current: LockHolder | None, stale_after: timedelta
) -> str | None:
    """Why the lock held now (``current``, with its age) must not be released in place
    of ``planned``; None when it may be (rules in the module docstring)."""
    where = planned.path or "the state"
    mismatch = lock_mismatch(planned.id, current, where)
    if mismatch is not None or current is None:
        return f"{mismatch}; refusing"
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


def own_lock(
    lock: LockHolder,
    *,
    created: datetime | None,
    took_over_dead: bool,
    user_at_host: str,
    last_step_at: datetime | None,
    dead_lease_expired_at: datetime | None,
    leftovers: bool,
) -> bool:
    """Rules 5-8: whether ``lock`` (created at ``created``, parsed) is the one a killed
    apply left, which the apply resuming it may release."""
    if not took_over_dead or leftovers or created is None or last_step_at is None:
        return False
    if lock.who != user_at_host or lock.operation not in APPLY_LOCK_OPERATIONS:
        return False
    if created < last_step_at - CLOCK_SLACK:
        return False
    return dead_lease_expired_at is not None and created <= dead_lease_expired_at + CLOCK_SLACK
