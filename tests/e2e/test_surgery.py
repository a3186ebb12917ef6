"""`iacdrift surgery plan` on the sandbox, real Terraform and OpenTofu: operations run
on a private copy of the state, the backend is never touched, the result is compared
with the expectation and bound by the plan id."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from iacdrift.aws.session import Target, client
from iacdrift.flows import sandbox
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
