"""Due order and STALE decisions, with an explicit ``now``; and the exit codes of the
run and status records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from iacdrift.core.staleness import due_stacks, is_stale, stack_status_entry
from iacdrift.errors import ExitCode
from iacdrift.models.finding import (
    Action,
    CheckReport,
    Domain,
    LockHolder,
    Relationship,
    StackResult,
    StackStatus,
    drift_exit_code,
)
from iacdrift.models.registry import DriftManagedUnit
from iacdrift.models.run import RunReport, RunSelection, SkippedStack, StatusReport
from tests.factories import make_finding

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def unit(name: str, tier: str = "high", frequency: str = "hourly") -> DriftManagedUnit:
    return DriftManagedUnit.model_validate(
        {
            "kind": "DriftManagedUnit",
            "metadata": {"name": name},
            "spec": {
                "type": "terraform-stack",
                "owner": "team-a",
                "environment": "prod",
                "riskTier": tier,
                "source": {"repo": "github.com/acme/infra", "path": f"stacks/{name}"},
                "state": {"backend": "s3", "bucket": "tfstate", "key": f"{name}.tfstate"},
                "credentials": {"oidcRole": f"arn:aws:iam::123456789012:role/{name}"},
                "schedule": {"frequency": frequency},
            },
        }
    )


def ago(**kwargs: Any) -> datetime:
    return NOW - timedelta(**kwargs)


def checked(
    stack: str, status: StackStatus, at: datetime, reason: str | None = None
) -> StackResult:
    return StackResult(stack=stack, status=status, checkedAt=at, reason=reason)


# -- due order -------------------------------------------------------------------------


def test_due_order_is_tier_then_most_overdue_then_name() -> None:
    units = [
        unit("low-never", "low"),
        unit("high-late-1h", "high"),
        unit("high-late-3h", "high"),
        unit("crit-late-10m", "critical"),
        unit("crit-never-b", "critical"),
        unit("crit-never-a", "critical"),
        unit("medium-fresh", "medium"),
        unit("medium-late-b", "medium"),
        unit("medium-late-a", "medium"),
    ]
    last = {
        "high-late-1h": ago(hours=2),
        "high-late-3h": ago(hours=4),
        "crit-late-10m": ago(minutes=70),
        "medium-fresh": ago(minutes=59),
        "medium-late-a": ago(hours=2),
        "medium-late-b": ago(hours=2),
        "low-never": None,
    }
    assert due_stacks(units, last, NOW) == [
        "crit-never-a",
        "crit-never-b",
        "crit-late-10m",
        "high-late-3h",
        "high-late-1h",
        "medium-late-a",
        "medium-late-b",
        "low-never",
    ]


def test_a_stack_missing_from_the_history_is_due_and_input_order_does_not_matter() -> None:
    units = [unit("b", frequency="daily"), unit("a", frequency="6h")]
    assert due_stacks(units, {}, NOW) == ["a", "b"]
    assert due_stacks(list(reversed(units)), {}, NOW) == ["a", "b"]


def test_due_exactly_at_the_period() -> None:
    units = [unit("s", frequency="15m")]
    assert due_stacks(units, {"s": ago(minutes=15)}, NOW) == ["s"]
    assert due_stacks(units, {"s": ago(minutes=14, seconds=59)}, NOW) == []


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_stacks([unit("s")], {}, datetime(2025, 3, 1, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        due_stacks([unit("s")], {"s": datetime(2025, 3, 1, 10)}, NOW)


# -- STALE -----------------------------------------------------------------------------


def test_never_checked_is_stale_and_due() -> None:
    entry = stack_status_entry(
        unit("s"), last_result=None, last_success=None, consecutive_failures=0, now=NOW
    )
    assert (entry.status, entry.stale, entry.due) == (StackStatus.STALE, True, True)
    assert entry.lastCheckedAt is None and entry.lastStatus is None
    assert not entry.green


@pytest.mark.parametrize("status", [StackStatus.CLEAN, StackStatus.DRIFTED])
def test_a_recent_answer_is_current(status: StackStatus) -> None:
    last = checked("s", status, ago(minutes=10))
    entry = stack_status_entry(
        unit("s"), last_result=last, last_success=last.checkedAt, consecutive_failures=0, now=NOW
    )
    assert (entry.status, entry.stale, entry.due) == (status, False, False)
    assert entry.green


def test_a_clean_check_older_than_the_schedule_is_stale_never_green() -> None:
    last = checked("s", StackStatus.CLEAN, ago(minutes=61))
    entry = stack_status_entry(
        unit("s"), last_result=last, last_success=last.checkedAt, consecutive_failures=0, now=NOW
    )
    assert (entry.status, entry.lastStatus, entry.stale) == (
        StackStatus.STALE,
        StackStatus.CLEAN,
        True,
    )
    assert not entry.green


def test_at_exactly_the_period_a_check_is_due_but_not_yet_stale() -> None:
    assert not is_stale("1h", ago(hours=1), NOW)
    assert is_stale("1h", ago(hours=1, seconds=1), NOW)
    last = checked("s", StackStatus.CLEAN, ago(hours=1))
    entry = stack_status_entry(
        unit("s"), last_result=last, last_success=last.checkedAt, consecutive_failures=0, now=NOW
    )
    assert (entry.due, entry.stale, entry.status) == (True, False, StackStatus.CLEAN)


def test_failed_checks_after_an_old_success_are_stale_with_the_failures() -> None:
    last = checked("s", StackStatus.ERROR, ago(minutes=5), reason="AccessDenied on s3")
    entry = stack_status_entry(
        unit("s"), last_result=last, last_success=ago(hours=3), consecutive_failures=4, now=NOW
    )
    assert entry.status is StackStatus.STALE
    assert (entry.lastStatus, entry.lastReason, entry.consecutiveFailures) == (
        StackStatus.ERROR,
        "AccessDenied on s3",
        4,
    )


def test_a_failed_check_after_a_current_success_shows_the_failure() -> None:
    last = checked("s", StackStatus.LOCKED, ago(minutes=5), reason="state locked")
    entry = stack_status_entry(
        unit("s"), last_result=last, last_success=ago(minutes=30), consecutive_failures=1, now=NOW
    )
    assert (entry.status, entry.stale) == (StackStatus.LOCKED, False)
    assert not entry.green


def test_a_held_or_unreadable_lock_is_never_green() -> None:
    last = checked("s", StackStatus.CLEAN, ago(minutes=5))
    base: dict[str, Any] = {
        "last_result": last,
        "last_success": last.checkedAt,
        "consecutive_failures": 0,
    }
    locked = stack_status_entry(
        unit("s"), **base, now=NOW, lock=LockHolder(who="alice", ageSeconds=9000, stale=True)
    )
    unknown = stack_status_entry(unit("s"), **base, now=NOW, lock_error="cloud not reachable")
    assert locked.status is unknown.status is StackStatus.CLEAN
    assert not locked.green and not unknown.green


def test_entries_carry_the_registry_facts() -> None:
    entry = stack_status_entry(
        unit("s", "critical", "6h"),
        last_result=None,
        last_success=None,
        consecutive_failures=0,
        now=NOW,
    )
    assert (entry.stack, entry.owner, entry.environment, entry.riskTier.value, entry.frequency) == (
        "s",
        "team-a",
        "prod",
        "critical",
        "6h",
    )


# -- exit codes of the records ----------------------------------------------------------


def status_report(*entries_args: tuple[StackStatus, datetime | None]) -> StatusReport:
    entries = []
    for index, (status, at) in enumerate(entries_args):
        last = checked(f"s{index}", status, at) if at else None
        success = at if status in (StackStatus.CLEAN, StackStatus.DRIFTED) else None
        entries.append(
            stack_status_entry(
                unit(f"s{index}"),
                last_result=last,
                last_success=success,
                consecutive_failures=0,
                now=NOW,
            )
        )
    return StatusReport(generatedAt=NOW, history="h.sqlite", entries=entries)


def test_status_exit_codes() -> None:
    fresh = ago(minutes=5)
    assert status_report((StackStatus.CLEAN, fresh), (StackStatus.DRIFTED, fresh)).exit_code() == 0
    assert status_report((StackStatus.CLEAN, fresh), (StackStatus.CLEAN, None)).exit_code() == 1
    assert status_report((StackStatus.CLEAN, ago(hours=2))).exit_code() == 1
    report = status_report((StackStatus.CLEAN, fresh))
    assert report.model_copy(update={"problems": ["cloud down"]}).exit_code() == 1


def run_report(*statuses: StackStatus, **extra: Any) -> RunReport:
    return RunReport(
        runId="r1",
        startedAt=NOW,
        finishedAt=NOW,
        registry="registry",
        selection=RunSelection.DUE,
        maxParallel=2,
        results=[checked(f"s{i}", s, NOW) for i, s in enumerate(statuses)],
        **extra,
    )


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ((), ExitCode.OK),
        ((StackStatus.CLEAN,), ExitCode.OK),
        ((StackStatus.CLEAN, StackStatus.DRIFTED), ExitCode.DRIFT),
        ((StackStatus.DRIFTED, StackStatus.ERROR), ExitCode.FAILED),
        ((StackStatus.LOCKED,), ExitCode.FAILED),
        ((StackStatus.STALE,), ExitCode.FAILED),
    ],
)
def test_run_exit_codes_match_check(statuses: tuple[StackStatus, ...], code: ExitCode) -> None:
    report = run_report(*statuses)
    assert report.exit_code() is code
    assert report.as_check_report().exit_code() is code
    assert drift_exit_code(statuses) is code


def test_unchecked_outranks_drift_beside_the_stacks() -> None:
    assert drift_exit_code([StackStatus.CLEAN], drift=True) is ExitCode.DRIFT
    assert drift_exit_code([StackStatus.DRIFTED], unchecked=True) is ExitCode.FAILED
    assert drift_exit_code([], unchecked=True, drift=True) is ExitCode.FAILED


def test_a_run_renders_as_its_check_report() -> None:
    report = run_report(StackStatus.CLEAN, estateProblems=["state unreadable"])
    assert report.as_check_report() == CheckReport(
        generatedAt=report.finishedAt,
        results=report.results,
        estateProblems=["state unreadable"],
    )


def test_run_estate_findings_and_problems() -> None:
    unmanaged = make_finding(
        "f1",
        stack=None,
        detectedAt=NOW,
        domain=Domain.STORAGE,
        resourceRef="aws_s3_bucket:shadow",
        resourceId="shadow",
        resourceType="aws_s3_bucket",
        environment=None,
        owner=None,
        relationship=Relationship.UNMANAGED,
        recommendedAction=Action.INVESTIGATE,
        reason="no state records it",
    )
    assert run_report(StackStatus.CLEAN, estateFindings=[unmanaged]).exit_code() == 2
    assert run_report(StackStatus.CLEAN, estateProblems=["state unreadable"]).exit_code() == 1
    # Item 11: a skipped stack is unchecked by this run (was 0: a run that skipped a
    # DRIFTED stack went green), unless the lease holder's recorded result answers.
    skipped = [SkippedStack(stack="s9", reason="another run holds its lease")]
    assert run_report(StackStatus.CLEAN, skipped=skipped).exit_code() == 1

    def answered(status: StackStatus) -> list[SkippedStack]:
        recorded = StackResult(stack="s9", status=status, checkedAt=NOW)
        return [SkippedStack(stack="s9", reason="waited", holderRunId="r0", result=recorded)]

    assert run_report(StackStatus.CLEAN, skipped=answered(StackStatus.CLEAN)).exit_code() == 0
    assert run_report(StackStatus.CLEAN, skipped=answered(StackStatus.DRIFTED)).exit_code() == 2
    assert run_report(StackStatus.CLEAN, skipped=answered(StackStatus.LOCKED)).exit_code() == 1
