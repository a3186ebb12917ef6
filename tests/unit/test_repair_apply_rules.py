"""The pure rules of `iacdrift repair apply` (iacdrift.flows.repair_apply) and its text.

Every plan here is a real one: findings from tests/factories.py through
:func:`iacdrift.core.reconcile.plan.plan_repairs`, never hand-written plan JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from iacdrift.core.reconcile.plan import files_digest, plan_content_id, plan_repairs
from iacdrift.errors import InputError
from iacdrift.flows.repair_apply import (
    ApplyOptions,
    CurrentState,
    judge_verification,
    read_plan_file,
    runnable,
    stale_reasons,
    step_targets,
)
from iacdrift.models.finding import (
    Action,
    ChangedField,
    DriftClass,
    Finding,
    Relationship,
    StackResult,
    StackStatus,
)
from iacdrift.models.repair import (
    Artifact,
    ArtifactKind,
    RepairApplyReport,
    RepairPlan,
    RepairResult,
    RepairStep,
    StepKind,
    StepOutcome,
    StepRecord,
    StepStatus,
    Verification,
)
from iacdrift.report.repair import render_apply_text
from tests.factories import make_finding

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STACK = "prod-app"
FILES = files_digest({"main.tf": b'resource "aws_s3_bucket" "b" {}\n'})
MOVED_FROM = 'module.store["eu"].aws_s3_bucket.old[0]'
MOVED_TO = 'module.store["eu"].aws_s3_bucket.new["k"]'


def _finding(
    finding_id: str, address: str, action: Action, *, stack: str | None = STACK, **fields: Any
) -> Finding:
    return make_finding(
        finding_id,
        stack=stack,
        detectedAt=NOW,
        resourceRef=address,
        resourceType=address.split(".")[-2].split("[")[0],
        changedFields=[ChangedField(pointer="/tags/env", before="prod", after="hand")],
        recommendedAction=action,
        **fields,
    )


# One finding per kind of step the planner makes, keyed by the step's role in the tests.
FINDINGS: dict[str, Finding] = {
    "revert": _finding("f-revert", "aws_security_group.web", Action.REVERT),
    "incident": _finding("f-incident", "aws_security_group.admin", Action.INCIDENT_AND_REVERT),
    "move": _finding("f-move", MOVED_FROM, Action.MOVE, plannedActions=["delete"]),
    "import": _finding("f-import", "aws_s3_bucket.logs", Action.IMPORT, resourceId="logs"),
    "import-unmanaged": _finding(
        "f-unmanaged",
        "aws_s3_bucket.raw",
        Action.IMPORT,
        stack=None,
        resourceId="raw-bucket",
        relationship=Relationship.UNMANAGED,
    ),
    "remove": _finding("f-remove", "aws_s3_bucket.gone", Action.REMOVE_FROM_STATE),
    "refresh": _finding(
        "f-refresh",
        "aws_secretsmanager_secret_version.v",
        Action.REFRESH,
        driftClass=DriftClass.SECRET_DELIVERY_DRIFT,
    ),
    "refresh-refused": _finding("f-refresh-no", "aws_s3_bucket.r", Action.REFRESH),
    "apply": _finding("f-apply", "aws_s3_bucket.a", Action.APPLY),
    "update-code": _finding("f-code", "aws_s3_bucket.c", Action.UPDATE_CODE),
    "ignore": _finding("f-ignore", "aws_s3_bucket.i", Action.IGNORE),
    "investigate": _finding("f-inv", "aws_s3_bucket.v", Action.INVESTIGATE),
}


def _plan(findings: list[Finding] | None = None) -> RepairPlan:
    return plan_repairs(
        STACK,
        list(FINDINGS.values()) if findings is None else findings,
        files_digest=FILES,
        state_lineage="lin-1",
        state_serial=7,
        refactor_pairs={MOVED_FROM: MOVED_TO},
    )


PLAN = _plan()


def _step(role: str) -> RepairStep:
    finding_id = FINDINGS[role].findingId
    (step,) = [s for s in PLAN.steps if s.kind is StepKind.REPAIR and finding_id in s.findingIds]
    return step


def _verify_step() -> RepairStep:
    (step,) = [s for s in PLAN.steps if s.kind is StepKind.VERIFY]
    return step


def _with_patch(step: RepairStep) -> RepairStep:
    # What `repair plan` does when it can make the patch (flows/repair.py).
    diff = "--- a/app/main.tf\n+++ b/app/main.tf\n@@ -1 +1 @@\n-x\n+y\n"
    return step.model_copy(update={"artifact": Artifact(kind=ArtifactKind.CODE_PATCH, text=diff)})


def test_the_plan_has_the_steps_these_tests_rely_on() -> None:
    statuses = {role: _step(role).status for role in FINDINGS}
    assert statuses == {
        "revert": StepStatus.READY,
        "incident": StepStatus.NEEDS_PERSON,
        "move": StepStatus.READY,
        "import": StepStatus.READY,
        "import-unmanaged": StepStatus.NEEDS_CODE_CHANGE,
        "remove": StepStatus.READY,
        "refresh": StepStatus.READY,
        "refresh-refused": StepStatus.REFUSED,
        "apply": StepStatus.READY,
        "update-code": StepStatus.NEEDS_CODE_CHANGE,
        "ignore": StepStatus.DRAFT,
        "investigate": StepStatus.NEEDS_PERSON,
    }


# --- runnable (rule 3) -----------------------------------------------------------------------

RUNS_ALWAYS = "always"
RUNS_NEVER = "never"
RUNS_FOR_A_PERSON = "person"
RUNS_WITH_WRITE_CODE = "write-code"

# role -> when the step is carried out.
WHEN = {
    "revert": RUNS_ALWAYS,
    "move": RUNS_ALWAYS,
    "import": RUNS_ALWAYS,
    "remove": RUNS_ALWAYS,
    "refresh": RUNS_ALWAYS,
    "apply": RUNS_ALWAYS,
    "incident": RUNS_FOR_A_PERSON,
    "import-unmanaged": RUNS_WITH_WRITE_CODE,
    "update-code-patched": RUNS_WITH_WRITE_CODE,
    "update-code": RUNS_NEVER,  # accepted values only: no patch could be made
    "refresh-refused": RUNS_NEVER,
    "ignore": RUNS_NEVER,
    "investigate": RUNS_NEVER,
    "verify": RUNS_NEVER,
}


def _by_role(role: str) -> RepairStep:
    if role == "verify":
        return _verify_step()
    if role == "update-code-patched":
        return _with_patch(_step("update-code"))
    return _step(role)


def test_the_matrix_covers_every_step_status() -> None:
    assert {_by_role(role).status for role in WHEN} == set(StepStatus)


@pytest.mark.parametrize("write_code", [False, True], ids=["no-write-code", "write-code"])
@pytest.mark.parametrize("person", [True, False], ids=["person", "auto-heal"])
@pytest.mark.parametrize("role", sorted(WHEN))
def test_runnable_matrix(role: str, person: bool, write_code: bool) -> None:
    step = _by_role(role)
    expected = {
        RUNS_ALWAYS: True,
        RUNS_NEVER: False,
        RUNS_FOR_A_PERSON: person,
        RUNS_WITH_WRITE_CODE: write_code,
    }[WHEN[role]]
    why = runnable(step, ApplyOptions(person=person, write_code=write_code))
    if expected:
        assert why is None
    else:
        assert why  # a reason, never an empty string


def test_why_a_step_does_not_run() -> None:
    options = ApplyOptions(person=False, write_code=False)
    assert runnable(_verify_step(), options) == "the verification check runs after the last step"
    refused = _step("refresh-refused")
    assert runnable(refused, options) == refused.why
    assert runnable(_step("ignore"), options) == _step("ignore").why
    assert runnable(_step("investigate"), options) == _step("investigate").why
    assert runnable(_step("incident"), options) == (
        "an incident revert: a person runs it (repair apply --yes), never auto-heal"
    )
    unmanaged = runnable(_step("import-unmanaged"), options)
    assert unmanaged is not None and unmanaged.endswith("; or pass --write-code")
    assert unmanaged.startswith("needs a code change (PR): ")


def test_update_code_without_a_patch_never_runs_even_with_write_code() -> None:
    options = ApplyOptions(person=True, write_code=True)
    accepted_values = _step("update-code")
    assert accepted_values.artifact is not None
    assert accepted_values.artifact.kind is ArtifactKind.ACCEPTED_VALUES
    assert runnable(accepted_values, options) == accepted_values.why
    no_artifact = accepted_values.model_copy(update={"artifact": None, "why": None})
    assert runnable(no_artifact, options) == (
        "no patch could be made: write the change by hand as a PR"
    )


def test_a_ready_step_that_changes_nothing_has_nothing_to_carry_out() -> None:
    idle = _step("revert").model_copy(update={"mutates": False})
    assert runnable(idle, ApplyOptions()) == "nothing to carry out"


def test_a_person_step_without_a_targeted_revert_never_runs_for_a_person() -> None:
    # Only INCIDENT_AND_REVERT carries a targeted apply; INVESTIGATE has no artifact.
    assert runnable(_step("investigate"), ApplyOptions(person=True, write_code=True)) is not None


# --- stale_reasons (rule 2) --------------------------------------------------------------------


def test_a_plan_is_fresh_when_nothing_changed() -> None:
    assert stale_reasons(PLAN, FILES, CurrentState("lin-1", 7, "v1")) == []


def test_changed_files_are_stale() -> None:
    other = files_digest({"main.tf": b'resource "aws_s3_bucket" "b" { bucket = "x" }\n'})
    assert stale_reasons(PLAN, other, CurrentState("lin-1", 7, "v1")) == [
        "the stack's files changed"
    ]


def test_a_new_serial_is_stale() -> None:
    assert stale_reasons(PLAN, FILES, CurrentState("lin-1", 8, "v2")) == [
        "the state's serial is 8 (planned: 7)"
    ]


def test_a_new_lineage_is_reported_instead_of_the_serial() -> None:
    assert stale_reasons(PLAN, FILES, CurrentState("lin-2", 1, "v9")) == [
        "the state's lineage is lin-2 (planned: lin-1)"
    ]


def test_a_state_that_is_gone_is_a_lineage_change() -> None:
    assert stale_reasons(PLAN, FILES, CurrentState(None, None, None)) == [
        "the state's lineage is None (planned: lin-1)"
    ]


def test_every_reason_is_given() -> None:
    assert stale_reasons(PLAN, "0" * 64, CurrentState("lin-2", 7, None)) == [
        "the stack's files changed",
        "the state's lineage is lin-2 (planned: lin-1)",
    ]


def test_the_version_id_alone_is_not_staleness() -> None:
    # A new S3 version of the same lineage and serial (a re-upload) binds the same.
    assert stale_reasons(PLAN, FILES, CurrentState("lin-1", 7, "another-version")) == []


# --- step_targets (rule 5) ---------------------------------------------------------------------


def test_a_revert_targets_its_address() -> None:
    assert step_targets(_step("revert")) == (["aws_security_group.web"], False)
    assert step_targets(_step("incident")) == (["aws_security_group.admin"], False)


def test_a_refresh_is_refresh_only_and_targeted() -> None:
    assert step_targets(_step("refresh")) == (["aws_secretsmanager_secret_version.v"], True)


def test_an_apply_plans_the_whole_stack() -> None:
    assert step_targets(_step("apply")) == ([], False)


def test_a_move_targets_where_the_object_goes_rendered_as_hcl() -> None:
    step = _step("move")
    assert step.addresses == sorted([MOVED_FROM, MOVED_TO])
    targets, refresh_only = step_targets(step)
    assert MOVED_TO in targets
    assert not refresh_only


def test_a_move_targets_both_ends_as_terraform_requires() -> None:
    targets, _ = step_targets(_step("move"))
    assert sorted(targets) == sorted([MOVED_FROM, MOVED_TO])


def test_an_import_targets_its_to_address() -> None:
    assert step_targets(_step("import")) == (["aws_s3_bucket.logs"], False)
    assert step_targets(_step("import-unmanaged")) == (["aws_s3_bucket.raw-bucket"], False)


def test_a_removal_targets_its_address() -> None:
    assert step_targets(_step("remove")) == (["aws_s3_bucket.gone"], False)


# --- judge_verification (rule 9) -----------------------------------------------------------------

DONE = [_step("revert"), _step("import")]


def _result(status: StackStatus, *findings: Finding, reason: str | None = None) -> StackResult:
    return StackResult(
        stack=STACK, status=status, checkedAt=NOW, findings=list(findings), reason=reason
    )


def test_verification_passes_on_a_clean_check() -> None:
    verdict = judge_verification(PLAN, DONE, _result(StackStatus.CLEAN))
    assert verdict == Verification(status="CLEAN", passed=True)


def test_findings_the_plan_knows_but_did_not_repair_do_not_fail_it() -> None:
    still = _result(StackStatus.DRIFTED, FINDINGS["investigate"], FINDINGS["incident"])
    verdict = judge_verification(PLAN, DONE, still)
    assert verdict.passed
    assert verdict.remaining == [] and verdict.new == []
    assert verdict.status == "DRIFTED"


def test_a_repaired_finding_that_remains_fails_it() -> None:
    again = _result(StackStatus.DRIFTED, FINDINGS["revert"], FINDINGS["investigate"])
    verdict = judge_verification(PLAN, DONE, again)
    assert not verdict.passed
    assert verdict.remaining == ["f-revert"]
    assert verdict.new == []
    assert verdict.reason == "1 repaired finding(s) remain (f-revert)"


def test_a_new_finding_fails_it() -> None:
    fresh = _finding("f-new", "aws_iam_role.ci", Action.REVERT)
    verdict = judge_verification(PLAN, DONE, _result(StackStatus.DRIFTED, fresh))
    assert not verdict.passed
    assert verdict.remaining == []
    assert verdict.new == ["aws_iam_role.ci: UNAUTHORIZED_RUNTIME_DRIFT"]
    assert verdict.reason == "1 new finding(s) (aws_iam_role.ci: UNAUTHORIZED_RUNTIME_DRIFT)"


def test_both_reasons_are_given() -> None:
    fresh = _finding("f-new", "aws_iam_role.ci", Action.REVERT)
    verdict = judge_verification(
        PLAN, DONE, _result(StackStatus.DRIFTED, FINDINGS["import"], fresh)
    )
    assert verdict.reason == (
        "1 repaired finding(s) remain (f-import); "
        "1 new finding(s) (aws_iam_role.ci: UNAUTHORIZED_RUNTIME_DRIFT)"
    )


def test_quiet_and_suppressed_findings_are_not_new() -> None:
    noise = _finding(
        "f-noise", "aws_iam_role.n", Action.IGNORE, driftClass=DriftClass.PROVIDER_READ_NOISE
    )
    hidden = _finding("f-hidden", "aws_iam_role.h", Action.REVERT, suppressed=True)
    verdict = judge_verification(PLAN, DONE, _result(StackStatus.DRIFTED, noise, hidden))
    assert verdict.passed


@pytest.mark.parametrize("status", [StackStatus.ERROR, StackStatus.LOCKED, StackStatus.STALE])
def test_a_check_that_did_not_answer_fails_it(status: StackStatus) -> None:
    verdict = judge_verification(PLAN, DONE, _result(status, reason="plan failed"))
    assert verdict == Verification(
        status=status.value,
        answered=False,
        passed=False,
        reason=f"the check did not answer ({status.value}: plan failed)",
    )


# --- read_plan_file (rule 1) ----------------------------------------------------------------------


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_plan_written_by_repair_plan_reads_back(tmp_path: Path) -> None:
    path = tmp_path / f"{STACK}.repair.json"
    path.write_text(PLAN.model_dump_json(indent=2), encoding="utf-8")
    assert read_plan_file(path) == PLAN


def test_malformed_json_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.repair.json"
    path.write_text('{"planId": ', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_plan_file(path)
    assert caught.value.message.startswith(f"{path.resolve().as_posix()}: not JSON (")
    assert "iacdrift repair plan --out" in caught.value.message


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.repair.json"
    with pytest.raises(InputError, match="cannot read the repair plan") as caught:
        read_plan_file(path)
    assert "absent.repair.json" in caught.value.message


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"kind": "RepairApplyReport"}, "kind"),
        ([PLAN.model_dump(mode="json")], "(top level)"),
        ({**PLAN.model_dump(mode="json"), "extra": 1}, "extra"),
    ],
    ids=["another-kind", "a-list", "an-unknown-field"],
)
def test_what_is_not_a_plan_is_an_input_error(tmp_path: Path, document: Any, where: str) -> None:
    path = _write(tmp_path / "other.json", document)
    with pytest.raises(InputError) as caught:
        read_plan_file(path)
    message = caught.value.message
    assert message.startswith(f"{path.resolve().as_posix()}: not a repair plan: {where}")
    assert "iacdrift repair plan --out" in message


def test_an_edited_plan_is_refused_naming_the_file(tmp_path: Path) -> None:
    document = PLAN.model_dump(mode="json")
    revert_id = _step("revert").id
    for step in document["steps"]:
        if step["id"] == revert_id:
            step["artifact"]["text"] = "-target=aws_security_group.everything\n"
    path = _write(tmp_path / "edited.repair.json", document)
    with pytest.raises(InputError) as caught:
        read_plan_file(path)
    assert caught.value.message == (
        f"{path.resolve().as_posix()}: planId {PLAN.planId} does not match the plan's "
        "content: it was edited after planning; plan again with `iacdrift repair plan`"
    )


def test_a_plan_with_its_planid_recomputed_after_an_edit_reads(tmp_path: Path) -> None:
    # The planId binds content, not authorship: a re-derived id passes rule 1 (the
    # binding to files and state is rule 2's job).
    edited = PLAN.model_copy(update={"steps": PLAN.steps[:1], "batches": [[PLAN.steps[0].id]]})
    edited = edited.model_copy(update={"planId": plan_content_id(edited)})
    path = tmp_path / "rederived.repair.json"
    path.write_text(edited.model_dump_json(), encoding="utf-8")
    assert read_plan_file(path).planId == edited.planId


def test_a_binary_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "step.tfplan"
    path.write_bytes(b"PK\x03\x04\xff\xfe\x00\x00tfplan")
    with pytest.raises(InputError, match=r"step\.tfplan"):
        read_plan_file(path)


# --- render_apply_text ---------------------------------------------------------------------------


def test_render_apply_text_of_a_rolled_back_repair() -> None:
    revert, move = _step("revert"), _step("move")
    report = RepairApplyReport(
        planId=PLAN.planId,
        stack=STACK,
        dryRun=False,
        result=RepairResult.ROLLED_BACK,
        reason=f"{STACK}: verification failed: 1 repaired finding(s) remain (f-revert)",
        startedAt=NOW,
        finishedAt=NOW,
        snapshotVersionId="v-123",
        steps=[
            StepRecord(
                stepId=move.id,
                action=Action.MOVE,
                addresses=list(move.addresses),
                outcome=StepOutcome.ROLLED_BACK,
                detail="applied",
                expectedPlan=[f"{MOVED_TO}: move (from {MOVED_FROM})"],
                changeRecord="repair-x-move",
            ),
            StepRecord(
                stepId=revert.id,
                action=Action.REVERT,
                addresses=list(revert.addresses),
                outcome=StepOutcome.DONE,
                expectedPlan=["aws_security_group.web: update"],
            ),
            StepRecord(stepId="verify-1", action=None, outcome=StepOutcome.SKIPPED),
        ],
        verification=Verification(
            status="DRIFTED",
            passed=False,
            remaining=["f-revert"],
            reason="1 repaired finding(s) remain (f-revert)",
        ),
        rolledBack=["the state put back to version v-123 (serial now 9)"],
        notReversible=["step revert changed the cloud"],
        codeWritten=["iacdrift_repair_x.tf"],
        exitCode=1,
    )
    assert render_apply_text(report) == (
        f"repair {PLAN.planId} for prod-app (applied): rolled-back\n"
        "  reason: prod-app: verification failed: 1 repaired finding(s) remain (f-revert)\n"
        "  state snapshot: version v-123\n"
        f"  [rolled-back] {move.id} MOVE\n"
        f"      address: {move.addresses[0]}\n"
        f"      address: {move.addresses[1]}\n"
        "      applied\n"
        "      plan:\n"
        f"        {MOVED_TO}: move (from {MOVED_FROM})\n"
        "      change record: repair-x-move\n"
        f"  [done] {revert.id} REVERT\n"
        "      address: aws_security_group.web\n"
        "      plan:\n"
        "        aws_security_group.web: update\n"
        "  [skipped] verify-1 VERIFY\n"
        "  code written into the stack directory:\n"
        "    iacdrift_repair_x.tf\n"
        "  verification: FAILED (DRIFTED)\n"
        "    1 repaired finding(s) remain (f-revert)\n"
        "  rolled back: the state put back to version v-123 (serial now 9)\n"
        "  NOT reversible: step revert changed the cloud\n"
    )


def test_render_apply_text_of_a_dry_run() -> None:
    report = RepairApplyReport(
        planId="rp-0123",
        stack=STACK,
        dryRun=True,
        result=RepairResult.DRY_RUN,
        startedAt=NOW,
        finishedAt=NOW,
        steps=[
            StepRecord(
                stepId="revert-1",
                action=Action.REVERT,
                addresses=["aws_security_group.web"],
                outcome=StepOutcome.PLANNED,
                detail="would be carried out with --yes",
                expectedPlan=["no changes"],
            )
        ],
        exitCode=2,
    )
    assert render_apply_text(report) == (
        "repair rp-0123 for prod-app (dry run): dry-run\n"
        "  [planned] revert-1 REVERT\n"
        "      address: aws_security_group.web\n"
        "      would be carried out with --yes\n"
        "      plan:\n"
        "        no changes\n"
    )


def test_findings_known_before_the_repair_are_not_new() -> None:
    """An auto-heal plans only some findings of its check: the others are known."""
    other = _finding("f-other", "aws_iam_role.o", Action.INVESTIGATE)
    verdict = judge_verification(PLAN, DONE, _result(StackStatus.DRIFTED, other))
    assert not verdict.passed and verdict.new == ["aws_iam_role.o: UNAUTHORIZED_RUNTIME_DRIFT"]
    verdict = judge_verification(
        PLAN, DONE, _result(StackStatus.DRIFTED, other), known=frozenset({"f-other"})
    )
    assert verdict.passed
