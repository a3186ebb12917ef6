"""ci.merge: the shards' run reports as one, with a single run's exit-code rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from iacdrift.ci.merge import merge_reports
from iacdrift.errors import InputError
from iacdrift.models.finding import ExpiredRule, StackResult, StackStatus
from iacdrift.models.run import RunReport, RunSelection, SkippedStack
from tests.factories import make_finding

T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def result(stack: str, status: StackStatus, minutes: int = 0, **fields: object) -> StackResult:
    return StackResult(
        stack=stack, status=status, checkedAt=T0 + timedelta(minutes=minutes), **fields
    )  # type: ignore[arg-type]


def report(run_id: str, *results: StackResult, **fields: object) -> RunReport:
    values: dict[str, object] = {
        "runId": run_id,
        "startedAt": T0,
        "finishedAt": T0 + timedelta(minutes=5),
        "registry": "/repo/registry",
        "selection": RunSelection.NAMED,
        "maxParallel": 2,
        "results": list(results),
        "policyVersion": "sha256:p1",
    }
    values.update(fields)
    return RunReport(**values)  # type: ignore[arg-type]


def test_disjoint_shards_merge_into_one_report_with_the_single_run_rule() -> None:
    unmanaged = make_finding("drift-u1", stack=None, resourceRef="aws_s3_bucket:x")
    a = report(
        "run-a",
        result("prod-network", StackStatus.DRIFTED),
        result("prod-app", StackStatus.CLEAN),
        estateFindings=[unmanaged],
        startedAt=T0 + timedelta(minutes=1),
    )
    b = report(
        "run-b",
        result("staging-app", StackStatus.CLEAN),
        estateFindings=[unmanaged],  # both shards judged that type: one finding
        finishedAt=T0 + timedelta(minutes=9),
        expiredRules=[ExpiredRule(id="r1", expires="2026-01-01", owner="t", file="f")],
    )
    merged = merge_reports([b, a])
    assert [r.stack for r in merged.results] == ["prod-app", "prod-network", "staging-app"]
    assert [f.findingId for f in merged.estateFindings] == ["drift-u1"]
    assert (merged.startedAt, merged.finishedAt) == (T0, T0 + timedelta(minutes=9))
    assert merged.maxParallel == 4
    assert merged.policyVersion == "sha256:p1"
    assert [r.id for r in merged.expiredRules] == ["r1"]
    assert merged.exit_code() == 2
    # Deterministic: same shards in any order, same report.
    assert merge_reports([a, b]) == merged
    assert merged.runId.startswith("merged-")


def test_a_stack_skipped_by_one_shard_and_checked_by_another_counts_as_checked() -> None:
    skip = SkippedStack(stack="prod-app", reason="lease held by run-a")
    a = report("run-a", result("prod-app", StackStatus.CLEAN))
    b = report("run-b", result("staging-app", StackStatus.CLEAN), skipped=[skip])
    merged = merge_reports([a, b])
    assert merged.skipped == []
    assert merged.exit_code() == 0
    # Skipped by every shard, with no recorded answer: unknown, exit 1.
    alone = merge_reports([b])
    assert [s.stack for s in alone.skipped] == ["prod-app"] and alone.exit_code() == 1


def test_overlapping_shards_keep_the_later_check_and_errors_stay_errors() -> None:
    a = report("run-a", result("prod-app", StackStatus.ERROR, 1, reason="timeout"))
    b = report("run-b", result("prod-app", StackStatus.CLEAN, 3))
    merged = merge_reports([a, b])
    assert [(r.stack, r.status) for r in merged.results] == [("prod-app", StackStatus.CLEAN)]
    failed = merge_reports([a, report("run-c", result("staging-app", StackStatus.CLEAN))])
    assert failed.exit_code() == 1


def test_different_policy_versions_or_registries_are_not_merged_silently() -> None:
    a = report("run-a", result("prod-app", StackStatus.CLEAN))
    b = report("run-b", result("staging-app", StackStatus.CLEAN), policyVersion="sha256:p2")
    merged = merge_reports([a, b])
    assert merged.policyVersion is None
    assert any("different policy versions" in p for p in merged.estateProblems)
    assert merged.exit_code() == 1
    with pytest.raises(InputError, match="different registries"):
        merge_reports([a, report("run-x", registry="/other/registry")])
    with pytest.raises(InputError, match="no report"):
        merge_reports([])


def test_a_shard_that_wrote_no_report_leaves_its_stacks_unanswered() -> None:
    """The matrix names prod-app and staging-app; only staging-app's shard reported."""
    b = report("run-b", result("staging-app", StackStatus.CLEAN))
    merged = merge_reports([b], expected=["prod-app", "staging-app"])
    assert [s.stack for s in merged.skipped] == ["prod-app"]
    assert "no report from its shard" in merged.skipped[0].reason
    assert merged.exit_code() == 1
