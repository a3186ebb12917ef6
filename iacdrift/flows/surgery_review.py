"""`iacdrift surgery approve` and `iacdrift surgery apply`: the review gate and the act.

Rules, in the order the code follows them:

1. A plan is found by its id under the surgery prefix of a registered stack's state
   bucket (``iacdrift/surgery/<stack>/<plan-id>/``, written by ``surgery plan``); it
   must read back intact (:func:`iacdrift.core.surgery.plan.integrity_problems`) and be
   approvable (its result matched its expectation).
2. Approve: the reviewer is the caller identity of the approving credentials (the
   environment's ``AWS_ACCESS_KEY_ID``..., else the orchestrator's); the author cannot
   approve their own plan; an approval is written once per reviewer with a conditional
   put (two approvals never overwrite each other) and is bound to the plan's
   ``binding.hash``.
3. Apply (a dry run without ``--yes``: these checks, and what it would do) refuses,
   before any change, unless the distinct approvals from reviewers other
   than the author, bound to this binding, reach ``surgery.approvals`` of
   ``iacdrift.yaml`` for the stack's risk tier; and unless the surgery can go on from
   where it stands (:mod:`iacdrift.flows.surgery_status`): ``not-started`` (the state
   object is the very one planned against, the stack's files too) or
   ``pushed-unverified`` (a killed apply pushed; this one resumes). Applied already:
   nothing to do. Each ``force-unlock``'s lock, read now, must be the one the plan
   recorded and older than ``surgery.staleLockAfterMinutes``
   (:func:`iacdrift.core.surgery.locks.unlock_refusal`).
4. Then, under the stack's orchestrator lease (operation ``surgery``), re-checked
   under it. When the lease's item names a holder on this host that is dead (a killed
   apply), it is taken over, that run's Terraform processes of this stack still
   running a few seconds on are killed, and a Terraform lock it left is
   released (:func:`iacdrift.core.surgery.locks.own_lock`: this user and host, a
   command the apply runs, created between its last step and its lease's expiry).
   Not started: the state object must be the very version planned against; it is
   the snapshot (its version id and digest recorded, its bytes kept beside the plan
   as evidence); each stale lock named is released (``terraform force-unlock``); the
   edited state is pushed with ``terraform state push`` in a scratch copy of the
   stack (Terraform's own lock; serial one above the planned one, lineage checked;
   never ``-force``). Pushed, or resumed: a fresh plan of the stack must match the
   expectation. A mismatch pushes the snapshot back, read from its S3 version and
   checked against its digest, but only over the state this surgery pushed (someone
   else's write is theirs: left alone, and said); a released lock cannot be taken
   back. A plan that cannot be made verifies nothing: no rollback, the surgery stays
   pushed-unverified and ``surgery apply`` verifies it again.
5. Each step is recorded beside the plan (``steps/NNN-<step>.json``) before the next
   begins: ``surgery status`` reads them. S3 replaces an object whole, so a kill at
   any moment leaves the state as before or as after.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from iacdrift import locking
from iacdrift.aws import state_versions
from iacdrift.aws.sts import caller_identity
from iacdrift.aws.surgery_store import SurgeryStore
from iacdrift.clock import Clock, utc_now
from iacdrift.core.reconcile.plan import files_digest
from iacdrift.core.reconcile.targeted import plan_changes
from iacdrift.core.surgery.expectation import compare
from iacdrift.core.surgery.locks import own_lock, unlock_refusal
from iacdrift.core.surgery.progress import Condition, next_command
from iacdrift.core.surgery.state import state_digest
from iacdrift.credentials import person_credentials
from iacdrift.engine import survivors
from iacdrift.engine.base import CliEngine, StackCall
from iacdrift.engine.diagnostics import parse_lock_time
from iacdrift.engine.workspace import private_dir, stack_files
from iacdrift.errors import ExitCode, IacdriftError, RefusedError
from iacdrift.flows.lockfiles import saved_lock
from iacdrift.flows.repair_apply import push_state, read_state
from iacdrift.flows.surgery_found import SurgeryRequest, find_plan, held_lock
from iacdrift.flows.surgery_status import Progress, describe, read_progress
from iacdrift.flows.workbench import StackRef, Workbench
from iacdrift.flows.working_copy import PreparedStack, prepared
from iacdrift.loaders.registry import Project, load_project
from iacdrift.loaders.terraform_json import load_json
from iacdrift.models.surgery import (
    ForceUnlockOperation,
    ResultingChange,
    SurgeryApplyReport,
    SurgeryApproval,
    SurgeryPlan,
    SurgeryStepRecord,
)
from iacdrift.report.common import render_json

# applied: 0; a dry run that would go ahead: 2 (as repair apply's); anything else: 1.
_EXIT_CODES = {"applied": ExitCode.OK, "dry-run": ExitCode.DRIFT}
# The test-only fault injection variable (see crash_point).
KILL_AFTER_VARIABLE = "IACDRIFT_TEST_KILL_AFTER"
# Seconds a leftover of a killed apply gets to finish by itself before it is killed.
LEFTOVER_MARGIN = 5.0


def approve(request: SurgeryRequest, clock: Clock = utc_now) -> SurgeryApproval:
    """``iacdrift surgery approve``: rule 2."""
    project = load_project(request.config_path, request.registry_dir)
    bench = Workbench.open(project, request.engine)
    found = find_plan(bench, project, request.plan_id)
    plan = found.plan
    if not plan.approvable:
        raise RefusedError(
            f"{plan.planId}: its result does not match its expectation "
            f"({'; '.join(plan.expectation.differences)}); it cannot be approved"
        )
    credentials = person_credentials(os.environ, bench.orchestrator_credentials())
    reviewer = caller_identity(credentials, bench.target)
    if reviewer == plan.author:
        raise RefusedError(
            f"{plan.planId}: {reviewer} made this plan; an author cannot approve their own "
            "plan: ask another reviewer"
        )
    approval = SurgeryApproval(
        planId=plan.planId,
        stack=plan.stack,
        bindingHash=plan.binding.hash,
        reviewer=reviewer,
        approvedAt=clock(),
        comment=request.comment,
    )
    if not found.store.put_approval(
        plan.stack, plan.planId, reviewer, render_json(approval).encode()
    ):
        raise RefusedError(f"{plan.planId}: {reviewer} approved this plan already")
    return approval


def counted_approvals(plan: SurgeryPlan, approvals: Sequence[bytes]) -> list[str]:
    """The distinct reviewers whose approval counts: bound to this plan and binding,
    not the author (rule 3)."""
    reviewers: set[str] = set()
    for body in approvals:
        try:
            approval = SurgeryApproval.model_validate_json(body)
        except ValueError:
            continue
        if (
            approval.planId == plan.planId
            and approval.bindingHash == plan.binding.hash
            and approval.reviewer != plan.author
        ):
            reviewers.add(approval.reviewer)
    return sorted(reviewers)


@dataclass
class _Apply:
    """One ``surgery apply``: its plan, where its records go, what it did so far."""

    bench: Workbench
    ref: StackRef
    plan: SurgeryPlan
    store: SurgeryStore
    actor: str
    clock: Clock
    reviewers: list[str] = field(default_factory=list)
    records: list[SurgeryStepRecord] = field(default_factory=list)
    snapshot: str | None = None
    resulting: list[ResultingChange] = field(default_factory=list)
    # Steps recorded by earlier attempts (a killed apply); ours number after them.
    earlier: int = 0
    # What the edited state says (state_digest): a rollback only replaces that.
    edited_digest: str = ""

    def report(self, result: str, reason: str | None = None) -> SurgeryApplyReport:
        return SurgeryApplyReport.model_validate(
            {
                "planId": self.plan.planId,
                "stack": self.plan.stack,
                "result": result,
                "reason": reason,
                "approvals": self.reviewers,
                "snapshotVersionId": self.snapshot,
                "steps": self.records,
                "resultingPlan": self.resulting,
                "exitCode": int(_EXIT_CODES.get(result, ExitCode.FAILED)),
            }
        )

    def step(
        self,
        name: str,
        detail: str,
        serial: int | None = None,
        version: str | None = None,
        digest: str | None = None,
    ) -> None:
        """Record a step beside the plan as it happens (rule 4)."""
        record = SurgeryStepRecord(
            planId=self.plan.planId,
            step=name,
            at=self.clock(),
            actor=self.actor,
            detail=detail,
            stateSerial=serial,
            stateVersionId=version,
            stateDigest=digest,
        )
        self.records.append(record)
        self.store.put_step(
            self.plan.stack,
            self.plan.planId,
            f"{self.earlier + len(self.records):03d}-{name}",
            render_json(record).encode(),
        )
        crash_point(name)

    def current(self) -> tuple[dict[str, Any], str | None]:
        return read_state(self.bench, self.ref)

    def files_changed(self) -> bool:
        return files_digest(stack_files(self.ref.directory)) != self.plan.binding.filesDigest


def crash_point(step: str) -> None:
    """Fault injection for the crash tests: ``IACDRIFT_TEST_KILL_AFTER=<step>`` makes
    this process kill itself (SIGKILL: no handler, no cleanup) right after recording
    that step, as a power cut or an OOM kill would."""
    if os.environ.get(KILL_AFTER_VARIABLE) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _unlock_refusals(run: _Apply, project: Project) -> list[str]:
    """Rule 3: each force-unlock's lock, read now, must be the one planned and stale."""
    stale_after = timedelta(minutes=project.settings.surgery.staleLockAfterMinutes)
    found: list[str] = []
    for result in run.plan.operations:
        if not isinstance(result.operation, ForceUnlockOperation):
            continue
        if result.lock is None:
            found.append(f"force-unlock {result.operation.lockId}: the plan recorded no lock")
            continue
        held = held_lock(run.bench, run.ref, run.clock(), stale_after)
        refusal = unlock_refusal(result.lock, held, stale_after)
        if refusal is not None:
            found.append(refusal)
    return found


def apply(request: SurgeryRequest, clock: Clock = utc_now) -> SurgeryApplyReport:
    """``iacdrift surgery apply``: rules 3-5."""
    project = load_project(request.config_path, request.registry_dir)
    bench = Workbench.open(project, request.engine)
    found = find_plan(bench, project, request.plan_id)
    plan, stack = found.plan, found.stack
    person = person_credentials(os.environ, bench.orchestrator_credentials())
    run = _Apply(
        bench, StackRef.of(stack), plan, found.store, caller_identity(person, bench.target), clock
    )
    # Rule 3.
    if not plan.approvable:
        return run.report("refused", f"{plan.planId}: its result does not match its expectation")
    run.reviewers = counted_approvals(plan, found.store.approvals(plan.stack, plan.planId))
    tier = stack.unit.spec.riskTier
    needed = project.settings.surgery.required(tier)
    if len(run.reviewers) < needed:
        given = f" (by {', '.join(run.reviewers)})" if run.reviewers else ""
        return run.report(
            "refused",
            f"{plan.planId}: {needed} approvals needed for a {tier.value} stack, "
            f"{len(run.reviewers)} given{given}; `iacdrift surgery approve {plan.planId}` by "
            "someone other than the author",
        )
    first = read_progress(bench, found)
    refusal = _refusal(run, first, project)
    if refusal is not None:
        return refusal
    if not request.yes:
        return run.report("dry-run", _would(first, plan))
    # Rule 4.
    lease = locking.Lease(
        run.ref.name,
        table=bench.lease_table(),
        credentials=bench.orchestrator_credentials(),
        target=bench.target,
        run_id=bench.run_id,
        operation="surgery",
        clock=clock,
    )
    try:
        dead = lease.acquire_from_dead()
    except locking.LeaseHeldError as exc:
        return run.report("refused", exc.message)
    try:
        progress = read_progress(bench, found)
        run.earlier = len(progress.steps)
        run.edited_digest = progress.planned.edited_digest
        if dead is not None:
            run.step("resumed", f"took the lease over from {dead.holder}, a process that is gone")
            _kill_leftovers(run)
        refusal = _refusal(run, progress, project)
        if refusal is not None:
            return refusal
        edited = found.store.get_state(plan.stack, plan.planId)
        assert edited is not None  # read_progress raised otherwise
        return _carry_out(run, edited, lease, progress, dead)
    finally:
        lease.release()


def _would(progress: Progress, plan: SurgeryPlan) -> str:
    """What ``--yes`` would do from where the surgery stands (a dry run's reason)."""
    if progress.condition is Condition.PUSHED_UNVERIFIED:
        steps = ["verify the state in place with a fresh plan", "roll back on a mismatch"]
    else:
        steps = ["take the lease", "snapshot the state"]
        steps += [
            f"release the stale lock {r.operation.lockId}"
            for r in plan.operations
            if isinstance(r.operation, ForceUnlockOperation)
        ]
        if progress.planned.changes_state:
            steps.append("push the edited state")
        steps += ["verify with a fresh plan", "roll back on a mismatch"]
    return (
        f"{plan.planId}: dry run ({progress.condition.value}): approvals, staleness and "
        f"locks pass; with --yes it would {', '.join(steps)}"
    )


def _refusal(run: _Apply, progress: Progress, project: Project) -> SurgeryApplyReport | None:
    """Rule 3, from the surgery's condition: a report refusing, or None to go on."""
    plan = run.plan
    state = progress.condition
    if state is Condition.APPLIED:
        run.snapshot = progress.snapshot_version
        return run.report("applied", f"{plan.planId}: applied and verified already")
    if run.files_changed():
        # Verifying against other files could roll a correct state back.
        return run.report(
            "refused",
            f"{plan.planId}: stale: the stack's files changed since planning; put them back "
            f"(`iacdrift surgery status {plan.planId}` says where the surgery stands) or plan "
            "again",
        )
    if state is Condition.PUSHED_UNVERIFIED:
        return None
    if state is Condition.CHANGED_ELSEWHERE and progress.current is not None:
        return run.report(
            "refused",
            f"{plan.planId}: stale: {_moved(progress)}; run `iacdrift check {plan.stack}` "
            "and plan again",
        )
    if state is not Condition.NOT_STARTED:
        _, why = next_command(state, plan.planId, plan.stack)
        return run.report("refused", f"{plan.planId}: {state.value}: {why}")
    refusals = _unlock_refusals(run, project)
    if refusals:
        return run.report("refused", f"{plan.planId}: {'; '.join(refusals)}")
    return None


def _moved(progress: Progress) -> str:
    """What of the state object moved since planning, in a phrase."""
    now, planned = progress.current, progress.planned
    assert now is not None
    if now.lineage != planned.lineage:
        return f"the state's lineage is {now.lineage} (planned: {planned.lineage})"
    if now.serial != planned.serial:
        return f"the state's serial is {now.serial} (planned: {planned.serial})"
    return f"the state object is version {now.version_id} (planned: {planned.version_id})"


def _kill_leftovers(run: _Apply) -> None:
    """Terraform processes of this stack a killed iacdrift left running (they may hold
    the state's lock): given a few seconds to finish by themselves, then killed,
    and recorded. Another stack's are left to the run that resumes it."""
    deadline = time.monotonic() + LEFTOVER_MARGIN
    while True:
        left = survivors.stack_survivors(run.ref.name)
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if not left:
        return
    report = survivors.kill_survivors(left)
    done = [describe(s) for s in report.killed + report.gone]
    detail = f"Terraform processes left by an iacdrift that is gone: killed {done}"
    if report.failed:
        detail += f"; could not kill {[f'{describe(s)}: {why}' for s, why in report.failed]}"
    run.step("killed-leftovers", detail)


def _user_at_host() -> str:
    """Who Terraform says holds a lock it takes from this process (LockInfo.Who)."""
    return f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"


def _release_own_lock(
    run: _Apply, ready: PreparedStack, progress: Progress, dead: locking.LeaseState | None
) -> None:
    """A Terraform lock the killed apply left (core/surgery/locks.own_lock) is
    released, and recorded; any other lock stays (the push or plan then waits for it
    and fails naming it)."""
    held = held_lock(run.bench, run.ref, run.clock())
    if held is None:
        return
    mine = own_lock(
        held,
        created=parse_lock_time(held.created) if held.created else None,
        took_over_dead=dead is not None,
        user_at_host=_user_at_host(),
        last_step_at=max((r.at for r in progress.steps), default=None),
        dead_lease_expired_at=dead.expires_at if dead is not None else None,
        leftovers=bool(survivors.stack_survivors(run.ref.name)),
    )
    if mine:
        ready.engine.force_unlock(ready.call, held.id)
        run.step(
            "released-own-lock",
            f"released lock {held.id} ({held.operation} by {held.who} since {held.created}), "
            "left by the killed apply",
        )


def _snapshot(run: _Apply, progress: Progress) -> tuple[dict[str, Any], str] | str:
    """The state the surgery started from, and its digest: the S3 version the plan was
    made against (read back, checked against the digest recorded when the snapshot
    was taken); without versions, the copy kept beside the plan, checked the same
    way. A reason string when it cannot be had safely."""
    recorded = progress.snapshot_step
    if recorded is None or recorded.stateDigest is None:
        return "no snapshot was recorded"
    assert run.ref.unit is not None
    spec = run.ref.unit.spec.state
    if recorded.stateVersionId is not None:
        body = state_versions.read_version(
            spec.bucket,
            spec.key,
            recorded.stateVersionId,
            run.bench.credentials(run.ref),
            run.bench.target.with_region(spec.region),
        )
    else:
        kept = run.store.get_snapshot(run.plan.stack, run.plan.planId)
        if kept is None:
            return "the snapshot copy is missing beside the plan"
        body = kept
    data = load_json(body, f"{run.plan.planId}: the snapshot")
    if not isinstance(data, dict) or state_digest(data) != recorded.stateDigest:
        return "the snapshot read back is not the state recorded when it was taken"
    return data, recorded.stateDigest


def _carry_out(
    run: _Apply,
    edited: bytes,
    lease: locking.Lease,
    progress: Progress,
    dead: locking.LeaseState | None,
) -> SurgeryApplyReport:
    plan, ref = run.plan, run.ref
    assert ref.unit is not None
    spec = ref.unit.spec.state
    binding = plan.binding
    resuming = progress.condition is Condition.PUSHED_UNVERIFIED
    planned = json.loads(edited)
    if not isinstance(planned, dict) or planned.get("lineage") != binding.stateLineage:
        return run.report(
            "refused", f"{plan.planId}: the planned state's lineage is not the one planned"
        )
    if resuming:
        got = _snapshot(run, progress)
        if isinstance(got, str):
            return run.report(
                "failed",
                f"{plan.planId}: the edited state is in place but {got}: no safe rollback; "
                f"verify by hand (`iacdrift check {plan.stack}`)",
            )
        before, before_digest = got
        run.snapshot = progress.snapshot_version
        run.step("resumed", "the edited state is in place, not verified: verifying it")
    else:
        found = state_versions.read_current(
            spec.bucket,
            spec.key,
            run.bench.credentials(ref),
            run.bench.target.with_region(spec.region),
        )
        if found is None or found.version_id != binding.stateVersionId:
            # Only the very object planned against is ever the snapshot.
            return run.report(
                "refused",
                f"{plan.planId}: stale: the state object is version "
                f"{found.version_id if found else None} (planned: {binding.stateVersionId}); "
                "plan again",
            )
        before = load_json(found.body, spec.uri)
        assert isinstance(before, dict)
        before_digest = state_digest(before)
        run.snapshot = found.version_id
        # The evidence copy: the object's own bytes, once (a retry keeps the first).
        run.store.put_snapshot(plan.stack, plan.planId, found.body)
        run.step(
            "snapshot",
            f"the state before the surgery: serial {before.get('serial')} (a copy is kept "
            "beside the plan)",
            before.get("serial"),
            found.version_id,
            before_digest,
        )
    scratch = private_dir(run.bench.scratch_parent, "iacdrift-surgery-")
    try:
        with prepared(run.bench, ref, lock_file=saved_lock(run.bench, ref)) as ready:
            lease.ensure_held()
            if dead is not None:
                _release_own_lock(run, ready, progress, dead)
            if not resuming:
                failed = _forward(run, ready, planned, progress, scratch)
                if failed is not None:
                    return failed
            run.step("verifying", "a fresh plan of the stack, compared with the expectation")
            verdict, problem = _verify(run, ready.engine, ready.call)
            if verdict is Verdict.MATCH:
                run.step("verified", "a fresh plan matches the expectation")
                return run.report("applied")
            if verdict is Verdict.ERROR:
                run.step("verify-failed", f"could not verify: {problem}")
                return run.report(
                    "failed",
                    f"{plan.planId}: could not verify ({problem}); nothing was rolled back: "
                    "the surgery is pushed-unverified, "
                    f"`iacdrift surgery apply {plan.planId} --yes` verifies it again",
                )
            if not progress.planned.changes_state:
                run.step("failed", f"verification failed ({problem}); the state was not changed")
                return run.report(
                    "failed",
                    f"{plan.planId}: verification failed: {problem}; the state was not "
                    "changed, and a released lock cannot be taken back",
                )
            return _roll_back(run, ready, lease, before, before_digest, problem, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _forward(
    run: _Apply,
    ready: PreparedStack,
    planned: dict[str, Any],
    progress: Progress,
    scratch: Path,
) -> SurgeryApplyReport | None:
    """Release the named stale locks, push the edited state; a failure report, or None."""
    plan = run.plan
    done = {s.step for s in progress.steps}
    for result in plan.operations:
        if isinstance(result.operation, ForceUnlockOperation) and "unlocked" not in done:
            lock_id = result.operation.lockId
            ready.engine.force_unlock(ready.call, lock_id)
            run.step("unlocked", f"released the stale lock {lock_id}")
    if not progress.planned.changes_state:
        return None
    serial = int(plan.binding.stateSerial or 0) + 1
    run.step("pushing", f"pushing the edited state as serial {serial}")
    try:
        push_state(ready.engine, ready.call, {**planned, "serial": serial}, scratch)
    except IacdriftError as exc:
        run.step("failed", f"push refused: {exc.message}")
        return run.report(
            "failed", f"{plan.planId}: the push failed, nothing changed: {exc.message}"
        )
    after, version = run.current()
    run.step("pushed", "the planned state is the stack's state", after.get("serial"), version)
    return None


def _roll_back(
    run: _Apply,
    ready: PreparedStack,
    lease: locking.Lease,
    before: dict[str, Any],
    before_digest: str,
    problem: str,
    scratch: Path,
) -> SurgeryApplyReport:
    """Push the snapshot back, but only over the state this surgery pushed (a state
    someone wrote since is theirs: left alone, and said); serial above the current."""
    plan, ref = run.plan, run.ref
    lease.ensure_held()
    now, _ = run.current()
    where = ref.unit.spec.state.uri if ref.unit is not None else ref.name
    unlocked = any(isinstance(r.operation, ForceUnlockOperation) for r in plan.operations)
    also = "; the released lock cannot be taken back" if unlocked else ""
    if not now or state_digest(now) != run.edited_digest:
        run.step("failed", f"not rolled back: the state changed since the push ({problem})")
        return run.report(
            "failed",
            f"{plan.planId}: verification failed ({problem}) and someone wrote the state since "
            f"the push: not rolled back over their change; look at {where}{also}",
        )
    run.step("rolling-back", f"verification failed ({problem}); pushing the snapshot back")
    try:
        back = {**before, "serial": int(now.get("serial") or 0) + 1}
        push_state(ready.engine, ready.call, back, scratch)
    except IacdriftError as exc:
        run.step("failed", f"rollback refused: {exc.message}")
        return run.report(
            "failed",
            f"{plan.planId}: verification failed ({problem}) and the rollback push "
            f"failed: {exc.message}; push version {run.snapshot} of {where} back by hand"
            f"{also}",
        )
    restored, version = run.current()
    run.step(
        "rolled-back",
        f"verification failed ({problem}); the snapshot is the state again",
        restored.get("serial"),
        version,
        before_digest,
    )
    return run.report(
        "rolled-back", f"{plan.planId}: verification failed: {problem}; state put back{also}"
    )


class Verdict(Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    ERROR = "error"


def _verify(run: _Apply, engine: CliEngine, call: StackCall) -> tuple[Verdict, str]:
    """A fresh plan of the stack against its state now: MATCH, MISMATCH (what differs)
    or ERROR (the plan could not be made: that says nothing of the surgery)."""
    try:
        reading = engine.plan_and_show(call, init=False)
    except IacdriftError as exc:
        return Verdict.ERROR, f"the verification plan failed: {exc.message}"
    changes = plan_changes(reading.plan_json)
    run.resulting = [
        ResultingChange(
            address=c.address, actions=list(c.actions), previousAddress=c.previous_address
        )
        for c in changes
    ]
    comparison = compare(run.plan.expectation.expected, changes)
    if comparison.matches:
        return Verdict.MATCH, ""
    return Verdict.MISMATCH, "; ".join(comparison.differences)
