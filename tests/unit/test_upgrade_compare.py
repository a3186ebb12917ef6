"""The provider upgrade comparison, on plans captured with Terraform 1.15.5 and the real
hashicorp/aws 2.70.0 and 3.39.0 providers against moto (tests/fixtures/provider_diff/)."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from iacdrift.core.terraform_json import PlanView, StateView, read_plan, read_state
from iacdrift.core.upgrade_compare import (
    OWNER_PLACEHOLDER,
    SUGGESTION_DAYS,
    build_report,
    compare_stack,
    provider_matches,
    suggest_rules,
)
from iacdrift.errors import ExitCode
from iacdrift.models.provider_diff import (
    ComparisonOutcome,
    DifferenceKind,
    DriftUnderBoth,
    ProviderDiffReport,
    ProviderDiffSummary,
    StackComparison,
)
from iacdrift.models.registry import NAME_PATTERN
from iacdrift.report.common import render_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "provider_diff"
SALT = b"unit-test-salt"
PROVIDER = "hashicorp/aws"
OLD, NEW = "2.70.0", "3.39.0"
PASSWORD = "not-a-real-password-1"
TODAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

S, R, B = DifferenceKind.SCHEMA, DifferenceKind.REPRESENTATION, DifferenceKind.BEHAVIOUR

# What the upgrade changes in the legacy stack, with or without the out-of-band change.
LEGACY_DIFFERENCES = {
    ("aws_iam_role.archiver", "/inline_policy"): S,
    ("aws_iam_role.archiver", "/managed_policy_arns"): S,
    ("aws_iam_role.archiver", "/tags_all"): S,
    ("aws_s3_bucket.archive", "/tags_all"): S,
    ("aws_security_group.archive", "/name_prefix"): R,
    ("aws_security_group.archive", "/tags_all"): S,
}


def load(name: str) -> tuple[PlanView, PlanView, StateView]:
    directory = FIXTURES / name

    def document(file: str) -> Any:
        return json.loads((directory / file).read_text(encoding="utf-8"))

    return (
        read_plan(document(f"plan-{OLD}.json"), f"{name}/plan-{OLD}.json"),
        read_plan(document(f"plan-{NEW}.json"), f"{name}/plan-{NEW}.json"),
        read_state(document("state.json"), f"{name}/state.json"),
    )


def compared(name: str, *, reverse: bool = False) -> StackComparison:
    current, target, state = load(name)
    if reverse:
        return compare_stack(name, PROVIDER, NEW, OLD, target, current, state, salt=SALT)
    return compare_stack(name, PROVIDER, OLD, NEW, current, target, state, salt=SALT)


def kinds(result: StackComparison) -> dict[tuple[str, str], DifferenceKind]:
    found = {(d.address, d.pointer): d.kind for d in result.differences}
    assert len(found) == len(result.differences), "one difference per (address, pointer)"
    return found


# --- the fixtures ----------------------------------------------------------------------


def test_legacy_upgrade_is_schema_and_representation_only() -> None:
    result = compared("legacy")

    assert result.outcome is ComparisonOutcome.SAFE
    assert result.reason is None
    assert kinds(result) == LEGACY_DIFFERENCES
    assert result.drift == []
    assert result.resources == 4
    assert result.counts.schemaDifferences == 5
    assert result.counts.representationDifferences == 1
    assert result.counts.behaviourDifferences == 0
    assert (result.stateLineage, result.stateSerial) == ("80aedc63-e164-f85d-d2e0-4634c9f45af2", 1)

    by_key = {(d.address, d.pointer): d for d in result.differences}
    tags_all = by_key[("aws_s3_bucket.archive", "/tags_all")]
    assert tags_all.detail == "attribute added in 3.39.0, read for the first time"
    assert tags_all.current is None
    assert tags_all.target == {"data-class": "internal", "owner": "team-data", "retention": "7y"}
    assert (tags_all.currentActions, tags_all.targetActions) == (["no-op"], ["no-op"])
    name_prefix = by_key[("aws_security_group.archive", "/name_prefix")]
    assert (name_prefix.current, name_prefix.target) == (None, "")
    assert "the same after normalization" in name_prefix.detail


def test_out_of_band_change_is_drift_under_both_not_an_upgrade_difference() -> None:
    result = compared("legacy-oob")

    assert result.outcome is ComparisonOutcome.SAFE
    assert result.drift == [
        DriftUnderBoth(
            address="aws_s3_bucket.archive", resourceType="aws_s3_bucket", pointers=["/tags/owner"]
        )
    ]
    assert result.counts.driftedFields == 1
    # The same upgrade differences as without the change; the tag itself is not one,
    # and the target putting tags_all back is covered by "attribute added".
    assert kinds(result) == LEGACY_DIFFERENCES
    bucket = [d for d in result.differences if d.address == "aws_s3_bucket.archive"]
    assert [(d.currentActions, d.targetActions) for d in bucket] == [(["update"], ["update"])]


def test_rds_default_change_is_a_behaviour_difference() -> None:
    result = compared("rds")

    assert result.outcome is ComparisonOutcome.BEHAVIOUR
    assert kinds(result) == {
        ("aws_rds_cluster.c", "/allow_major_version_upgrade"): S,
        ("aws_rds_cluster.c", "/restore_to_point_in_time"): S,
        ("aws_rds_cluster.c", "/scaling_configuration/0/min_capacity"): B,
        ("aws_rds_cluster.c", "/tags_all"): S,
    }
    (behaviour,) = [d for d in result.differences if d.kind is B]
    assert (behaviour.current, behaviour.target) == (2, 1)
    assert (behaviour.currentActions, behaviour.targetActions) == (["no-op"], ["update"])
    assert behaviour.detail == "3.39.0 plans to change it; 2.70.0 leaves it as it is"
    assert result.drift == []


def test_no_secret_value_in_the_comparison() -> None:
    result = compared("rds")
    text = render_json(result)
    assert PASSWORD not in text
    assert all(not d.pointer.startswith("/master_password") for d in result.differences)


def test_comparing_the_other_way_round() -> None:
    """Downgrading: the attributes are removed, and it is the current (3.39.0) plan that
    changes min_capacity while the target leaves it."""
    result = compared("rds", reverse=True)

    assert result.outcome is ComparisonOutcome.BEHAVIOUR
    (behaviour,) = [d for d in result.differences if d.kind is B]
    assert behaviour.pointer == "/scaling_configuration/0/min_capacity"
    assert (behaviour.current, behaviour.target) == (1, 2)
    assert behaviour.detail == "3.39.0 plans to change it; 2.70.0 leaves it as it is"
    removed = sorted(d.pointer for d in result.differences if d.kind is S)
    assert removed == ["/allow_major_version_upgrade", "/restore_to_point_in_time", "/tags_all"]
    assert {d.detail for d in result.differences if d.kind is S} == {
        "attribute removed in 2.70.0; its value leaves the state"
    }


def test_same_version_twice_has_no_difference() -> None:
    current, _, state = load("legacy-oob")
    result = compare_stack("legacy", PROVIDER, OLD, OLD, current, current, state, salt=SALT)
    assert result.outcome is ComparisonOutcome.SAFE
    assert result.differences == []
    assert result.drift == [
        DriftUnderBoth(
            address="aws_s3_bucket.archive", resourceType="aws_s3_bucket", pointers=["/tags/owner"]
        )
    ]


def test_deterministic() -> None:
    first = [render_json(compared(name)) for name in ("legacy", "legacy-oob", "rds")]
    second = [render_json(compared(name)) for name in ("legacy", "legacy-oob", "rds")]
    assert first == second
    for name in ("legacy", "legacy-oob", "rds"):
        differences = compared(name).differences
        assert differences == sorted(differences, key=lambda d: (d.address, d.pointer))


# --- behaviour on edited plans ---------------------------------------------------------


def _with_actions(plan: PlanView, address: str, actions: tuple[str, ...]) -> PlanView:
    changes = [
        dataclasses.replace(entry, actions=actions) if entry.address == address else entry
        for entry in plan.resource_changes
    ]
    return dataclasses.replace(plan, resource_changes=changes)


def test_another_action_is_a_whole_resource_behaviour_difference() -> None:
    current, target, state = load("legacy")
    target = _with_actions(target, "aws_security_group.archive", ("delete", "create"))
    result = compare_stack("legacy", PROVIDER, OLD, NEW, current, target, state, salt=SALT)

    assert result.outcome is ComparisonOutcome.BEHAVIOUR
    (whole,) = [d for d in result.differences if d.kind is B]
    assert (whole.address, whole.pointer) == ("aws_security_group.archive", "")
    assert whole.detail == ("3.39.0 plans replace (delete, then create) where 2.70.0 plans no-op")


def test_a_resource_in_one_plan_only_is_a_behaviour_difference() -> None:
    current, target, state = load("legacy")
    target = dataclasses.replace(
        target,
        resource_changes=[
            e for e in target.resource_changes if e.address != "aws_iam_role_policy.archive_write"
        ],
    )
    result = compare_stack("legacy", PROVIDER, OLD, NEW, current, target, state, salt=SALT)
    (whole,) = [d for d in result.differences if d.kind is B]
    assert (whole.address, whole.pointer) == ("aws_iam_role_policy.archive_write", "")
    assert "not in its plan" in whole.detail
    assert whole.targetActions == []


def test_drift_under_both_set_back_to_another_value_is_a_behaviour_difference() -> None:
    current, target, state = load("legacy-oob")
    address = "aws_s3_bucket.archive"
    changes = []
    for entry in target.resource_changes:
        if entry.address == address:
            after = copy.deepcopy(entry.after)
            after["tags"]["owner"] = "other-team"
            entry = dataclasses.replace(entry, after=after)
        changes.append(entry)
    target = dataclasses.replace(target, resource_changes=changes)
    result = compare_stack("legacy-oob", PROVIDER, OLD, NEW, current, target, state, salt=SALT)

    assert result.outcome is ComparisonOutcome.BEHAVIOUR
    (behaviour,) = [d for d in result.differences if d.kind is B]
    assert (behaviour.address, behaviour.pointer) == (address, "/tags/owner")
    assert (behaviour.current, behaviour.target) == ("team-data", "other-team")
    assert behaviour.detail == "3.39.0 plans another value than 2.70.0"
    assert [d.pointers for d in result.drift] == [["/tags/owner"]]


# --- could not compare -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ({"errored": True}, "the plan under 3.39.0 errored"),
        ({"complete": False}, "the plan under 3.39.0 is incomplete"),
        ({"has_resource_changes": False, "resource_changes": []}, "no resource_changes"),
    ],
)
def test_a_plan_that_cannot_be_compared_is_an_error(edit: dict[str, Any], reason: str) -> None:
    current, target, state = load("legacy")
    target = dataclasses.replace(target, **edit)
    result = compare_stack("legacy", PROVIDER, OLD, NEW, current, target, state, salt=SALT)
    assert result.outcome is ComparisonOutcome.ERROR
    assert result.reason is not None and reason in result.reason
    assert result.differences == [] and result.drift == []


def test_another_provider_compares_nothing_and_says_so() -> None:
    current, target, state = load("legacy")
    result = compare_stack(
        "legacy", "hashicorp/google", OLD, NEW, current, target, state, salt=SALT
    )
    assert result.outcome is ComparisonOutcome.ERROR
    assert result.reason == (
        "neither plan has a managed resource of hashicorp/google; nothing compared"
    )


def test_provider_matching() -> None:
    name = "registry.terraform.io/hashicorp/aws"
    assert provider_matches(name, "hashicorp/aws")
    assert provider_matches(name, "registry.terraform.io/hashicorp/aws")
    assert not provider_matches(name, "hashicorp/awscc")
    assert not provider_matches("registry.terraform.io/hashicorp/awscc", "hashicorp/aws")
    assert not provider_matches(name, "")


def test_salt_is_required() -> None:
    current, target, state = load("legacy")
    with pytest.raises(ValueError, match="salt"):
        compare_stack("legacy", PROVIDER, OLD, NEW, current, target, state, salt=b"")


# --- suggestions -------------------------------------------------------------------------


def all_three() -> list[StackComparison]:
    return [compared(name) for name in ("legacy", "legacy-oob", "rds")]


def test_suggestions_group_by_type_and_paths() -> None:
    suggestions = suggest_rules(all_three(), today=TODAY)

    assert [(s.resourceType, s.paths, s.stacks) for s in suggestions] == [
        ("aws_iam_role", ["/tags_all"], ["legacy", "legacy-oob"]),
        (
            "aws_rds_cluster",
            ["/allow_major_version_upgrade", "/restore_to_point_in_time", "/tags_all"],
            ["rds"],
        ),
        ("aws_s3_bucket", ["/tags_all"], ["legacy", "legacy-oob"]),
        ("aws_security_group", ["/name_prefix", "/tags_all"], ["legacy", "legacy-oob"]),
    ]
    for suggestion in suggestions:
        assert suggestion.review is True
        assert suggestion.owner == OWNER_PLACEHOLDER
        assert suggestion.expires == date(2026, 5, 30)
        assert (suggestion.expires - TODAY).days == SUGGESTION_DAYS
        assert "hashicorp/aws 2.70.0 -> 3.39.0" in suggestion.reason
        assert re.match(NAME_PATTERN, suggestion.id)
    assert len({s.id for s in suggestions}) == len(suggestions)


def test_suggestions_are_scoped_to_the_one_stack_that_showed_them() -> None:
    by_type = {s.resourceType: s for s in suggest_rules(all_three(), today=TODAY)}

    rds = by_type["aws_rds_cluster"]
    assert rds.stack == "rds"
    assert rds.ignore_rule().match.scoped
    assert "/scaling_configuration" not in rds.paths  # behaviour is never ignored
    bucket = by_type["aws_s3_bucket"]
    assert bucket.stack is None
    assert not bucket.ignore_rule().match.scoped
    assert any("scope it" in note and "refuses unscoped" in note for note in bucket.notes)


def test_critical_fields_are_withheld_from_suggestions() -> None:
    role = next(
        s for s in suggest_rules(all_three(), today=TODAY) if s.resourceType == "aws_iam_role"
    )
    assert role.paths == ["/tags_all"]
    assert role.withheld == ["/inline_policy", "/managed_policy_arns"]
    assert sum(note.startswith("not suggested: ") for note in role.notes) == 2


def test_representation_only_suggestion_says_normalization_covers_it() -> None:
    legacy = compared("legacy")
    only_name_prefix = legacy.model_copy(
        update={"differences": [d for d in legacy.differences if d.kind is R]}
    )
    (suggestion,) = suggest_rules([only_name_prefix], today=TODAY)
    assert suggestion.paths == ["/name_prefix"]
    assert suggestion.kinds == [R]
    assert any("normalization already treats" in note for note in suggestion.notes)
    assert "representation difference (/name_prefix)" in suggestion.reason


# --- the report ------------------------------------------------------------------------


def test_report_summary_and_exit_codes() -> None:
    report = build_report(PROVIDER, NEW, list(reversed(all_three())), generated_at=NOW, today=TODAY)
    assert [r.stack for r in report.results] == ["legacy", "legacy-oob", "rds"]
    assert report.summary == ProviderDiffSummary(
        safe=["legacy", "legacy-oob"], behaviour=["rds"], error=[]
    )
    assert report.exit_code() is ExitCode.DRIFT

    safe = build_report(PROVIDER, NEW, all_three()[:2], generated_at=NOW, today=TODAY)
    assert safe.exit_code() is ExitCode.OK

    current, target, state = load("legacy")
    broken = compare_stack(
        "broken",
        PROVIDER,
        OLD,
        NEW,
        current,
        dataclasses.replace(target, errored=True),
        state,
        salt=SALT,
    )
    failed = build_report(PROVIDER, NEW, [*all_three(), broken], generated_at=NOW, today=TODAY)
    assert failed.summary.error == ["broken"]
    assert failed.exit_code() is ExitCode.FAILED


def test_report_refuses_a_summary_that_disagrees_with_the_results() -> None:
    with pytest.raises(ValidationError, match="summary"):
        ProviderDiffReport(
            generatedAt=NOW,
            provider=PROVIDER,
            toVersion=NEW,
            results=all_three(),
            summary=ProviderDiffSummary(safe=["legacy"]),
        )


def test_report_json_is_deterministic_and_holds_no_secret() -> None:
    first = render_json(build_report(PROVIDER, NEW, all_three(), generated_at=NOW, today=TODAY))
    second = render_json(build_report(PROVIDER, NEW, all_three(), generated_at=NOW, today=TODAY))
    assert first == second
    assert PASSWORD not in first
    assert json.loads(first)["kind"] == "ProviderDiffReport"
