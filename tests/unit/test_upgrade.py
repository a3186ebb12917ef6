"""core.upgrade: what a provider upgrade explains, on the plan of a stack applied with
hashicorp/aws 2.70.0 and planned with 3.39.0 (captured from real runs: see
tests/fixtures/provider_diff/)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from iacdrift.core.normalize import provider_defaults
from iacdrift.core.planes import Divergence, analyze
from iacdrift.core.terraform_json import read_plan, read_state
from iacdrift.core.upgrade import (
    ProviderUpgrade,
    explain,
    recorded_by_address,
    short_provider,
    upgrades,
)
from iacdrift.models.finding import ChangedField, Relationship

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "provider_diff"
SALT = b"test-salt"
AWS = "registry.terraform.io/hashicorp/aws"
NOW = {AWS: "3.39.0"}


def load(case: str, name: str) -> Any:
    return json.loads((FIXTURES / case / name).read_text())


def divergences(case: str, version: str) -> dict[str, Divergence]:
    plan = read_plan(load(case, f"plan-{version}.json"), f"{case} {version}")
    found = analyze(plan, salt=SALT, defaults=provider_defaults("hashicorp/aws", version))
    return {d.address: d for d in found}


def recorded(case: str) -> dict[str, Any]:
    return recorded_by_address(read_state(load(case, "state.json"), case).resources)


def test_first_read_attributes_with_a_no_op_plan_are_noise_naming_the_upgrade() -> None:
    found = divergences("legacy", "3.39.0")
    state = recorded("legacy")
    history = upgrades(NOW, [{AWS: "2.70.0"}])
    results = {a: explain(d, state.get(a), history, NOW) for a, d in found.items()}
    assert set(results) == {
        "aws_iam_role.archiver",
        "aws_s3_bucket.archive",
        "aws_security_group.archive",
    }
    for address, result in results.items():
        assert result.reason is not None
        assert result.reason.startswith("provider upgrade hashicorp/aws 2.70.0 -> 3.39.0: ")
        if address == "aws_iam_role.archiver":
            continue
        assert result.divergence.relationship is Relationship.NOISE_ONLY, address
        assert result.divergence.changed_fields == ()
    bucket = results["aws_s3_bucket.archive"]
    assert bucket.moved == ("/tags_all/data-class", "/tags_all/owner", "/tags_all/retention")
    assert "tags_all read for the first time" in (bucket.reason or "")
    # The role's inline_policy is an aggregate: never the upgrade's to hide. It stays for
    # core.aggregates (which the check runs first: aws_iam_role_policy explains it).
    role = results["aws_iam_role.archiver"]
    assert role.moved == ("/tags_all/owner",)
    assert [f.pointer for f in role.divergence.changed_fields] == ["/inline_policy/0"]
    assert role.divergence.relationship is Relationship.RECORDED_NE_ACTUAL


def test_a_policy_attached_by_hand_is_never_upgrade_noise() -> None:
    """managed_policy_arns is read for the first time after 2.x -> 3.x, exactly as a
    policy attached by hand would read: a privilege aggregate stays drift."""
    found = divergences("legacy", "3.39.0")
    state = recorded("legacy")
    role = found["aws_iam_role.archiver"]
    attached = ChangedField(
        pointer="/managed_policy_arns/0",
        before=None,
        after="arn:aws:iam::aws:policy/AdministratorAccess",
    )
    role = dataclasses.replace(
        role,
        changed_fields=(*role.changed_fields, attached),
    )
    result = explain(role, state["aws_iam_role.archiver"], upgrades(NOW, [{AWS: "2.70.0"}]), NOW)
    assert "/managed_policy_arns/0" in [f.pointer for f in result.divergence.changed_fields]
    assert result.divergence.relationship is Relationship.RECORDED_NE_ACTUAL


def test_a_state_without_attributes_proves_nothing() -> None:
    """A Terraform 0.11 state keeps attributes_flat: no attribute names to compare."""
    found = divergences("legacy", "3.39.0")
    bucket = found["aws_s3_bucket.archive"]
    flat = dataclasses.replace(recorded("legacy")["aws_s3_bucket.archive"], attribute_names=())
    result = explain(bucket, flat, upgrades(NOW, [{AWS: "2.70.0"}]), NOW)
    assert result.divergence is bucket and result.reason is None


def test_without_history_the_earlier_version_is_not_named() -> None:
    found = divergences("legacy", "3.39.0")
    state = recorded("legacy")
    result = explain(found["aws_s3_bucket.archive"], state["aws_s3_bucket.archive"], {}, NOW)
    assert result.divergence.relationship is Relationship.NOISE_ONLY
    assert (result.reason or "").startswith(
        "provider upgrade hashicorp/aws an earlier version -> 3.39.0: tags_all"
    )


def test_a_real_change_on_the_same_resource_stays_drift_and_out_of_band() -> None:
    found = divergences("legacy-oob", "3.39.0")
    state = recorded("legacy-oob")
    bucket = found["aws_s3_bucket.archive"]
    # Before: the first-read tags_all keeps the plan from "restoring" what was recorded.
    assert bucket.relationship is Relationship.DESIRED_NE_ACTUAL
    result = explain(bucket, state["aws_s3_bucket.archive"], upgrades(NOW, [{AWS: "2.70.0"}]), NOW)
    assert result.divergence.relationship is Relationship.OUT_OF_BAND
    assert [(f.pointer, f.before, f.after) for f in result.divergence.changed_fields] == [
        ("/tags/owner", "team-data", "someone-else")
    ]
    assert {f.pointer for f in result.divergence.noise_fields} >= {"/tags_all/owner"}
    assert result.moved and result.reason is not None


def test_no_upgrade_evidence_changes_nothing() -> None:
    found = divergences("legacy", "3.39.0")
    bucket = found["aws_s3_bucket.archive"]
    # The state already holds tags_all (written by 3.x): a tags_all change is drift.
    written_by_3x = recorded("legacy")["aws_s3_bucket.archive"]
    written_by_3x = type(written_by_3x)(
        **{
            **{k: getattr(written_by_3x, k) for k in written_by_3x.__slots__},
            "attribute_names": (*written_by_3x.attribute_names, "tags_all"),
        }
    )
    result = explain(bucket, written_by_3x, {}, NOW)
    assert result.divergence is bucket
    assert result.reason is None
    # Not recorded at all: nothing is read "for the first time".
    assert explain(bucket, None, {}, NOW).divergence is bucket


def test_the_new_provider_planning_a_change_is_not_noise() -> None:
    """Rule 4: first-read fields only, but the plan updates the resource."""
    found = divergences("legacy", "3.39.0")
    state = recorded("legacy")
    bucket = dataclasses.replace(found["aws_s3_bucket.archive"], planned_actions=("update",))
    result = explain(bucket, state["aws_s3_bucket.archive"], {}, NOW)
    assert result.divergence is bucket and result.reason is None


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([], {}),
        ([{AWS: "3.39.0"}], {}),
        (
            [{AWS: "2.70.0"}],
            {"hashicorp/aws": ProviderUpgrade("hashicorp/aws", "2.70.0", "3.39.0")},
        ),
        (
            [{AWS: "3.39.0"}, {AWS: "2.70.0"}],
            {
                "hashicorp/aws": ProviderUpgrade(
                    "hashicorp/aws", "2.70.0", "3.39.0", since_last_check=False
                )
            },
        ),
        (
            [{"registry.opentofu.org/hashicorp/aws": "2.70.0"}],
            {"hashicorp/aws": ProviderUpgrade("hashicorp/aws", "2.70.0", "3.39.0")},
        ),
    ],
)
def test_upgrades_from_the_run_history(
    history: list[dict[str, str]], expected: dict[str, ProviderUpgrade]
) -> None:
    assert upgrades(NOW, history) == expected


def test_short_provider_names() -> None:
    assert short_provider(AWS) == "hashicorp/aws"
    assert short_provider('provider["registry.terraform.io/hashicorp/aws"].west') == "hashicorp/aws"
    assert short_provider("hashicorp/aws") == "hashicorp/aws"


def test_defaults_are_keyed_by_provider_and_version() -> None:
    """Observed: 2.70.0 defaults a serverless cluster's min_capacity to 2, 3.39.0 to 1."""
    key = ("scaling_configuration", "*", "min_capacity")
    assert provider_defaults("hashicorp/aws", "2.70.0")["aws_rds_cluster"][key] == 2
    assert (
        provider_defaults("registry.terraform.io/hashicorp/aws", "3.39.0")["aws_rds_cluster"][key]
        == 1
    )
    assert provider_defaults("hashicorp/aws", None)["aws_rds_cluster"][key] == 1
    assert provider_defaults("hashicorp/google", "5.0.0") == {}
    # Shared by both versions.
    assert provider_defaults("hashicorp/aws", "2.70.0")["aws_iam_role"][("path",)] == "/"
