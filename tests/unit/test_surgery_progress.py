"""Where a surgery stands (core/surgery/progress.py) and whether a lock may be released
(core/surgery/locks.py): plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from iacdrift.core.surgery.locks import own_lock, planned_lock, unlock_refusal
from iacdrift.core.surgery.progress import (
    Condition,
    Planned,
    StateFacts,
    condition,
    next_command,
)
from iacdrift.core.surgery.state import state_digest
from iacdrift.models.finding import LockHolder

BEFORE = {"lineage": "L", "serial": 7, "resources": [{"name": "a"}], "outputs": {}}
EDITED = {"lineage": "L", "serial": 7, "resources": [{"name": "b"}], "outputs": {}}
PLANNED = Planned("L", 7, "v7", state_digest(EDITED), changes_state=True)


def facts(state: dict[str, object], serial: int, version: str) -> StateFacts:
    return StateFacts("L", serial, version, state_digest({**state, "serial": serial}))


def test_the_digest_ignores_serial_and_writer_but_not_content() -> None:
    assert state_digest(BEFORE) == state_digest(
        {**BEFORE, "serial": 9, "terraform_version": "1.6.2"}
    )
    assert state_digest(BEFORE) != state_digest(EDITED)
    assert state_digest(BEFORE) != state_digest({**BEFORE, "lineage": "M"})


@pytest.mark.parametrize(
    ("steps", "current", "expected"),
    [
        ([], facts(BEFORE, 7, "v7"), Condition.NOT_STARTED),
        (["snapshot"], facts(BEFORE, 7, "v7"), Condition.NOT_STARTED),
        (["snapshot", "pushing"], facts(BEFORE, 7, "v7"), Condition.NOT_STARTED),
        (["snapshot", "pushing"], facts(EDITED, 8, "v8"), Condition.PUSHED_UNVERIFIED),
        (["snapshot", "pushing", "pushed"], facts(EDITED, 8, "v8"), Condition.PUSHED_UNVERIFIED),
        (["snapshot", "pushed", "verified"], facts(EDITED, 8, "v8"), Condition.APPLIED),
        # A verification from before a later push does not count.
        (["verified", "pushing", "pushed"], facts(EDITED, 8, "v8"), Condition.PUSHED_UNVERIFIED),
        (["snapshot", "pushed", "rolled-back"], facts(BEFORE, 9, "v9"), Condition.ROLLED_BACK),
        (["snapshot", "pushed", "rolling-back"], facts(BEFORE, 9, "v9"), Condition.ROLLED_BACK),
        ([], facts({**BEFORE, "resources": []}, 8, "v8"), Condition.CHANGED_ELSEWHERE),
        # The same content in another object than the planned one, no snapshot yet:
        # someone pushed it again (serial bumped): changed elsewhere, not started.
        ([], facts(BEFORE, 8, "v8"), Condition.CHANGED_ELSEWHERE),
        ([], None, Condition.NO_STATE),
    ],
)
def test_condition(steps: list[str], current: StateFacts | None, expected: Condition) -> None:
    snapshot = state_digest(BEFORE) if "snapshot" in steps else None
    assert condition(PLANNED, steps, current, snapshot) is expected


def test_a_plan_that_changes_no_state_is_applied_once_verified() -> None:
    only_unlock = Planned("L", 7, "v7", state_digest(BEFORE), changes_state=False)
    assert condition(only_unlock, [], facts(BEFORE, 7, "v7"), None) is Condition.NOT_STARTED
    done = ["snapshot", "unlocked", "verified"]
    assert condition(only_unlock, done, facts(BEFORE, 7, "v7"), None) is Condition.APPLIED
    moved = facts(BEFORE, 8, "v8")
    assert condition(only_unlock, ["snapshot"], moved, None) is Condition.CHANGED_ELSEWHERE
    # Released, not verified yet: others may write the freed state meanwhile; the
    # surgery is not "changed elsewhere" for that.
    released = ["snapshot", "unlocked"]
    assert condition(only_unlock, released, moved, None) is Condition.PUSHED_UNVERIFIED


def test_each_condition_has_one_command_or_says_why_not() -> None:
    for state in Condition:
        command, why = next_command(state, "sp-0123456789abcdef", "prod-app")
        assert why
        if state in (Condition.NOT_STARTED, Condition.PUSHED_UNVERIFIED):
            assert command == "iacdrift surgery apply sp-0123456789abcdef --yes"
        else:
            assert command is None


LOCK = LockHolder(
    id="6f2c3a0e-1b7d-4c1e-9a55-0d3f2b9c8e41",
    operation="OperationTypeApply",
    who="ci@runner-7",
    created="2026-12-06T10:00:00Z",
    path="bucket/prod/app.tfstate",
)
TWO_HOURS = timedelta(hours=2)


def aged(lock: LockHolder, seconds: float | None) -> LockHolder:
    return lock.model_copy(update={"ageSeconds": seconds, "stale": False})


def test_a_stale_lock_that_is_the_planned_one_may_be_released() -> None:
    planned = planned_lock(aged(LOCK, 99999))
    assert planned.ageSeconds is None  # no age in the plan: its id must not drift
    assert unlock_refusal(planned, aged(LOCK, 3 * 3600), TWO_HOURS) is None


@pytest.mark.parametrize(
    ("current", "says"),
    [
        (None, "is not held"),
        (aged(LOCK.model_copy(update={"id": "other"}), 9999), "not 6f2c3a0e"),
        (aged(LOCK.model_copy(update={"who": "eve@laptop"}), 9999), "not the lock reviewed"),
        (aged(LOCK, 600), "0h10m old, not older than surgery.staleLockAfterMinutes (120)"),
        (aged(LOCK, None), "of unknown age"),
    ],
)
def test_any_other_lock_is_refused(current: LockHolder | None, says: str) -> None:
    refusal = unlock_refusal(planned_lock(LOCK), current, TWO_HOURS)
    assert refusal is not None and says in refusal


# --- own_lock: a lock the killed apply left ---------------------------------------

T0 = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)
OURS = LockHolder(id="x", operation="state-push", who="root@runner", created="…")


def own(**changes: object) -> bool:
    arguments: dict[str, object] = {
        "created": T0 + timedelta(seconds=3),
        "took_over_dead": True,
        "user_at_host": "root@runner",
        "last_step_at": T0,
        "dead_lease_expired_at": T0 + timedelta(minutes=15),
        "leftovers": False,
    }
    lock = changes.pop("lock", OURS)
    arguments.update(changes)
    return own_lock(lock, **arguments)  # type: ignore[arg-type]


def test_the_killed_applys_own_push_lock_is_its_own() -> None:
    assert own()
    assert own(lock=OURS.model_copy(update={"operation": "OperationTypePlan"}))


@pytest.mark.parametrize(
    "changes",
    [
        {"took_over_dead": False},  # the earlier apply ended; it was not killed
        {"leftovers": True},  # a Terraform of it still runs: maybe still holding it
        {"lock": OURS.model_copy(update={"who": "alice@runner"})},  # someone else here
        {"lock": OURS.model_copy(update={"operation": "OperationTypeApply"})},
        {"created": T0 - timedelta(minutes=1)},  # before the dead apply's last step
        {"created": T0 + timedelta(minutes=20)},  # after its lease had expired
        {"created": None},
        {"last_step_at": None},
    ],
)
def test_any_other_lock_is_not(changes: dict[str, object]) -> None:
    assert not own(**changes)
