"""`iacdrift surgery plan` on the sandbox, real Terraform and OpenTofu: operations run
on a private copy of the state, the backend is never touched, the result is compared
with the expectation and bound by the plan id."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iacdrift.aws.session import Target, client
from iacdrift.flows import sandbox
from iacdrift.flows.workbench import Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project
from iacdrift.models.surgery import SurgeryPlan
from iacdrift.sandbox.identity import sandbox_credentials
from tests.e2e.test_check import run_cli
from tests.e2e.test_sandbox_scenarios import heal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "surgery-plan.schema.json").read_text())

RM_ARTIFACTS = """apiVersion: iacdrift.dev/v1
kind: StateMigration
id: forget-artifacts
stack: prod-app
operations:
  - op: rm
    addresses: [module.artifacts.aws_s3_bucket.this]
    reason: the artifacts bucket moves to the build account's stack
expectedPlan:
  - address: module.artifacts.aws_s3_bucket.this
    actions: [create]
"""


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _state_object(project: Project, stack: str) -> tuple[bytes, str]:
    state, _ = sandbox.status(project)
    assert state is not None
    spec = project.get(stack).unit.spec.state
    s3 = client("s3", sandbox_credentials(), Target(state.region, state.endpoint_url))
    response = s3.get_object(Bucket=spec.bucket, Key=spec.key)
    return response["Body"].read(), response["VersionId"]


def _plan(project: Project, path: Path, out: Path) -> tuple[int, SurgeryPlan | None, str]:
    code, stdout, stderr = run_cli(
        project, "surgery", "plan", str(path), "--out", str(out), "--format", "json"
    )
    if not stdout:
        return code, None, stderr
    document = json.loads(stdout)
    jsonschema.validate(document, SCHEMA)
    return code, SurgeryPlan.model_validate(document), stderr


def test_an_rm_is_planned_on_a_copy_and_matches_its_expectation(
    sandbox_project: Project, tmp_path: Path
) -> None:
    stacks = sandbox_project.root / "stacks"
    before_tree = _tree(stacks)
    before_state = _state_object(sandbox_project, "prod-app")
    migration = tmp_path / "rm.yaml"
    migration.write_text(RM_ARTIFACTS)
    code, plan, stderr = _plan(sandbox_project, migration, tmp_path / "out")
    assert code == 0, stderr
    assert plan is not None and plan.approvable
    (operation,) = plan.operations
    assert operation.command == ["state", "rm", "module.artifacts.aws_s3_bucket.this"]
    assert operation.addressesBefore == ["module.artifacts.aws_s3_bucket.this"]
    assert operation.addressesAfter == []
    assert operation.configuration.expressible
    assert "removed {" in (operation.configuration.block or "")
    assert [(c.address, c.actions) for c in plan.resultingPlan] == [
        ("module.artifacts.aws_s3_bucket.this", ["create"])
    ]
    assert plan.binding.stateVersionId == before_state[1]
    assert plan.author.startswith("arn:aws:")
    # The same inputs give the same id; the files in --out are the plan.
    assert (tmp_path / "out" / f"prod-app.{plan.planId}.surgery.json").is_file()
    assert (
        (tmp_path / "out" / f"prod-app.{plan.planId}.surgery.md")
        .read_text()
        .startswith(f"# Surgery plan `{plan.planId}`")
    )
    code, again, _ = _plan(sandbox_project, migration, tmp_path / "again")
    assert again is not None and again.planId == plan.planId
    # The backend was never touched, the stacks neither; no state copy is left behind.
    assert _state_object(sandbox_project, "prod-app") == before_state
    assert _tree(stacks) == before_tree
    leftovers = [
        p for p in sandbox_project.root.rglob("*.tfstate*") if ".iacdrift/sandbox" not in str(p)
    ]
    assert leftovers == []


def test_a_rename_matches_only_once_the_code_is_renamed(
    sandbox_project: Project, tmp_path: Path
) -> None:
    """OpenTofu (staging-app): the example migration, planned before the rename commit,
    does not match and cannot be approved; after it, it plans clean."""
    example = ROOT / "surgery" / "example-rename.yaml"
    code, plan, stderr = _plan(sandbox_project, example, tmp_path / "before")
    assert code == 1 and plan is not None, stderr
    assert not plan.approvable
    assert plan.expectation.differences, plan.expectation
    assert "does not match the expectation" in stderr
    assert plan.configurationAlternative is not None
    assert "moved {" in plan.configurationAlternative

    sandbox.drift(sandbox_project, "resource-renamed")
    try:
        code, plan, stderr = _plan(sandbox_project, example, tmp_path / "after")
    finally:
        heal(sandbox_project, "resource-renamed")
    assert code == 0, stderr
    assert plan is not None and plan.approvable and plan.resultingPlan == []
    assert plan.binding.terraformVersion.startswith("opentofu ")


def test_bad_migrations_are_one_line_errors(sandbox_project: Project, tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(RM_ARTIFACTS.replace("stack: prod-app", "stack: prod-ap"))
    code, stdout, stderr = run_cli(sandbox_project, "surgery", "plan", str(unknown))
    assert code == 1 and stdout == ""
    assert "prod-ap" in stderr and "prod-app" in stderr  # names it and the close match
    no_reason = tmp_path / "no-reason.yaml"
    no_reason.write_text(RM_ARTIFACTS.replace("    reason: the artifacts", "    why: the"))
    code, _, stderr = run_cli(sandbox_project, "surgery", "plan", str(no_reason))
    assert code == 1 and "reason" in stderr and "no-reason.yaml" in stderr


def _reviewer(project: Project, number: int) -> dict[str, str]:
    """The environment of sandbox reviewer ``number`` (what `eval $(...)` would set)."""
    code, stdout, stderr = run_cli(project, "sandbox", "reviewer", str(number))
    assert code == 0, stderr
    env: dict[str, str] = {}
    for line in stdout.splitlines():
        for part in line.removeprefix("export ").split():
            key, _, value = part.partition("=")
            env[key] = value.strip("'\"")
    assert env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"), stdout
    return env


def _approve(project: Project, plan_id: str, env: dict[str, str] | None) -> tuple[int, str]:
    code, stdout, stderr = run_cli(project, "surgery", "approve", plan_id, env=env)
    return code, stdout + stderr


def _apply(project: Project, plan_id: str) -> tuple[int, dict[str, Any], str]:
    code, stdout, stderr = run_cli(project, "surgery", "apply", plan_id, "--format", "json")
    assert stdout, stderr
    return code, json.loads(stdout), stderr


def test_approvals_gate_apply(sandbox_project: Project, tmp_path: Path) -> None:
    """prod-app is high risk: two reviewers other than the author."""
    migration = tmp_path / "rm.yaml"
    migration.write_text(RM_ARTIFACTS)
    code, plan, stderr = _plan(sandbox_project, migration, tmp_path / "out")
    assert code == 0 and plan is not None, stderr
    code, said = _approve(sandbox_project, plan.planId, None)  # the author's own identity
    assert code == 1 and "an author cannot approve their own plan" in said
    one = _reviewer(sandbox_project, 1)
    code, said = _approve(sandbox_project, plan.planId, one)
    assert code == 0 and "surgery-reviewer-1" in said, said
    code, said = _approve(sandbox_project, plan.planId, one)
    assert code == 1 and "approved this plan already" in said
    before = _state_object(sandbox_project, "prod-app")
    code, report, _ = _apply(sandbox_project, plan.planId)
    assert code == 1 and report["result"] == "refused"
    assert "2 approvals needed for a high stack, 1 given" in str(report["reason"])
    assert _state_object(sandbox_project, "prod-app") == before

    # Approved enough, then someone else writes the state (a push, as an apply would):
    # the plan is stale and refused; nothing changes.
    code, said = _approve(sandbox_project, plan.planId, _reviewer(sandbox_project, 2))
    assert code == 0, said
    _bump_serial(sandbox_project, "prod-app", tmp_path)
    before = _state_object(sandbox_project, "prod-app")
    code, report, _ = _apply(sandbox_project, plan.planId)
    assert code == 1 and "stale: the state's serial" in str(report["reason"]), report
    assert _state_object(sandbox_project, "prod-app") == before


def _bump_serial(project: Project, stack: str, tmp_path: Path) -> None:
    """Another writer of the state: a real `terraform state push` of it, serial + 1."""
    bench = Workbench.open(project)
    with prepared(bench, bench.stack(stack)) as ready:
        data = ready.engine.state_pull(ready.call)
        assert data is not None
        data["serial"] += 1
        path = tmp_path / "bumped.tfstate"
        path.write_text(json.dumps(data))
        ready.engine.state_push(ready.call, path)
        path.unlink()


def test_an_approved_rename_is_applied_and_verified(
    sandbox_project: Project, tmp_path: Path
) -> None:
    """staging-app (low risk, one approval, OpenTofu): the rename commit and its state
    move; the check after is clean."""
    from tests.e2e.test_repair_apply import _move_back

    example = ROOT / "surgery" / "example-rename.yaml"
    stacks = sandbox_project.root / "stacks"
    sandbox.drift(sandbox_project, "resource-renamed")
    try:
        committed = _tree(stacks)
        code, plan, stderr = _plan(sandbox_project, example, tmp_path / "out")
        assert code == 0 and plan is not None and plan.approvable, stderr
        code, said = _approve(sandbox_project, plan.planId, _reviewer(sandbox_project, 2))
        assert code == 0, said
        code, report, stderr = _apply(sandbox_project, plan.planId)
        assert code == 0, (stderr, report)
        assert [s["step"] for s in report["steps"]] == ["snapshot", "pushed", "verified"]
        code, checked = _check(sandbox_project, "staging-app")
        assert checked["status"] == "CLEAN", checked["findings"]
        assert _tree(stacks) == committed
    finally:
        heal(sandbox_project, "resource-renamed")
        _move_back(sandbox_project, tmp_path)


def test_a_verification_mismatch_rolls_back(sandbox_project: Project, tmp_path: Path) -> None:
    """Approved against prod-app's state and files, then prod-network's pipeline
    changes an output prod-app reads: after the push the plan has more than the
    expected create, so the snapshot goes back and the check shows what it showed."""
    migration = tmp_path / "rm.yaml"
    migration.write_text(RM_ARTIFACTS)
    code, plan, stderr = _plan(sandbox_project, migration, tmp_path / "out")
    assert code == 0 and plan is not None, stderr
    for number in (1, 2):
        code, said = _approve(sandbox_project, plan.planId, _reviewer(sandbox_project, number))
        assert code == 0, said
    sandbox.drift(sandbox_project, "remote-state-change")
    try:
        _, before = _check(sandbox_project, "prod-app")
        code, report, stderr = _apply(sandbox_project, plan.planId)
        assert code == 1, (stderr, report)
        assert report["result"] == "rolled-back", report
        assert [s["step"] for s in report["steps"]] == ["snapshot", "pushed", "rolled-back"]
        _, after = _check(sandbox_project, "prod-app")
        assert sorted(f["findingId"] for f in after["findings"]) == sorted(
            f["findingId"] for f in before["findings"]
        )
    finally:
        heal(sandbox_project, "remote-state-change")


def _check(project: Project, stack: str) -> tuple[int, dict[str, Any]]:
    from tests.e2e.test_check import check_json

    code, report = check_json(project, stack)
    (result,) = report["results"]
    return code, result
