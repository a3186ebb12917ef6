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
3. Apply refuses, before any change, unless the distinct approvals from reviewers other
   than the author, bound to this binding, reach ``surgery.approvals`` of
   ``iacdrift.yaml`` for the stack's risk tier; and unless the surgery can go on from
   where it stands (:mod:`iacdrift.flows.surgery_status`): ``not-started`` (the state
   object is the very one planned against, the stack's files too) or
   ``pushed-unverified`` (a killed apply pushed; this one resumes). Applied already:
   nothing to do. Each ``force-unlock``'s lock, read now, must be the one the plan
   recorded and older than ``surgery.staleLockAfterMinutes``
   (:func:`iacdrift.core.surgery.locks.unlock_refusal`).
4. Then, under the stack's orchestrator lease (operation ``surgery``; a lease whose
   holder on this host is dead is taken over), re-checked under it: Terraform
   processes a killed iacdrift left are killed; the current state is the snapshot (its
   version id recorded, a copy kept beside the plan as evidence); each stale lock
   named is released (``terraform force-unlock``); the edited state planned on the
   copy is pushed with ``terraform state push`` in a scratch copy of the stack
   (Terraform's own lock; serial one above the current one, lineage checked; never
   ``-force``); a fresh plan of the stack must match the expectation. Any failure or
   mismatch pushes the snapshot back the same way and says so (a released lock
   cannot be taken back). After a killed apply, a Terraform lock it left (this host,
   created after its last recorded step, no Terraform of it running) is released
   first; a pushed state is then verified (and rolled back on a mismatch), a state
   not pushed yet goes through the whole apply.
5. Each step is recorded beside the plan (``steps/NN-<step>.json``) before the next
   begins: ``surgery status`` reads them. S3 replaces an object whole, so a kill at
   any moment leaves the state as before or as after.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from iacdrift import locking
from iacdrift.aws.sts import caller_identity
from iacdrift.aws.surgery_store import SurgeryStore
from iacdrift.clock import Clock, utc_now
from iacdrift.core.reconcile.plan import files_digest
from iacdrift.core.reconcile.targeted import plan_changes
from iacdrift.core.surgery.expectation import compare
from iacdrift.core.surgery.locks import unlock_refusal
from iacdrift.core.surgery.progress import Condition, next_command
from iacdrift.credentials import person_credentials
from iacdrift.engine import survivors
from iacdrift.engine.base import CliEngine, StackCall
from iacdrift.engine.diagnostics import parse_lock_time
from iacdrift.engine.workspace import private_dir, stack_files
from iacdrift.errors import ExitCode, IacdriftError, RefusedError
from iacdrift.flows.lockfiles import saved_lock
from iacdrift.flows.repair_apply import push_state, read_state
from iacdrift.flows.surgery_found import SurgeryRequest, find_plan
from iacdrift.flows.surgery_status import Progress, describe, read_progress
from iacdrift.flows.workbench import StackRef, Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project, RegisteredStack, load_project
from iacdrift.models.finding import LockHolder
from iacdrift.models.surgery import (
    ForceUnlockOperation,
    ResultingChange,
    SurgeryApplyReport,
    SurgeryApproval,
    SurgeryPlan,
    SurgeryStepRecord,
)
from iacdrift.report.common import render_json

# The test-only fault injection variable (see crash_point).
KILL_AFTER_VARIABLE = "IACDRIFT_TEST_KILL_AFTER"
# How much earlier than our last recorded step a lock may say it was created and still
# be the killed apply's own (Terraform's clock and ours are the same host's).
LOCK_CLOCK_SKEW = timedelta(seconds=5)


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
                "exitCode": int(ExitCode.OK if result == "applied" else ExitCode.FAILED),
            }
        )

    def step(
        self, name: str, detail: str, serial: int | None = None, version: str | None = None
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
        )
        self.records.append(record)
        self.store.put_step(
            self.plan.stack,
            self.plan.planId,
            f"{self.earlier + len(self.records):02d}-{name}",
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


def _unlock_refusals(run: _Apply, stack: RegisteredStack, settings: Project) -> list[str]:
    """Rule 3: each force-unlock's lock, read now, must be the one planned and stale."""
    spec = stack.unit.spec.state
    stale_after = timedelta(minutes=settings.settings.surgery.staleLockAfterMinutes)
    found: list[str] = []
    for result in run.plan.operations:
        if not isinstance(result.operation, ForceUnlockOperation):
            continue
        if result.lock is None:
            found.append(f"force-unlock {result.operation.lockId}: the plan recorded no lock")
            continue
        held = locking.read_terraform_lock(
            spec,
            run.bench.credentials(run.ref),
            run.bench.target.with_region(spec.region),
            run.clock(),
            stale_after=stale_after,
        )
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
    refusal = _refusal(run, read_progress(bench, found), stack, project)
    if refusal is not None:
        return refusal
    edited = found.store.get_state(plan.stack, plan.planId)
    if edited is None:
        return run.report(
            "refused", f"{plan.planId}: the planned state is missing beside the plan; plan again"
        )
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
        if dead is not None:
            run.step("resumed", f"took the lease over from {dead}, a process that is gone")
        _kill_leftovers(run)
        refusal = _refusal(run, progress, stack, project)
        if refusal is not None:
            return refusal
        return _carry_out(run, edited, lease, progress)
    finally:
        lease.release()


def _refusal(
    run: _Apply, progress: Progress, stack: RegisteredStack, project: Project
) -> SurgeryApplyReport | None:
    """Rule 3, from the surgery's condition: a report refusing, or None to go on."""
    plan = run.plan
    state = progress.condition
    if state is Condition.APPLIED:
        run.snapshot = progress.snapshot_version
        return run.report("applied", f"{plan.planId}: applied and verified already")
    if state is Condition.PUSHED_UNVERIFIED:
        if progress.snapshot is None:
            return run.report(
                "failed",
                f"{plan.planId}: the edited state is in place but no snapshot was kept: "
                "cannot verify-or-roll-back safely; run `iacdrift check` and decide",
            )
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
    if run.files_changed():
        return run.report("refused", f"{plan.planId}: stale: the stack's files changed; plan again")
    if "unlocked" not in {s.step for s in progress.steps}:
        refusals = _unlock_refusals(run, stack, project)
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
    """Terraform processes a killed iacdrift left running (they may hold the state's
    lock) are killed before anything else, and recorded."""
    left = survivors.find_survivors()
    if not left:
        return
    report = survivors.kill_survivors(left)
    done = [describe(s) for s in report.killed + report.gone]
    detail = f"Terraform processes left by an iacdrift that is gone: killed {done}"
    if report.failed:
        detail += f"; could not kill {[f'{describe(s)}: {why}' for s, why in report.failed]}"
    run.step("killed-leftovers", detail)


def _own_lock(run: _Apply, progress: Progress, lock: LockHolder) -> bool:
    """Whether Terraform's lock on the state was left by the killed apply this run
    resumes: taken on this host after that apply's last recorded step (its push or
    its verification), by a Terraform that is no longer running (its process was
    killed: :func:`_kill_leftovers`, or died with iacdrift)."""
    if not progress.steps or not lock.who.endswith("@" + socket.gethostname()):
        return False
    created = parse_lock_time(lock.created) if lock.created else None
    if created is None:
        return False
    last = max(record.at for record in progress.steps)
    return created >= last - LOCK_CLOCK_SKEW and not survivors.find_survivors()


def _carry_out(
    run: _Apply, edited: bytes, lease: locking.Lease, progress: Progress
) -> SurgeryApplyReport:
    plan, ref = run.plan, run.ref
    resuming = progress.condition is Condition.PUSHED_UNVERIFIED
    state, version = run.current()
    lineage = state.get("lineage")
    planned = json.loads(edited)
    if not isinstance(planned, dict) or planned.get("lineage") != lineage:
        return run.report(
            "refused", f"{plan.planId}: the planned state's lineage is not the current one"
        )
    if resuming:
        assert progress.snapshot is not None
        before = json.loads(progress.snapshot)
        run.snapshot = progress.snapshot_version
        run.step(
            "resumed",
            "the edited state is in place, not verified: verifying it",
            state.get("serial"),
            version,
        )
    else:
        before = state
        run.snapshot = version
        body = json.dumps(state).encode()
        run.store.put_snapshot(plan.stack, plan.planId, body)
        run.step(
            "snapshot",
            f"the state before the surgery: serial {state.get('serial')} (a copy is kept "
            "beside the plan)",
            state.get("serial"),
            version,
        )
    serial = int(state.get("serial") or 0)
    scratch = private_dir(run.bench.scratch_parent, "iacdrift-surgery-")
    try:
        with prepared(run.bench, ref, lock_file=saved_lock(run.bench, ref)) as ready:
            lease.ensure_held()
            held = _terraform_lock(run)
            if held is not None and _own_lock(run, progress, held):
                ready.engine.force_unlock(ready.call, held.id)
                run.step("released-own-lock", f"released lock {held.id} the killed apply left")
            if not resuming:
                done = {s.step for s in progress.steps}
                for result in plan.operations:
                    if (
                        isinstance(result.operation, ForceUnlockOperation)
                        and "unlocked" not in done
                    ):
                        lock_id = result.operation.lockId
                        ready.engine.force_unlock(ready.call, lock_id)
                        run.step("unlocked", f"released the stale lock {lock_id}")
                if progress.planned.changes_state:
                    run.step("pushing", f"pushing the edited state as serial {serial + 1}")
                    try:
                        push_state(
                            ready.engine, ready.call, {**planned, "serial": serial + 1}, scratch
                        )
                    except IacdriftError as exc:
                        run.step("failed", f"push refused: {exc.message}")
                        return run.report(
                            "failed",
                            f"{plan.planId}: the push failed, nothing changed: {exc.message}",
                        )
                    after, version = run.current()
                    run.step(
                        "pushed",
                        "the planned state is the stack's state",
                        after.get("serial"),
                        version,
                    )
            problem = _verify(run, ready.engine, ready.call)
            if problem is None:
                run.step("verified", "a fresh plan matches the expectation")
                return run.report("applied")
            if not progress.planned.changes_state:
                run.step("failed", f"verification failed ({problem}); the state was not changed")
                return run.report(
                    "failed",
                    f"{plan.planId}: verification failed: {problem}; the state was not "
                    "changed, and a released lock cannot be taken back",
                )
            return _roll_back(run, ready.engine, ready.call, lease, before, problem, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _terraform_lock(run: _Apply) -> LockHolder | None:
    assert run.ref.unit is not None
    spec = run.ref.unit.spec.state
    return locking.read_terraform_lock(
        spec, run.bench.credentials(run.ref), run.bench.target.with_region(spec.region), run.clock()
    )


def _roll_back(
    run: _Apply,
    engine: CliEngine,
    call: StackCall,
    lease: locking.Lease,
    before: dict[str, Any],
    problem: str,
    scratch: Path,
) -> SurgeryApplyReport:
    """Push the snapshot back: its lineage checked, its serial above the current one."""
    plan, ref = run.plan, run.ref
    lease.ensure_held()
    now, _ = run.current()
    where = ref.unit.spec.state.uri if ref.unit is not None else ref.name
    unlocked = any(isinstance(r.operation, ForceUnlockOperation) for r in plan.operations)
    also = "; the released lock cannot be taken back" if unlocked else ""
    if now.get("lineage") != before.get("lineage"):
        run.step("failed", f"not rolled back: the lineage changed ({problem})")
        return run.report(
            "failed",
            f"{plan.planId}: verification failed ({problem}) and the state's lineage "
            f"changed since: not rolled back; look at {where}{also}",
        )
    run.step("rolling-back", f"verification failed ({problem}); pushing the snapshot back")
    try:
        back = {**before, "serial": int(now.get("serial") or 0) + 1}
        push_state(engine, call, back, scratch)
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
    )
    return run.report(
        "rolled-back", f"{plan.planId}: verification failed: {problem}; state put back{also}"
    )


def _verify(run: _Apply, engine: CliEngine, call: StackCall) -> str | None:
    """A fresh plan of the stack against its new state: None when it matches the
    expectation, else what differs."""
    try:
        reading = engine.plan_and_show(call, init=False)
    except IacdriftError as exc:
        return f"the verification plan failed: {exc.message}"
    changes = plan_changes(reading.plan_json)
    run.resulting = [
        ResultingChange(
            address=c.address, actions=list(c.actions), previousAddress=c.previous_address
        )
        for c in changes
    ]
    comparison = compare(run.plan.expectation.expected, changes)
    return None if comparison.matches else "; ".join(comparison.differences)
