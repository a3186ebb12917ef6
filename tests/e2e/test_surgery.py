"""`iacdrift surgery plan` on the sandbox, real Terraform and OpenTofu: operations run
on a private copy of the state, the backend is never touched, the result is compared
with the expectation and bound by the plan id."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iacdrift.aws.session import Target, client
from iacdrift.engine import survivors
from iacdrift.flows import sandbox
from iacdrift.flows.surgery_review import KILL_AFTER_VARIABLE
from iacdrift.flows.surgery_status import describe
from iacdrift.flows.workbench import Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project, load_project
from iacdrift.models.surgery import SurgeryPlan
from iacdrift.sandbox.identity import sandbox_credentials
from tests.e2e.test_check import run_cli, s3
from tests.e2e.test_sandbox_scenarios import heal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "surgery-plan.schema.json").read_text())
STATUS_SCHEMA = json.loads((ROOT / "schemas" / "surgery-status.schema.json").read_text())

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
    # The blocks to commit instead, as a file beside the plan.
    blocks = tmp_path / "before" / f"staging-app.{plan.planId}.migration.tf"
    assert plan.configurationAlternative in blocks.read_text()

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


def _approved_by(project: Project, plan_id: str, reviewers: tuple[int, ...]) -> None:
    """Each sandbox reviewer in ``reviewers`` approves ``plan_id``."""
    for number in reviewers:
        code, said = _approve(project, plan_id, _reviewer(project, number))
        assert code == 0, said


def _apply(project: Project, plan_id: str) -> tuple[int, dict[str, Any], str]:
    code, stdout, stderr = run_cli(
        project, "surgery", "apply", plan_id, "--yes", "--format", "json"
    )
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
        # Without --yes: the checks, and what it would do; nothing changes.
        before = _state_object(sandbox_project, "staging-app")
        code, _, stderr = run_cli(sandbox_project, "surgery", "apply", plan.planId)
        assert code == 2 and "dry run" in stderr and "push the edited state" in stderr
        assert _state_object(sandbox_project, "staging-app") == before
        code, report, stderr = _apply(sandbox_project, plan.planId)
        assert code == 0, (stderr, report)
        assert [s["step"] for s in report["steps"]] == [
            "snapshot",
            "pushing",
            "pushed",
            "verifying",
            "verified",
        ]
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
    _approved_by(sandbox_project, plan.planId, (1, 2))
    sandbox.drift(sandbox_project, "remote-state-change")
    try:
        _, before = _check(sandbox_project, "prod-app")
        code, report, stderr = _apply(sandbox_project, plan.planId)
        assert code == 1, (stderr, report)
        assert report["result"] == "rolled-back", report
        assert [s["step"] for s in report["steps"]] == [
            "snapshot",
            "pushing",
            "pushed",
            "verifying",
            "rolling-back",
            "rolled-back",
        ]
        status = _status(sandbox_project, plan.planId)
        assert status["condition"] == "rolled-back" and status["command"] is None, status
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


# --- force-unlock ---------------------------------------------------------------------

LOCK_KEY = "prod/app.tfstate.tflock"


def _leave_lock(project: Project, lock_id: str, hours_ago: float, who: str) -> None:
    """A lock as a Terraform killed mid-apply leaves it: prod-app's use_lockfile object
    holding Terraform's LockInfo JSON (created on the hour ``hours_ago`` hours back, so
    the same lock written twice is the same)."""
    spec = project.get("prod-app").unit.spec.state
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    created = hour - timedelta(hours=hours_ago)
    info = {
        "ID": lock_id,
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": who,
        "Version": "1.15.0",
        "Created": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "Path": f"{spec.bucket}/{spec.key}",
    }
    s3(project).put_object(Bucket=spec.bucket, Key=LOCK_KEY, Body=json.dumps(info).encode())


def _lock_left(project: Project) -> bool:
    spec = project.get("prod-app").unit.spec.state
    found = s3(project).list_objects_v2(Bucket=spec.bucket, Prefix=LOCK_KEY)
    return bool(found.get("Contents"))


FORCE_UNLOCK = """apiVersion: iacdrift.dev/v1
kind: StateMigration
id: release-crashed-apply
stack: prod-app
operations:
  - op: force-unlock
    lockId: {lock_id}
    reason: the CI runner of that apply was lost three hours ago (INC-4711)
expectedPlan: no-changes
"""


def test_force_unlock_releases_only_the_stale_lock_it_names(
    sandbox_project: Project, tmp_path: Path
) -> None:
    stale = str(uuid.uuid4())
    _leave_lock(sandbox_project, stale, hours_ago=3, who="ci@runner-lost")
    try:
        _, locked = _check(sandbox_project, "prod-app")
        assert locked["status"] == "LOCKED", locked
        migration = tmp_path / "unlock.yaml"
        migration.write_text(FORCE_UNLOCK.format(lock_id=stale))
        code, plan, stderr = _plan(sandbox_project, migration, tmp_path / "out")
        assert code == 0 and plan is not None, stderr
        (operation,) = plan.operations
        assert operation.lock is not None and operation.lock.who == "ci@runner-lost"
        _approved_by(sandbox_project, plan.planId, (1, 2))

        # Another run's lock by apply time (the first released, then taken again):
        # not the lock reviewed, refused, left alone.
        other = str(uuid.uuid4())
        _leave_lock(sandbox_project, other, hours_ago=3, who="ci@runner-lost")
        code, report, _ = _apply(sandbox_project, plan.planId)
        assert code == 1 and report["result"] == "refused", report
        assert other in str(report["reason"]) and "not " + stale in str(report["reason"])
        assert _lock_left(sandbox_project)

        _leave_lock(sandbox_project, stale, hours_ago=3, who="ci@runner-lost")
        code, report, stderr = _apply(sandbox_project, plan.planId)
        assert code == 0, (stderr, report)
        assert [s["step"] for s in report["steps"]] == [
            "snapshot",
            "unlocked",
            "verifying",
            "verified",
        ]
        assert not _lock_left(sandbox_project)
        _, checked = _check(sandbox_project, "prod-app")
        assert checked["status"] == "CLEAN", checked
        code, stdout, _ = run_cli(sandbox_project, "surgery", "status", plan.planId)
        assert code == 0 and "applied" in stdout, stdout
    finally:
        spec = sandbox_project.get("prod-app").unit.spec.state
        s3(sandbox_project).delete_object(Bucket=spec.bucket, Key=LOCK_KEY)


def test_a_young_lock_is_not_released(sandbox_project: Project, tmp_path: Path) -> None:
    young = str(uuid.uuid4())
    _leave_lock(sandbox_project, young, hours_ago=0, who="alice@laptop")
    try:
        migration = tmp_path / "unlock.yaml"
        migration.write_text(FORCE_UNLOCK.format(lock_id=young))
        code, plan, stderr = _plan(sandbox_project, migration, tmp_path / "out")
        assert code == 0 and plan is not None, stderr
        _approved_by(sandbox_project, plan.planId, (1, 2))
        code, report, _ = _apply(sandbox_project, plan.planId)
        assert code == 1 and "its run may be alive" in str(report["reason"]), report
        assert _lock_left(sandbox_project)
    finally:
        spec = sandbox_project.get("prod-app").unit.spec.state
        s3(sandbox_project).delete_object(Bucket=spec.bucket, Key=LOCK_KEY)


# --- crash safety -------------------------------------------------------------------


def _descendants(pid: int) -> list[tuple[int, int, str]]:
    """(pid, depth, command line) of every process under ``pid`` (depth 1: a child)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
        commands[int(entry.name)] = cmdline
    found = []
    for child in parents:
        depth, up = 1, parents[child]
        while up != pid and up in parents and depth < 10:
            depth, up = depth + 1, parents[up]
        if up == pid:
            found.append((child, depth, commands[child]))
    return found


def _apply_killed(project: Project, plan_id: str, point: str) -> int:
    """Run `surgery apply` and SIGKILL it at ``point`` (its pid is returned): right
    after recording a step (the fault injection variable), or while its Terraform
    child runs a command
    (``during:<words>``: the test watches the process tree and kills iacdrift once
    its Terraform child, or the worker, runs that command)."""
    env = {**os.environ}
    if not point.startswith("during:"):
        env[KILL_AFTER_VARIABLE] = point
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "iacdrift", "surgery", "apply", plan_id, "--yes"],
            cwd=project.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            if point.startswith("during:"):
                words = point.removeprefix("during:").split()
                deadline = time.monotonic() + 300
                while proc.poll() is None and time.monotonic() < deadline:
                    running = _descendants(proc.pid)
                    if any(all(w in c for w in words) for _, _, c in running):
                        proc.kill()
                        break
                    time.sleep(0.05)
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        errors.seek(0)
        said = errors.read().decode(errors="replace")
    assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, said)
    return proc.pid


def _no_survivors(killed: int) -> list[str]:
    """The processes the killed iacdrift (pid ``killed``) left running."""
    deadline = time.monotonic() + 10
    while True:
        left = [describe(s) for s in survivors.find_survivors() if s.parent_pid == killed]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _status(project: Project, plan_id: str) -> dict[str, Any]:
    code, stdout, stderr = run_cli(project, "surgery", "status", plan_id, "--format", "json")
    assert stdout, stderr
    document = json.loads(stdout)
    jsonschema.validate(document, STATUS_SCHEMA)
    assert document["exitCode"] == code
    return dict(document)


def _reset(project: Project, plan_id: str, version: str, stack: str = "prod-app") -> None:
    """Put the stack's state object back to ``version`` (delete every newer version;
    where a DynamoDB table keeps Terraform's digest of the state, the digest too) and
    forget the surgery's apply records, so the same plan can be applied again."""
    spec = project.get(stack).unit.spec.state
    client_ = s3(project)
    listed_versions = client_.list_object_versions(Bucket=spec.bucket, Prefix=spec.key)
    # S3 lists the versions of a key newest first.
    ours = [v["VersionId"] for v in listed_versions.get("Versions", []) if v["Key"] == spec.key]
    for newer in ours[: ours.index(version)]:
        client_.delete_object(Bucket=spec.bucket, Key=spec.key, VersionId=newer)
    if spec.lockTable:
        body = client_.get_object(Bucket=spec.bucket, Key=spec.key)["Body"].read()
        state, _ = sandbox.status(project)
        assert state is not None
        dynamodb = client(
            "dynamodb", sandbox_credentials(), Target(state.region, state.endpoint_url)
        )
        dynamodb.put_item(
            TableName=spec.lockTable,
            Item={
                "LockID": {"S": f"{spec.bucket}/{spec.key}-md5"},
                "Digest": {"S": hashlib.md5(body).hexdigest()},
            },
        )
    prefix = f"iacdrift/surgery/{stack}/{plan_id}/"
    listed = client_.list_objects_v2(Bucket=spec.bucket, Prefix=prefix)
    for item in listed.get("Contents", []):
        if "/steps/" in item["Key"] or item["Key"].endswith("snapshot.tfstate"):
            client_.delete_object(Bucket=spec.bucket, Key=item["Key"])
    client_.delete_object(Bucket=spec.bucket, Key=f"{spec.key}.tflock")


CRASH_POINTS = [
    ("snapshot", {"not-started"}),
    ("pushing", {"not-started"}),
    ("during:state push", {"not-started", "pushed-unverified"}),
    ("pushed", {"pushed-unverified"}),
    ("verifying", {"pushed-unverified"}),
    ("during:plan", {"pushed-unverified"}),
    ("verified", {"applied"}),
]


def test_a_kill_at_any_step_leaves_the_state_before_or_after(
    sandbox_project: Project, tmp_path: Path
) -> None:
    """SIGKILL of `surgery apply` after each recorded step and in the middle of its
    push and of its verification: no Terraform process is left, the state object is
    the one planned against or the edited one, `surgery status` says which, and its
    command (run as it says) ends applied and verified."""
    migration = tmp_path / "rm.yaml"
    migration.write_text(RM_ARTIFACTS)
    code, plan, stderr = _plan(sandbox_project, migration, tmp_path / "out")
    assert code == 0 and plan is not None, stderr
    _approved_by(sandbox_project, plan.planId, (1, 2))
    original = plan.binding.stateVersionId
    assert original is not None
    seen: dict[str, str] = {}
    try:
        for point, conditions in CRASH_POINTS:
            killed = _apply_killed(sandbox_project, plan.planId, point)
            status = _status(sandbox_project, plan.planId)
            assert status["condition"] in conditions, (point, status)
            seen[point] = status["condition"]
            if status["condition"] != "applied":
                assert status["command"] == f"iacdrift surgery apply {plan.planId} --yes"
                code, report, stderr = _apply(sandbox_project, plan.planId)
                assert code == 0 and report["result"] == "applied", (point, stderr, report)
            # The resumed apply killed whatever the killed one left running.
            assert _no_survivors(killed) == [], point
            status = _status(sandbox_project, plan.planId)
            assert status["condition"] == "applied" and status["command"] is None, status
            assert status["lock"] is None and status["leftovers"] == [], status
            _reset(sandbox_project, plan.planId, original)
        assert {"not-started", "pushed-unverified", "applied"} <= set(seen.values()), seen
    finally:
        _reset(sandbox_project, plan.planId, original)


# --- each operation, applied and verified; the next check is clean ------------------

MV_ACROSS_MODULES = """apiVersion: iacdrift.dev/v1
kind: StateMigration
id: inline-artifacts-bucket
stack: prod-app
operations:
  - op: mv
    from: module.artifacts.aws_s3_bucket.this
    to: aws_s3_bucket.artifacts
    reason: the tagged-bucket module is retired; the bucket is declared in the stack
expectedPlan: no-changes
"""

INLINE_ARTIFACTS = """resource "aws_s3_bucket" "artifacts" {
  bucket = "iacdrift-demo-prod-app-artifacts"

  versioning {
    enabled = true
  }

  tags = {
    environment = "prod"
    owner       = "team-checkout"
    data-class  = "internal"
  }
}
"""

READOPT_SG = """apiVersion: iacdrift.dev/v1
kind: StateMigration
id: readopt-app-sg
stack: prod-app
operations:
  - op: rm
    addresses: [module.app_sg.aws_security_group.this]
    reason: the state entry was damaged by a failed provider upgrade
  - op: import
    to: module.app_sg.aws_security_group.this
    id: {group_id}
    reason: adopt the live group again from the cloud
# An import leaves provider 3.39's defaults unset: one in-place update that the next
# check calls provider-read noise.
expectedPlan:
  - address: module.app_sg.aws_security_group.this
    actions: [update]
"""

TO_TERRAFORM = """apiVersion: iacdrift.dev/v1
kind: StateMigration
id: staging-app-to-terraform
stack: staging-app
operations:
  - op: replace-provider
    from: registry.opentofu.org/hashicorp/aws
    to: registry.terraform.io/hashicorp/aws
    reason: staging-app moves to Terraform (PLAT-812); name the provider Terraform installs
expectedPlan: no-changes
"""


def _carry_out(
    project: Project, text: str, tmp_path: Path, reviewers: tuple[int, ...]
) -> SurgeryPlan:
    """Plan, approve by ``reviewers``, apply: the apply report says applied and
    verified, with the stack directories unchanged by it."""
    stacks = project.root / "stacks"
    migration = tmp_path / "migration.yaml"
    migration.write_text(text)
    code, plan, stderr = _plan(project, migration, tmp_path / "out")
    assert code == 0 and plan is not None and plan.approvable, (stderr, plan)
    _approved_by(project, plan.planId, reviewers)
    committed = _tree(stacks)
    code, report, stderr = _apply(project, plan.planId)
    assert code == 0 and report["result"] == "applied", (stderr, report)
    assert report["steps"][-1]["step"] == "verified"
    assert _tree(stacks) == committed
    return plan


def test_a_move_out_of_a_module_is_applied_and_the_check_is_clean(
    sandbox_project: Project, tmp_path: Path
) -> None:
    """The commit inlines the module's bucket into the stack; the state follows."""
    main = sandbox_project.get("prod-app").stack_dir / "main.tf"
    original = main.read_text()
    start = original.index('module "artifacts" {')
    end = original.index("\n}\n", start) + 3
    version = _state_object(sandbox_project, "prod-app")[1]
    main.write_text(original[:start] + INLINE_ARTIFACTS + original[end:])
    plan = None
    try:
        plan = _carry_out(sandbox_project, MV_ACROSS_MODULES, tmp_path, (1, 2))
        (operation,) = plan.operations
        assert operation.addressesAfter == ["aws_s3_bucket.artifacts"]
        _, checked = _check(sandbox_project, "prod-app")
        assert checked["status"] == "CLEAN", checked["findings"]
    finally:
        main.write_text(original)
        if plan is not None:
            _reset(sandbox_project, plan.planId, version)


def test_an_import_readopts_a_live_object_and_the_check_is_clean(
    sandbox_project: Project, tmp_path: Path
) -> None:
    state = json.loads(_state_object(sandbox_project, "prod-app")[0])
    (group,) = [r for r in state["resources"] if r["type"] == "aws_security_group"]
    group_id = group["instances"][0]["attributes"]["id"]
    version = _state_object(sandbox_project, "prod-app")[1]
    plan = None
    try:
        plan = _carry_out(sandbox_project, READOPT_SG.format(group_id=group_id), tmp_path, (1, 2))
        assert plan.operations[1].command == [
            "import",
            "module.app_sg.aws_security_group.this",
            group_id,
        ]
        _, checked = _check(sandbox_project, "prod-app")
        assert checked["status"] == "CLEAN", checked["findings"]
    finally:
        if plan is not None:
            _reset(sandbox_project, plan.planId, version)


def test_replace_provider_moves_a_stack_from_opentofu_to_terraform(
    sandbox_project: Project, tmp_path: Path
) -> None:
    """The registry commit switches staging-app to Terraform; its state (written by
    OpenTofu) names registry.opentofu.org/hashicorp/aws until the surgery."""
    entry = sandbox_project.root / "registry" / "staging-app.yaml"
    original = entry.read_text()
    version = _state_object(sandbox_project, "staging-app")[1]
    entry.write_text(original.replace("type: opentofu-stack", "type: terraform-stack"))
    plan = None
    try:
        project = load_project(cwd=sandbox_project.root)
        plan = _carry_out(project, TO_TERRAFORM, tmp_path, (1,))
        assert plan.binding.terraformVersion.startswith("terraform ")
        assert plan.operations[0].addressesBefore == [
            "module.app_sg.aws_security_group.this",
            "module.assets.aws_s3_bucket.this",
        ]
        after = json.loads(_state_object(project, "staging-app")[0])
        assert {r["provider"] for r in after["resources"]} == {
            'provider["registry.terraform.io/hashicorp/aws"]'
        }
        _, checked = _check(project, "staging-app")
        assert checked["status"] == "CLEAN", checked["findings"]
    finally:
        entry.write_text(original)
        if plan is not None:
            _reset(sandbox_project, plan.planId, version, stack="staging-app")


RENAME_WITHIN = """apiVersion: iacdrift.dev/v1
kind: StateMigration
id: name-the-ecs-roles
stack: prod-iam
operations:
  - op: mv
    from: aws_iam_role.service
    to: aws_iam_role.ecs_service
    reason: the roles are ECS task roles; the new name says so (PLAT-977)
expectedPlan: no-changes
"""


def test_a_rename_within_a_module_is_applied_and_the_check_is_clean(
    sandbox_project: Project, tmp_path: Path
) -> None:
    """prod-iam (critical, two approvals) renames a counted resource in its root
    module: every instance moves, the role ARNs output reads the new name."""
    main = sandbox_project.get("prod-iam").stack_dir / "main.tf"
    original = main.read_text()
    version = _state_object(sandbox_project, "prod-iam")[1]
    renamed = original.replace(
        'resource "aws_iam_role" "service"', 'resource "aws_iam_role" "ecs_service"'
    )
    main.write_text(renamed.replace("aws_iam_role.service[*]", "aws_iam_role.ecs_service[*]"))
    plan = None
    try:
        plan = _carry_out(sandbox_project, RENAME_WITHIN, tmp_path, (1, 2))
        (operation,) = plan.operations
        assert operation.addressesBefore and all(
            a.startswith("aws_iam_role.service[") for a in operation.addressesBefore
        )
        assert [a.replace("ecs_service", "service") for a in operation.addressesAfter] == (
            operation.addressesBefore
        )
        _, checked = _check(sandbox_project, "prod-iam")
        assert checked["status"] == "CLEAN", checked["findings"]
    finally:
        main.write_text(original)
        if plan is not None:
            _reset(sandbox_project, plan.planId, version, stack="prod-iam")
