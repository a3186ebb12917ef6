"""`iacdrift repair apply` on the sandbox, real Terraform and provider: an incident
revert carried out by a person and verified; a deleted bucket recreated; a stale or
edited plan refused; a verification failure rolls the state back. Stack directories
are unchanged byte for byte after every repair without --write-code."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from iacdrift.core.reconcile.patch import apply_unified_diff
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
    out = tmp_path / "applied"
    code, done, stderr = apply_plan(sandbox_project, plan_path, "--yes", "--out", str(out))
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
    # No plan file left anywhere in the project; --out has the redacted JSON only.
    assert not list(sandbox_project.root.rglob("*.tfplan"))
    assert not list(out.rglob("*.tfplan"))
    redacted = json.loads((out / f"prod-network.{step.id}.plan.json").read_text())
    assert [c["address"] for c in redacted["resource_changes"]] == step.addresses
    assert "variables" not in redacted
    assert json.loads((out / "prod-network.repair-apply.json").read_text())["result"] == "repaired"


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


RECREATE_ROW = """rows:
  - match: {driftClass: STATE_DRIFT, domain: storage}
    recommendedAction: REVERT
    reason: our buckets are recreated from code; their data comes back from backup
"""


def test_a_deleted_bucket_is_recreated(sandbox_project: Project, tmp_path: Path) -> None:
    """By default a deleted bucket is for a person (STATE_DRIFT -> INVESTIGATE); a team
    whose decision table says to recreate deleted storage gets a REVERT that does."""
    stacks = sandbox_project.root / "stacks"
    before = _tree(stacks)
    decisions = sandbox_project.root / "policies" / "decisions.yaml"
    original = decisions.read_text()
    decisions.write_text(original.replace("rows:\n", RECREATE_ROW, 1))
    try:
        sandbox.drift(sandbox_project, "resource-deleted")
        plan = plan_stack(sandbox_project, "prod-payments", tmp_path)
        _recreate(sandbox_project, plan, tmp_path)
    finally:
        decisions.write_text(original)
    assert _tree(stacks) == before


def _recreate(sandbox_project: Project, plan: RepairPlan, tmp_path: Path) -> None:
    reverts = [s for s in plan.steps if s.action in (Action.REVERT, Action.INCIDENT_AND_REVERT)]
    assert reverts, plan.model_dump_json(indent=1)
    assert [s.addresses for s in reverts] == [['module.bucket["ledger"].aws_s3_bucket.this']]
    code, done, stderr = apply_plan(
        sandbox_project, tmp_path / "prod-payments.repair.json", "--yes"
    )
    assert code == 0, (stderr, done.model_dump_json(indent=1))
    assert done.verification is not None and done.verification.passed
    (record,) = [r for r in done.steps if r.stepId == reverts[0].id]
    assert any(line.endswith(": create") for line in record.expectedPlan), record
    code, after = check_json(sandbox_project, "prod-payments")
    assert findings_of(after, "prod-payments") == []


def test_an_approved_change_becomes_a_patch_that_plans_clean(
    sandbox_project: Project, tmp_path: Path
) -> None:
    stacks = sandbox_project.root / "stacks"
    before = _tree(stacks)
    report = sandbox.drift(sandbox_project, "approved-change")
    try:
        (record_path,) = report.change_records
        record_id = yaml.safe_load(record_path.read_text())["id"]
        plan = plan_stack(sandbox_project, "prod-payments", tmp_path)
        (step,) = [s for s in plan.steps if s.action is Action.UPDATE_CODE]
        assert step.status is StepStatus.NEEDS_CODE_CHANGE
        assert step.artifact is not None and step.artifact.kind.value == "code-patch"
        patch = (tmp_path / f"prod-payments.{step.id}.patch").read_text()
        assert patch == step.artifact.text
        assert '-    ledger   = { data_class = "confidential", versioning = true }' in patch
        assert '+    ledger   = { data_class = "restricted", versioning = true }' in patch
        body = (tmp_path / f"prod-payments.{step.id}.pr.md").read_text()
        assert record_id in body and "team-payments" in body

        # Without --write-code the step is a PR: skipped, nothing changes.
        code, dry, _ = apply_plan(sandbox_project, tmp_path / "prod-payments.repair.json")
        assert code == 2 and dry.result.value == "nothing-to-do", dry
        assert "needs a code change (PR)" in (dry.steps[0].detail or "")

        # The patch applied to a copy of the stacks: that copy plans clean.
        copy = tmp_path / "copy"
        shutil.copytree(stacks, copy, symlinks=True)
        files = {
            str(p.relative_to(copy)): p.read_text()
            for p in copy.rglob("*.tf")
            if not p.is_symlink()
        }
        for path, text in apply_unified_diff(files, patch).items():
            (copy / path).write_text(text)
        code, checked = check_json(sandbox_project, str(copy / "prod-payments"))
        (result,) = checked["results"]
        assert result["planOutcome"] == "NO_CHANGES", result["findings"]
        assert _tree(stacks) == before

        # --write-code: the patch goes into the stack (what merging the PR does) and a
        # refresh-only apply records the value: Git, state and cloud agree.
        main_tf = stacks / "prod-payments" / "main.tf"
        original = main_tf.read_bytes()
        try:
            code, done, stderr = apply_plan(
                sandbox_project, tmp_path / "prod-payments.repair.json", "--yes", "--write-code"
            )
            assert code == 0, (stderr, done.model_dump_json(indent=1))
            assert done.codeWritten == ["main.tf"]
            assert done.verification is not None and done.verification.passed
            assert b'data_class = "restricted"' in main_tf.read_bytes()
            code, after = check_json(sandbox_project, "prod-payments")
            assert findings_of(after, "prod-payments") == []
        finally:
            main_tf.write_bytes(original)
    finally:
        heal(sandbox_project, "approved-change")
        for path in report.change_records:
            path.unlink()


def _move_back(project: Project, tmp_path: Path) -> None:
    """After the rename was repaired and the file restored: move the state back the
    same way (a rename in the other direction)."""
    out = tmp_path / "back"
    plan = plan_stack(project, "staging-app", out)
    if any(s.action is Action.MOVE for s in plan.steps):
        code, done, stderr = apply_plan(project, out / "staging-app.repair.json", "--yes")
        assert code == 0, (stderr, done.model_dump_json(indent=1))


def test_a_renamed_resource_gets_a_moved_block_and_no_destroy(
    sandbox_project: Project, tmp_path: Path
) -> None:
    stacks = sandbox_project.root / "stacks"
    report = sandbox.drift(sandbox_project, "resource-renamed")
    assert report.edited
    try:
        committed = _tree(stacks)  # the rename, as a commit left it
        plan = plan_stack(sandbox_project, "staging-app", tmp_path)
        (move,) = [s for s in plan.steps if s.action is Action.MOVE]
        assert move.status is StepStatus.READY
        assert move.artifact is not None
        assert "from = module.assets.aws_s3_bucket.this" in move.artifact.text
        assert "to   = module.static_assets.aws_s3_bucket.this" in move.artifact.text

        code, done, stderr = apply_plan(
            sandbox_project, tmp_path / "staging-app.repair.json", "--yes"
        )
        assert code == 0, (stderr, done.model_dump_json(indent=1))
        (record,) = [r for r in done.steps if r.stepId == move.id]
        assert record.expectedPlan == [
            "module.static_assets.aws_s3_bucket.this: move (from module.assets.aws_s3_bucket.this)"
        ]
        assert done.verification is not None and done.verification.passed
        # The next plan destroys nothing: it has no changes at all.
        code, after = check_json(sandbox_project, "staging-app")
        (result,) = after["results"]
        assert result["planOutcome"] == "NO_CHANGES", result["findings"]
        # The moved block went into the scratch copy only.
        assert _tree(stacks) == committed
    finally:
        heal(sandbox_project, "resource-renamed")
        _move_back(sandbox_project, tmp_path)
    code, again = check_json(sandbox_project, "staging-app")
    assert again["results"][0]["planOutcome"] == "NO_CHANGES"


RUN_SCHEMA = json.loads((ROOT / "schemas" / "run-report.schema.json").read_text())


def test_auto_heal_reverts_the_staging_tag_and_never_the_prod_incident(
    sandbox_project: Project,
) -> None:
    stacks = sandbox_project.root / "stacks"
    before = _tree(stacks)
    sandbox.drift(sandbox_project, "staging-bucket-tag")
    sandbox.drift(sandbox_project, "sg-open-ssh")
    try:
        args = ("run", "--stack", "staging-app", "--stack", "prod-network")
        code, stdout, _ = run_cli(
            sandbox_project, *args, "--auto-heal", "--no-notify", "--format", "json"
        )
        report = json.loads(stdout)
        assert code == 2, json.dumps(
            [(r["stack"], r["status"], r.get("reason")) for r in report["results"]]
        ) + json.dumps(report["heals"])
        jsonschema.validate(report, RUN_SCHEMA)
        (healed,) = report["heals"]
        assert healed["stack"] == "staging-app", report["heals"]
        assert healed["outcome"] == "healed", healed
        assert healed["addresses"] == ["module.assets.aws_s3_bucket.this"]
        assert healed["verification"]["passed"] is True
        assert healed["changeRecords"]
        network = next(r for r in report["results"] if r["stack"] == "prod-network")
        assert any(f["recommendedAction"] == "INCIDENT_AND_REVERT" for f in network["findings"])
        # The incident is still there for a person: the next run finds it, staging is clean.
        code, stdout, _ = run_cli(sandbox_project, *args, "--no-notify", "--format", "json")
        again = {r["stack"]: r for r in json.loads(stdout)["results"]}
        assert again["staging-app"]["status"] == "CLEAN", again["staging-app"]["findings"]
        assert again["prod-network"]["status"] == "DRIFTED"
        assert _tree(stacks) == before
    finally:
        heal(sandbox_project, "sg-open-ssh")
        heal(sandbox_project, "staging-bucket-tag")


def test_an_unmanaged_bucket_is_imported_with_generated_config(
    sandbox_project: Project, tmp_path: Path
) -> None:
    """Last in the module: the imported bucket stays managed by staging-app."""
    stack_dir = sandbox_project.root / "stacks" / "staging-app"
    before = _tree(stack_dir)
    sandbox.drift(sandbox_project, "unmanaged-importable")
    plan = plan_stack(sandbox_project, "staging-app", tmp_path)
    (step,) = [s for s in plan.steps if s.action is Action.IMPORT]
    assert step.status is StepStatus.NEEDS_CODE_CHANGE
    assert step.addresses == ["aws_s3_bucket.iacdrift-demo-staging-uploads"]
    plan_path = tmp_path / "staging-app.repair.json"

    # Without --write-code: a code change (PR), nothing done, the stack untouched.
    code, dry, _ = apply_plan(sandbox_project, plan_path, "--yes")
    assert code == 2 and dry.result.value == "nothing-to-do", dry
    assert _tree(stack_dir) == before

    code, done, stderr = apply_plan(sandbox_project, plan_path, "--yes", "--write-code")
    assert code == 0, (stderr, done.model_dump_json(indent=1))
    assert done.verification is not None and done.verification.passed
    suffix = plan.planId.removeprefix("rp-")
    assert sorted(done.codeWritten) == [
        f"iacdrift_generated_{suffix}.tf",
        f"iacdrift_repair_{suffix}.tf",
    ]
    generated = (stack_dir / f"iacdrift_generated_{suffix}.tf").read_text()
    assert 'resource "aws_s3_bucket" "iacdrift-demo-staging-uploads"' in generated
    assert "= null" not in generated
    code, after = check_json(sandbox_project, "staging-app")
    (result,) = after["results"]
    assert result["planOutcome"] == "NO_CHANGES", result["findings"]
    code, stdout, stderr = run_cli(
        sandbox_project, "run", "--stack", "staging-app", "--no-notify", "--format", "json"
    )
    estate = json.loads(stdout)["estateFindings"]
    assert not [f for f in estate if "staging-uploads" in f["resourceRef"]], estate
