"""Provider upgrades on the sandbox: legacy-storage, applied with hashicorp/aws 2.70.0,
moved to 3.39.0 by the `provider-upgraded` scenario (a Renovate-style commit). The
first check after the upgrade is CLEAN with only provider-read noise naming the
upgrade; a real change on top is DRIFTED with exactly that finding alerted."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from iacdrift.aws.session import Target, client
from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project, load_project
from iacdrift.models.policy import IgnoreRule
from iacdrift.sandbox.identity import sandbox_credentials
from iacdrift.sandbox.scenarios import LEGACY_BUCKET, LEGACY_STACK
from tests.e2e.test_check import check_json, run_cli, s3
from tests.e2e.test_sandbox_scenarios import heal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
STATE_BUCKET = "iacdrift-sandbox-tfstate"
UPGRADE = "provider upgrade hashicorp/aws 2.70.0 -> 3.39.0"
LEGACY_TAGS = {"owner": "team-data", "data-class": "internal", "retention": "7y"}


def put_tags(project: Project, tags: dict[str, str]) -> None:
    s3(project).put_bucket_tagging(
        Bucket=LEGACY_BUCKET,
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
    )


@pytest.fixture
def upgraded(sandbox_project: Project) -> Iterator[Project]:
    """legacy-storage checked once under 2.70.0 (the run history then knows the version
    it ran), then upgraded; afterwards its code and tags are put back."""
    code, report = check_json(sandbox_project, LEGACY_STACK)
    assert code == 0, report
    assert report["results"][0]["providers"] == {"registry.terraform.io/hashicorp/aws": "2.70.0"}
    sandbox.drift(sandbox_project, "provider-upgraded")
    try:
        yield sandbox_project
    finally:
        heal(sandbox_project, "provider-upgraded")
        put_tags(sandbox_project, LEGACY_TAGS)


def _findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    (result,) = report["results"]
    findings: list[dict[str, Any]] = result["findings"]
    return findings


def test_first_check_after_an_upgrade_is_clean_and_a_real_change_on_top_is_drift(
    upgraded: Project,
) -> None:
    code, report = check_json(upgraded, LEGACY_STACK)
    assert code == 0, report
    (result,) = report["results"]
    assert result["status"] == "CLEAN"
    assert result["providers"] == {"registry.terraform.io/hashicorp/aws": "3.39.0"}
    noise = _findings(report)
    assert sorted(f["resourceRef"] for f in noise) == [
        "aws_iam_role.archiver",
        "aws_s3_bucket.archive",
        "aws_security_group.archive",
    ]
    for finding in noise:
        assert finding["driftClass"] == "PROVIDER_READ_NOISE", finding
        assert finding["alert"] is False
        assert finding["changedFields"] == []
        assert finding["reason"].startswith(UPGRADE), finding["reason"]
        assert "tags_all" in finding["reason"]
        assert any(f["pointer"].startswith("/tags_all/") for f in finding["noiseFields"])
    assert result["counts"]["drifted"] == 0 and result["counts"]["noise"] == 3
    # `run` decides the same: nothing pages.
    code, out, err = run_cli(upgraded, "run", "--stack", LEGACY_STACK, "--format", "json")
    assert code == 0, err
    (ran,) = json.loads(out)["results"]
    assert ran["status"] == "CLEAN"
    assert {f["driftClass"] for f in ran["findings"]} == {"PROVIDER_READ_NOISE"}
    assert not any(f["alert"] for f in ran["findings"])
    assert all(f["reason"].startswith(UPGRADE) for f in ran["findings"])

    # A real out-of-band change on top of the upgrade: that finding alone alerts.
    put_tags(upgraded, {**LEGACY_TAGS, "owner": "someone-else"})
    code, report = check_json(upgraded, LEGACY_STACK)
    assert code == 2, report
    assert report["results"][0]["status"] == "DRIFTED"
    alerted = [f for f in _findings(report) if f["alert"]]
    assert len(alerted) == 1, alerted
    (bucket,) = alerted
    assert bucket["resourceRef"] == "aws_s3_bucket.archive"
    assert bucket["relationship"] == "desired==recorded!=actual"  # out of band
    assert bucket["driftClass"] == "UNAUTHORIZED_RUNTIME_DRIFT"
    assert [(f["pointer"], f["before"], f["after"]) for f in bucket["changedFields"]] == [
        ("/tags/owner", "team-data", "someone-else")
    ]
    # The upgrade's first reads stay noise on the drifted resource, and say why.
    assert {f["pointer"] for f in bucket["noiseFields"]} >= {"/tags_all/owner"}
    assert UPGRADE in bucket["reason"]
    others = [f for f in _findings(report) if not f["alert"]]
    assert {f["driftClass"] for f in others} == {"PROVIDER_READ_NOISE"}


# --- provider-diff ------------------------------------------------------------------

DIFF_SCHEMA = json.loads((ROOT / "schemas" / "provider-diff-report.schema.json").read_text())
REPORTS_STACK = "legacy-reports"
TEST_PASSWORD = "not-a-real-password-1"  # tests/fixtures/stacks/legacy-reports/main.tf


def provider_diff(project: Project, *args: str) -> tuple[int, str, str]:
    return run_cli(project, "provider-diff", *args)


def diff_json(project: Project, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = provider_diff(project, *args, "--format", "json")
    assert out, err
    report = json.loads(out)
    jsonschema.validate(report, DIFF_SCHEMA)
    return code, report


def untouched(project: Project) -> dict[str, Any]:
    """What a comparison must leave as it was: the state objects (bytes and S3 version
    ids), every file of the project's stacks/, and the live legacy resources."""
    bucket = s3(project)
    states: dict[str, Any] = {}
    listed = bucket.list_objects_v2(Bucket=STATE_BUCKET).get("Contents", [])
    for item in listed:
        got = bucket.get_object(Bucket=STATE_BUCKET, Key=item["Key"])
        states[item["Key"]] = (got.get("VersionId"), hashlib.sha256(got["Body"].read()).hexdigest())
    files = {
        str(path.relative_to(project.root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((project.root / "stacks").rglob("*"))
        if path.is_file() and ".terraform" not in path.parts
    }
    iam = client("iam", sandbox_credentials(), _target(project))
    ec2 = client("ec2", sandbox_credentials(), _target(project))
    role = iam.get_role(RoleName="legacy-archiver")["Role"]
    live = {
        "tags": bucket.get_bucket_tagging(Bucket=LEGACY_BUCKET)["TagSet"],
        "role": (role["AssumeRolePolicyDocument"], role.get("Tags")),
        "role_policies": iam.list_role_policies(RoleName="legacy-archiver")["PolicyNames"],
        "sg": [
            (g["GroupName"], g["IpPermissions"], g.get("Tags"))
            for g in ec2.describe_security_groups(
                Filters=[{"Name": "group-name", "Values": ["legacy-archive"]}]
            )["SecurityGroups"]
        ],
    }
    return {"states": states, "files": files, "live": live}


def _target(project: Project) -> Target:
    state, _ = sandbox.status(project)
    assert state is not None
    return Target(state.region, state.endpoint_url)


def test_provider_diff_of_the_legacy_stack_is_safe_and_touches_nothing(
    sandbox_project: Project, tmp_path: Path
) -> None:
    before = untouched(sandbox_project)
    suggestions = tmp_path / "upgrade-rules.yaml"
    code, report = diff_json(
        sandbox_project, LEGACY_STACK, "--to", "3.39.0", "--suggestions", str(suggestions)
    )
    assert code == 0, report
    (result,) = report["results"]
    assert (result["stack"], result["outcome"]) == (LEGACY_STACK, "SAFE")
    assert (result["fromVersion"], result["toVersion"]) == ("2.70.0", "3.39.0")
    kinds = {(d["address"], d["pointer"]): d["kind"] for d in result["differences"]}
    assert set(kinds.values()) == {"schema", "representation"}
    assert kinds[("aws_s3_bucket.archive", "/tags_all")] == "schema"
    assert kinds[("aws_security_group.archive", "/name_prefix")] == "representation"
    assert result["drift"] == []
    # Suggested once per resource type, in the policy file format, marked for review.
    text = suggestions.read_text()
    assert "# REVIEW" in text
    rules = [IgnoreRule.model_validate(doc) for doc in yaml.safe_load_all(text) if doc]
    assert {r.match.resourceType for r in rules} >= {"aws_s3_bucket", "aws_security_group"}
    assert all("/tags_all" in r.paths for r in rules if r.match.resourceType == "aws_s3_bucket")
    assert untouched(sandbox_project) == before


def test_provider_diff_keeps_an_out_of_band_change_apart_from_the_upgrade(
    sandbox_project: Project,
) -> None:
    put_tags(sandbox_project, {**LEGACY_TAGS, "owner": "someone-else"})
    try:
        before = untouched(sandbox_project)
        code, report = diff_json(sandbox_project, LEGACY_STACK, "--to", "3.39.0")
        assert untouched(sandbox_project) == before
    finally:
        put_tags(sandbox_project, LEGACY_TAGS)
    assert code == 0, report
    (result,) = report["results"]
    assert result["outcome"] == "SAFE"
    assert result["drift"] == [
        {
            "address": "aws_s3_bucket.archive",
            "resourceType": "aws_s3_bucket",
            "pointers": ["/tags/owner"],
        }
    ]
    assert not [d for d in result["differences"] if d["pointer"].startswith("/tags/")]
    assert {d["kind"] for d in result["differences"]} <= {"schema", "representation"}


@pytest.fixture
def reports_stack(sandbox_project: Project) -> Iterator[Project]:
    """legacy-reports registered and applied with aws 2.70.0; unregistered afterwards
    (the cluster stays in the cloud, in no other stack's way)."""
    stack_dir = sandbox_project.root / "stacks" / REPORTS_STACK
    shutil.copytree(ROOT / "tests" / "fixtures" / "stacks" / REPORTS_STACK, stack_dir)
    (stack_dir / "provider.tf").symlink_to("../shared/aws-provider.tf")
    entry = sandbox_project.root / "registry" / f"{REPORTS_STACK}.yaml"
    legacy = (sandbox_project.root / "registry" / f"{LEGACY_STACK}.yaml").read_text()
    entry.write_text(
        legacy.replace(LEGACY_STACK, REPORTS_STACK).replace(
            "legacy/storage.tfstate", "legacy/reports.tfstate"
        )
    )
    try:
        applied = sandbox.up(load_project(cwd=sandbox_project.root))
        assert REPORTS_STACK in applied.applied
        yield sandbox_project
    finally:
        entry.unlink()
        shutil.rmtree(stack_dir)


def test_a_default_that_changed_is_behaviour_and_all_stacks_are_summarised(
    reports_stack: Project,
) -> None:
    code, out, err = provider_diff(
        reports_stack, REPORTS_STACK, "--to", "3.39.0", "--format", "json"
    )
    assert code == 2, err
    report = json.loads(out)
    jsonschema.validate(report, DIFF_SCHEMA)
    (result,) = report["results"]
    assert result["outcome"] == "BEHAVIOUR"
    behaviour = [d for d in result["differences"] if d["kind"] == "behaviour"]
    assert [(d["address"], d["pointer"], d["current"], d["target"]) for d in behaviour] == [
        ("aws_rds_cluster.reports", "/scaling_configuration/0/min_capacity", 2, 1)
    ]
    assert behaviour[0]["targetActions"] == ["update"]
    assert TEST_PASSWORD not in out and TEST_PASSWORD not in err

    # Every registered stack that requires hashicorp/aws, in parallel: which are safe.
    code, out, err = provider_diff(reports_stack, "--all", "--to", "3.39.0", "--format", "markdown")
    assert code == 2, out + err
    assert TEST_PASSWORD not in out and TEST_PASSWORD not in err
    code, report = diff_json(reports_stack, "--all", "--to", "3.39.0")
    assert code == 2
    summary = report["summary"]
    assert summary["behaviour"] == [REPORTS_STACK]
    assert summary["error"] == []
    assert set(summary["safe"]) == {
        LEGACY_STACK,
        "prod-app",
        "prod-iam",
        "prod-network",
        "prod-payments",
        "staging-app",
    }
    assert f"`{REPORTS_STACK}`" in out or REPORTS_STACK in out


def test_bad_input_is_one_line_and_exit_1(sandbox_project: Project) -> None:
    code, _, err = provider_diff(sandbox_project, "no-such-stack", "--to", "3.39.0")
    assert code == 1 and "no-such-stack" in err
    code, _, err = provider_diff(sandbox_project, "--to", "3.39.0")
    assert code == 1 and "--all" in err
    code, _, err = provider_diff(
        sandbox_project, LEGACY_STACK, "--provider", "aws", "--to", "3.39.0"
    )
    assert code == 1 and "hashicorp/aws" in err
