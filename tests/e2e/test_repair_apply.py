"""`iacdrift repair apply` on the sandbox, real Terraform and provider: an incident
revert carried out by a person and verified; a deleted bucket recreated; a stale or
edited plan refused; a verification failure rolls the state back. Stack directories
are unchanged byte for byte after every repair without --write-code."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from iacdrift.core.reconcile.plan import files_digest, plan_repairs
from iacdrift.engine.workspace import stack_files
from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project
from iacdrift.models.finding import QUIET_CLASSES, Action, Finding
from iacdrift.models.repair import RepairApplyReport, RepairPlan, StepStatus
from tests.e2e.test_check import check_json, run_cli
from tests.e2e.test_sandbox_scenarios import heal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PLAN_SCHEMA = json.loads((ROOT / "schemas" / "repair-plan.schema.json").read_text())
APPLY_SCHEMA = json.loads((ROOT / "schemas" / "repair-apply-report.schema.json").read_text())


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def plan_stack(project: Project, stack: str, out: Path) -> RepairPlan:
    code, _, stderr = run_cli(project, "repair", "plan", stack, "--out", str(out))
    assert code in (0, 2), stderr
    document = json.loads((out / f"{stack}.repair.json").read_text())
    jsonschema.validate(document, PLAN_SCHEMA)
    return RepairPlan.model_validate(document)


def apply_plan(project: Project, path: Path, *extra: str) -> tuple[int, RepairApplyReport, str]:
    code, stdout, stderr = run_cli(
        project, "repair", "apply", str(path), "--format", "json", *extra
    )
    assert stdout, stderr
    document = json.loads(stdout)
    jsonschema.validate(document, APPLY_SCHEMA)
    return code, RepairApplyReport.model_validate(document), stderr


def findings_of(report: dict[str, Any], stack: str) -> list[dict[str, Any]]:
    (result,) = [r for r in report["results"] if r["stack"] == stack]
    return [f for f in result["findings"] if f["driftClass"] not in QUIET and not f["suppressed"]]


QUIET = {c.value for c in QUIET_CLASSES}


def change_records(project: Project) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted((project.root / "changes").glob("repair-*.yaml")):
        document = yaml.safe_load(path.read_text())
        found[document["id"]] = document
    return found


def test_open_ssh_is_reverted_by_a_person_and_verified(
    sandbox_project: Project, tmp_path: Path
) -> None:
    stacks = sandbox_project.root / "stacks"
    before = _tree(stacks)
    sandbox.drift(sandbox_project, "sg-open-ssh")
    plan = plan_stack(sandbox_project, "prod-network", tmp_path)
    (step,) = [s for s in plan.steps if s.action is Action.INCIDENT_AND_REVERT]
    assert step.status is StepStatus.NEEDS_PERSON

    # Dry run: the step's own targeted plan, nothing changed.
    plan_path = tmp_path / "prod-network.repair.json"
    code, dry, stderr = apply_plan(sandbox_project, plan_path)
    assert code == 2, stderr
    assert dry.dryRun and dry.result.value == "dry-run"
    (planned,) = [r for r in dry.steps if r.stepId == step.id]
    assert planned.outcome.value == "planned"
    assert planned.expectedPlan == [f"{step.addresses[0]}: update"]
    code, still = check_json(sandbox_project, "prod-network")
    assert any(
        f["recommendedAction"] == "INCIDENT_AND_REVERT" for f in findings_of(still, "prod-network")
    )

    # --yes: reverted under the lease, recorded, verified.
    code, done, stderr = apply_plan(sandbox_project, plan_path, "--yes")
    assert code == 0, (stderr, done)
    assert done.result.value == "repaired"
    assert done.snapshotVersionId
    assert done.verification is not None and done.verification.passed
    (record,) = [r for r in done.steps if r.stepId == step.id]
    assert record.outcome.value == "done"
    records = change_records(sandbox_project)
    assert records[record.changeRecord]["outcome"] == "succeeded"
    assert records[record.changeRecord]["type"] == "apply"
    code, after = check_json(sandbox_project, "prod-network")
    assert findings_of(after, "prod-network") == []
    assert _tree(stacks) == before
    # No plan file left anywhere in the project.
    assert not list(sandbox_project.root.rglob("*.tfplan"))


def test_a_stale_or_edited_plan_is_refused(sandbox_project: Project, tmp_path: Path) -> None:
    sandbox.drift(sandbox_project, "bucket-tag")
    try:
        plan = plan_stack(sandbox_project, "prod-payments", tmp_path)
        plan_path = tmp_path / "prod-payments.repair.json"

        edited = plan.model_dump(mode="json")
        edited["steps"][0]["addresses"] = ["aws_s3_bucket.other"]
        (tmp_path / "edited.json").write_text(json.dumps(edited))
        code, _, stderr = run_cli(
            sandbox_project, "repair", "apply", str(tmp_path / "edited.json"), "--yes"
        )
        assert code == 1 and "edited after planning" in stderr

        main_tf = sandbox_project.root / "stacks" / "prod-payments" / "main.tf"
        original = main_tf.read_bytes()
        main_tf.write_bytes(original + b"\n# a commit since planning\n")
        try:
            code, report, stderr = apply_plan(sandbox_project, plan_path, "--yes")
        finally:
            main_tf.write_bytes(original)
        assert code == 1
        assert report.result.value == "refused"
        assert "stale" in (report.reason or "") and "files changed" in (report.reason or "")
        assert report.snapshotVersionId is None  # refused before anything
    finally:
        heal(sandbox_project, "bucket-tag")


def test_a_failed_verification_rolls_the_state_back(
    sandbox_project: Project, tmp_path: Path
) -> None:
    """A refresh-only apply of a tag the code does not say (as if a change record had
    accepted it): the verification check finds the code and the state now disagree, so
    the state is put back to the snapshot and the drift reads as it did before."""
    stack = "prod-payments"
    sandbox.drift(sandbox_project, "bucket-tag")
    try:
        code, report = check_json(sandbox_project, stack)
        (result,) = report["results"]
        (drift,) = findings_of(report, stack)
        finding = Finding.model_validate(drift).model_copy(
            update={"recommendedAction": Action.REFRESH, "changeRecords": ["CHG-accepted"]}
        )
        plan = plan_repairs(
            stack,
            [finding],
            files_digest=files_digest(stack_files(sandbox_project.root / "stacks" / stack)),
            state_lineage=result["stateLineage"],
            state_serial=result["stateSerial"],
        )
        path = tmp_path / "refresh.json"
        path.write_text(plan.model_dump_json())
        code, done, _ = apply_plan(sandbox_project, path, "--yes")
        assert code == 1, done
        assert done.result.value == "rolled-back", done.model_dump_json(indent=1)
        assert done.verification is not None and not done.verification.passed
        assert done.verification.new, done.verification
        assert any("put back to version" in item for item in done.rolledBack)
        (step,) = [r for r in done.steps if r.action is Action.REFRESH]
        assert step.outcome.value == "rolled-back"
        code, after = check_json(sandbox_project, stack)
        (again,) = after["results"]
        assert again["stateLineage"] == result["stateLineage"]
        assert again["stateSerial"] > result["stateSerial"]
        assert [f["findingId"] for f in findings_of(after, stack)] == [drift["findingId"]]
    finally:
        heal(sandbox_project, "bucket-tag")
