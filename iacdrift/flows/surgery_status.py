"""`iacdrift surgery status PLAN_ID`: where one surgery stands, and the one command
that finishes or rolls it back.

Rules, in the order the code follows them:

1. The plan is found as for approve and apply (``surgery_found.find_plan``).
2. The steps apply recorded beside the plan (the snapshot step holds the digest of
   the state it started from) and the edited state are read from the surgery prefix;
   the state object now is read with the stack's own credentials;
   :func:`iacdrift.core.surgery.progress.condition` says which state the stack is
   in, :func:`~iacdrift.core.surgery.progress.next_command` the command.
3. Also shown, because they stop the command or explain a crash: Terraform's lock on
   the state (holder, age), the live orchestrator lease of the stack, and the
   stack's Terraform processes an iacdrift that is gone left running.

Reading only: nothing is written, no lock or lease is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

from iacdrift import locking
from iacdrift.clock import Clock, utc_now
from iacdrift.core.surgery.progress import Condition, Planned, StateFacts, condition, next_command
from iacdrift.core.surgery.state import state_digest
from iacdrift.engine import survivors
from iacdrift.errors import InputError
from iacdrift.flows.repair_apply import read_state
from iacdrift.flows.surgery_found import Found, SurgeryRequest, find_plan, held_lock
from iacdrift.flows.workbench import StackRef, Workbench
from iacdrift.loaders.registry import load_project
from iacdrift.loaders.terraform_json import load_json
from iacdrift.models.surgery import (
    ForceUnlockOperation,
    StateObject,
    SurgeryStatus,
    SurgeryStepRecord,
)


@dataclass(frozen=True)
class Progress:
    """Rule 2: what the records and the backend say."""

    condition: Condition
    current: StateFacts | None
    planned: Planned
    steps: list[SurgeryStepRecord]

    @property
    def snapshot_step(self) -> SurgeryStepRecord | None:
        return first_snapshot(self.steps)

    @property
    def snapshot_version(self) -> str | None:
        step = self.snapshot_step
        return step.stateVersionId if step is not None else None


def first_snapshot(steps: list[SurgeryStepRecord]) -> SurgeryStepRecord | None:
    """The first snapshot recorded: the state the surgery started from (a retry after a
    crash records another; the first is the one that counts)."""
    return next((r for r in steps if r.step == "snapshot"), None)


def _digest(body: bytes, what: str) -> str:
    data = load_json(body, what)
    if not isinstance(data, dict):
        raise InputError(f"{what}: not a JSON object; plan again")
    return state_digest(data)


def read_progress(bench: Workbench, found: Found) -> Progress:
    """Rule 2."""
    plan, store = found.plan, found.store
    steps: list[SurgeryStepRecord] = []
    for name, body in store.steps(plan.stack, plan.planId):
        try:
            steps.append(SurgeryStepRecord.model_validate_json(body))
        except ValueError as exc:
            raise InputError(
                f"{plan.planId}: the recorded step {name} is not a SurgeryStep ({exc}); "
                "look at the surgery prefix"
            ) from exc
    edited = store.get_state(plan.stack, plan.planId)
    if edited is None:
        raise InputError(f"{plan.planId}: the planned state is missing beside the plan; plan again")
    state, version = read_state(bench, StackRef.of(found.stack))
    current = (
        StateFacts(state.get("lineage"), state.get("serial"), version, state_digest(state))
        if state
        else None
    )
    binding = plan.binding
    planned = Planned(
        lineage=binding.stateLineage,
        serial=binding.stateSerial,
        version_id=binding.stateVersionId,
        edited_digest=_digest(edited, f"{plan.planId}: the planned state"),
        changes_state=any(
            not isinstance(r.operation, ForceUnlockOperation) for r in plan.operations
        ),
    )
    first = first_snapshot(steps)
    snapshot = first.stateDigest if first is not None else None
    return Progress(
        condition(planned, [s.step for s in steps], current, snapshot), current, planned, steps
    )


def describe(survivor: survivors.Survivor) -> str:
    """``pid <n>: <command> (started by iacdrift pid <m>, gone)``."""
    return (
        f"pid {survivor.pid}: {' '.join(survivor.command)} (started by iacdrift pid "
        f"{survivor.parent_pid}, gone)"
    )


_EXIT = {
    Condition.APPLIED: 0,
    Condition.ROLLED_BACK: 0,
    Condition.NOT_STARTED: 1,
    Condition.PUSHED_UNVERIFIED: 1,
    Condition.CHANGED_ELSEWHERE: 1,
    Condition.NO_STATE: 1,
}


def status(request: SurgeryRequest, clock: Clock = utc_now) -> SurgeryStatus:
    """``iacdrift surgery status``: rules in the module docstring."""
    project = load_project(request.config_path, request.registry_dir)
    bench = Workbench.open(project, request.engine)
    found = find_plan(bench, project, request.plan_id)
    plan, stack = found.plan, found.stack
    progress = read_progress(bench, found)
    # Rule 3.
    now = clock()
    lock = held_lock(bench, StackRef.of(stack), now)
    lease = locking.read_lease(
        stack.name,
        table=bench.lease_table(),
        credentials=bench.orchestrator_credentials(),
        target=bench.target,
    )
    live_lease = lease.holder if lease is not None and lease.expires_at >= now else None
    command, detail = next_command(progress.condition, plan.planId, plan.stack)
    current = progress.current
    return SurgeryStatus(
        planId=plan.planId,
        stack=plan.stack,
        condition=progress.condition.value,
        stateNow=(
            StateObject(
                lineage=current.lineage, serial=current.serial, versionId=current.version_id
            )
            if current is not None
            else None
        ),
        planned=StateObject(
            lineage=plan.binding.stateLineage,
            serial=plan.binding.stateSerial,
            versionId=plan.binding.stateVersionId,
        ),
        snapshotVersionId=progress.snapshot_version,
        steps=progress.steps,
        lock=lock,
        lease=live_lease,
        leftovers=[describe(s) for s in survivors.stack_survivors(plan.stack)],
        command=command,
        detail=detail,
        exitCode=_EXIT[progress.condition],
    )
