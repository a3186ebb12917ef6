"""A retry that finds the state locked since the run's own earlier attempt failed
(flows/run.py own_leftover_lock): plain StackResult data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from iacdrift.flows.run import own_leftover_lock
from iacdrift.models.finding import LockHolder, StackResult, StackStatus, Timings

FIRST = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def earlier() -> StackResult:
    return StackResult(
        stack="staging-app",
        status=StackStatus.ERROR,
        reason="staging-app: terraform plan failed: InternalError: 500",
        checkedAt=FIRST,
        timings=Timings(totalSeconds=2.0),  # the earlier attempt ran 12:00:00-12:00:02
    )


def locked(after_first: float, age: float) -> StackResult:
    checked = FIRST + timedelta(seconds=after_first)
    return StackResult(
        stack="staging-app",
        status=StackStatus.LOCKED,
        reason="staging-app: state is locked by ci@host",
        checkedAt=checked,
        lock=LockHolder(id="abc", operation="OperationTypePlan", who="ci@host", ageSeconds=age),
    )


def test_a_lock_taken_during_the_failed_attempt_is_named_as_its_own() -> None:
    result = own_leftover_lock(locked(after_first=3.0, age=2.5), earlier())
    assert result.status is StackStatus.LOCKED
    assert result.reason is not None
    assert "earlier attempt failed (staging-app: terraform plan failed: InternalError" in (
        result.reason
    )
    assert "op: force-unlock" in result.reason and "lockId: abc" in result.reason
    assert result.lock == locked(3.0, 2.5).lock


def test_a_lock_older_than_the_first_attempt_is_someone_elses() -> None:
    older = locked(after_first=3.0, age=60.0)
    assert own_leftover_lock(older, earlier()) == older


def test_a_lock_taken_after_the_earlier_attempt_ended_is_not_claimed() -> None:
    # Taken at 12:00:04, during the backoff: someone else's (e.g. an apply).
    later = locked(after_first=10.0, age=6.0)
    assert own_leftover_lock(later, earlier()) == later


def test_a_lock_that_appeared_after_the_retry_began_is_not_claimed() -> None:
    fresh = locked(after_first=3.0, age=0.0)  # created after this attempt started
    assert own_leftover_lock(fresh, earlier()) == fresh


def test_other_outcomes_pass_through() -> None:
    clean = StackResult(stack="staging-app", status=StackStatus.CLEAN, checkedAt=FIRST)
    assert own_leftover_lock(clean, earlier()) == clean
