"""Provider upgrades on the sandbox: legacy-storage, applied with hashicorp/aws 2.70.0,
moved to 3.39.0 by the `provider-upgraded` scenario (a Renovate-style commit). The
first check after the upgrade is CLEAN with only provider-read noise naming the
upgrade; a real change on top is DRIFTED with exactly that finding alerted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project
from iacdrift.sandbox.scenarios import LEGACY_BUCKET, LEGACY_STACK
from tests.e2e.test_check import check_json, s3
from tests.e2e.test_sandbox_scenarios import heal

pytestmark = pytest.mark.e2e

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
