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
   ``iacdrift.yaml`` for the stack's risk tier; and unless the state's lineage, serial
   and version id and the stack's files are those planned (it says which changed).
   ``force-unlock`` is not carried out by this version: a plan holding one is refused
   at apply, saying so.
4. Then, under the stack's orchestrator lease (operation ``surgery``), re-checked under
   it: the current state object version is the snapshot (recorded beside the plan);
   the edited state planned on the copy is pushed with ``terraform state push`` in a
   scratch copy of the stack (Terraform's own lock; serial one above the current one,
   lineage checked; never ``-force``); a fresh plan of the stack must match the
   expectation. Any failure or mismatch pushes the snapshot back the same way and says
   so. Each step is recorded beside the plan (``steps/``) as it happens.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iacdrift import locking
from iacdrift.aws.sts import caller_identity
from iacdrift.aws.surgery_store import SurgeryStore
from iacdrift.clock import Clock, utc_now
from iacdrift.core.reconcile.plan import files_digest
from iacdrift.core.reconcile.targeted import plan_changes
from iacdrift.core.surgery.expectation import compare
from iacdrift.core.surgery.plan import integrity_problems
from iacdrift.credentials import person_credentials
from iacdrift.engine.base import CliEngine, StackCall
from iacdrift.engine.workspace import private_dir, stack_files
from iacdrift.errors import ExitCode, IacdriftError, InputError, RefusedError
from iacdrift.flows.lockfiles import saved_lock
from iacdrift.flows.repair_apply import push_state, read_state
from iacdrift.flows.workbench import EngineOptions, StackRef, Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project, RegisteredStack, load_project
from iacdrift.models.surgery import (
    ForceUnlockOperation,
    ResultingChange,
    SurgeryApplyReport,
    SurgeryApproval,
    SurgeryPlan,
    SurgeryStepRecord,
)
from iacdrift.report.common import render_json


@dataclass(frozen=True)
class SurgeryRequest:
    plan_id: str
    comment: str | None = None
    config_path: Path | None = None
    registry_dir: Path | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)


@dataclass(frozen=True)
class Found:
    stack: RegisteredStack
    plan: SurgeryPlan
    store: SurgeryStore


def store_for(bench: Workbench, stack: RegisteredStack) -> SurgeryStore:
    spec = stack.unit.spec.state
    credentials = person_credentials(os.environ, bench.orchestrator_credentials())
    return SurgeryStore(spec.bucket, credentials, bench.target.with_region(spec.region))


def find_plan(bench: Workbench, project: Project, plan_id: str) -> Found:
    """Rule 1."""
    for stack in project.stacks:
        store = store_for(bench, stack)
        body = store.get_plan(stack.name, plan_id)
        if body is None:
            continue
        try:
            plan = SurgeryPlan.model_validate_json(body)
        except ValueError as exc:
            raise InputError(
                f"{plan_id}: the stored plan of {stack.name} is not a SurgeryPlan ({exc}); "
                "plan again"
            ) from exc
        problems = integrity_problems(plan)
        if problems or plan.planId != plan_id:
            raise RefusedError(f"{plan_id}: {problems[0] if problems else 'id mismatch'}")
        return Found(stack, plan, store)
    raise InputError(
        f"{plan_id}: no surgery plan with this id under iacdrift/surgery/ of any registered "
        "stack's state bucket; run `iacdrift surgery plan FILE` first"
    )


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
            f"{len(self.records):02d}-{name}",
            render_json(record).encode(),
        )

    def current(self) -> tuple[dict[str, Any], str | None]:
        return read_state(self.bench, self.ref)

    def stale(self) -> list[str]:
        state, version = self.current()
        binding = self.plan.binding
        found: list[str] = []
        if state.get("lineage") != binding.stateLineage:
            found.append(
                f"the state's lineage is {state.get('lineage')} (planned: {binding.stateLineage})"
            )
        elif state.get("serial") != binding.stateSerial:
            found.append(
                f"the state's serial is {state.get('serial')} (planned: {binding.stateSerial})"
            )
        elif version != binding.stateVersionId:
            found.append(
                f"the state object is version {version} (planned: {binding.stateVersionId})"
            )
        if files_digest(stack_files(self.ref.directory)) != binding.filesDigest:
            found.append("the stack's files changed")
        return found


def apply(request: SurgeryRequest, clock: Clock = utc_now) -> SurgeryApplyReport:
    """``iacdrift surgery apply``: rules 3-4."""
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
    if any(isinstance(r.operation, ForceUnlockOperation) for r in plan.operations):
        return run.report(
            "refused",
            f"{plan.planId}: force-unlock is not carried out by this version of iacdrift; "
            "split it out of the migration",
        )
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
    stale = run.stale()
    if stale:
        return run.report("refused", f"{plan.planId}: stale: {'; '.join(stale)}; plan again")
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
        lease.acquire()
    except locking.LeaseHeldError as exc:
        return run.report("refused", exc.message)
    try:
        stale = run.stale()
        if stale:
            return run.report("refused", f"{plan.planId}: stale: {'; '.join(stale)}; plan again")
        return _carry_out(run, edited, lease)
    finally:
        lease.release()


def _carry_out(run: _Apply, edited: bytes, lease: locking.Lease) -> SurgeryApplyReport:
    plan, ref = run.plan, run.ref
    state, run.snapshot = run.current()
    serial = int(state.get("serial") or 0)
    lineage = state.get("lineage")
    planned = json.loads(edited)
    if not isinstance(planned, dict) or planned.get("lineage") != lineage:
        return run.report(
            "refused", f"{plan.planId}: the planned state's lineage is not the current one"
        )
    run.step("snapshot", f"the state before the surgery: serial {serial}", serial, run.snapshot)
    scratch = private_dir(run.bench.scratch_parent, "iacdrift-surgery-")
    try:
        with prepared(run.bench, ref, lock_file=saved_lock(run.bench, ref)) as ready:
            lease.ensure_held()
            try:
                push_state(ready.engine, ready.call, {**planned, "serial": serial + 1}, scratch)
            except IacdriftError as exc:
                run.step("failed", f"push refused: {exc.message}")
                return run.report(
                    "failed", f"{plan.planId}: the push failed, nothing changed: {exc.message}"
                )
            after, version = run.current()
            run.step(
                "pushed", "the planned state is the stack's state", after.get("serial"), version
            )
            problem = _verify(run, ready.engine, ready.call)
            if problem is None:
                run.step("verified", "a fresh plan matches the expectation")
                return run.report("applied")
            # Roll back: the snapshot, lineage checked, serial above the current one.
            lease.ensure_held()
            now, _ = run.current()
            where = ref.unit.spec.state.uri if ref.unit is not None else ref.name
            if now.get("lineage") != lineage:
                run.step("failed", f"not rolled back: the lineage changed ({problem})")
                return run.report(
                    "failed",
                    f"{plan.planId}: verification failed ({problem}) and the state's lineage "
                    f"changed since: not rolled back; look at {where}",
                )
            try:
                back = {**state, "serial": int(now.get("serial") or serial) + 1}
                push_state(ready.engine, ready.call, back, scratch)
            except IacdriftError as exc:
                run.step("failed", f"rollback refused: {exc.message}")
                return run.report(
                    "failed",
                    f"{plan.planId}: verification failed ({problem}) and the rollback push "
                    f"failed: {exc.message}; push version {run.snapshot} of {where} back by hand",
                )
            restored, version = run.current()
            run.step(
                "rolled-back",
                f"verification failed ({problem}); the snapshot is the state again",
                restored.get("serial"),
                version,
            )
            return run.report(
                "rolled-back", f"{plan.planId}: verification failed: {problem}; state put back"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


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
