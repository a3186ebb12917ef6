"""`iacdrift repair apply PLAN [--yes]`: carry out a reviewed repair plan.

The rules, in the order the code follows them:

1. The plan file is a RepairPlan (``repair plan --out``); its planId must be the one
   its content gives (an edited plan is refused), and its stack must be registered
   (its state, its role, its lease).
2. Stale plans are refused, dry run or not, before anything else: the stack's files
   (as a working copy gets them), the state's lineage or its serial changed since
   planning. The refusal says which, and to plan again.
3. Which steps run: READY steps that mutate; a step for a person that carries a
   targeted revert (INCIDENT_AND_REVERT: whoever runs ``--yes`` is that person;
   auto-heal never runs one); a step that needs a code change only with
   ``--write-code``. Every other step is SKIPPED, saying why; a REFUSED step stays
   refused. Nothing to run: NOTHING_TO_DO (exit 0).
4. The object cap, before the first mutation: the distinct addresses of the steps
   that run may not exceed ``--max-objects`` (else the smallest
   ``maxObjectsPerReconcile`` of the AutoHealPolicies that apply to the stack, else
   :data:`DEFAULT_MAX_OBJECTS`).
5. Every step is planned in a private scratch copy of the stack (0700, removed at the
   end): moved/removed/import blocks go into ``iacdrift_repair.tf`` there; the saved
   plan is targeted at the step's addresses (refresh-only for REFRESH; the whole stack
   for APPLY) and may touch only them (:mod:`iacdrift.core.reconcile.targeted`);
   otherwise the step is REFUSED naming the others and nothing after it runs. The
   plan file stays in the scratch copy and is deleted once applied or refused; only
   its redacted summary (``address: actions``) is reported.
6. Without ``--yes`` (dry run): every step that would run is planned in order (blocks
   accumulating as they would), nothing is applied; exit 2 when there is a step to
   carry out.
7. With ``--yes``, under the stack's orchestrator lease (operation ``repair``;
   Terraform takes its own state lock in every command, and nothing ever
   force-unlocks): the state object's version id is recorded (the snapshot), then the
   batches run in order and stop at the first failure. Each step carried out writes a
   change record of type ``apply`` with its outcome (``changes/``), so a failed repair
   reads as FAILED_RECONCILIATION_DRIFT in the next check.
8. With ``--write-code``, the plan's code goes into the stack directory before the
   first apply, as a PR would add it: ``iacdrift_repair_<plan>.tf`` (the blocks),
   ``iacdrift_generated_<plan>.tf`` (configuration generated for unmanaged objects,
   cleaned) and the UPDATE_CODE edits. Without it nothing is written there.
   An UPDATE_CODE step, once its patch is in the stack, is a refresh-only apply of its
   addresses: the state records the accepted value, so Git, state and cloud agree.
9. Verification: a fresh check of the stack. None of the repaired findings may remain
   and no finding absent from the plan may appear. Otherwise the state is rolled back
   to the snapshot when a state-only step ran (lineage checked; the snapshot is pushed
   with a serial above the current one), files written by ``--write-code`` are put
   back, and the report names what could not be undone (reverts and applies changed
   the cloud).

Exit codes: 0 repaired and verified (or nothing to do), 2 dry run with steps to carry
out, 1 refused or failed (with the reason).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from iacdrift import locking
from iacdrift.aws import state_versions
from iacdrift.clock import Clock, utc_now
from iacdrift.core.reconcile import hcl
from iacdrift.core.reconcile.generated import clean_generated_config
from iacdrift.core.reconcile.heal import stack_policies
from iacdrift.core.reconcile.patch import apply_unified_diff
from iacdrift.core.reconcile.plan import files_digest, plan_content_id
from iacdrift.core.reconcile.targeted import (
    expected_plan,
    out_of_bounds,
    plan_changes,
    redacted_plan,
)
from iacdrift.engine.base import CliEngine, SavedPlan, StackCall
from iacdrift.engine.workspace import private_dir, stack_anchor, stack_files
from iacdrift.errors import ExecutionError, ExitCode, IacdriftError, InputError, RefusedError
from iacdrift.flows.check import CheckOptions, check_stack, classifier_for
from iacdrift.flows.classification import Classifier
from iacdrift.flows.lockfiles import saved_lock
from iacdrift.flows.repair import BLOCK_KINDS, decoded_files, refuse_stack_dirs, to_repair
from iacdrift.flows.workbench import EngineOptions, StackRef, Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import display_path, load_project
from iacdrift.loaders.terraform_json import load_json
from iacdrift.models.finding import ANSWERED, Action, StackResult
from iacdrift.models.repair import (
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
from iacdrift.report.common import render_json

DEFAULT_MAX_OBJECTS = 25
BLOCKS_FILE = "iacdrift_repair.tf"
# Steps whose only effect is on the state: undone by putting the snapshot back.
STATE_ONLY = frozenset(
    # UPDATE_CODE: its patch goes with the code, then a refresh-only apply (rule 8).
    {Action.MOVE, Action.REMOVE_FROM_STATE, Action.IMPORT, Action.REFRESH, Action.UPDATE_CODE}
)


@dataclass(frozen=True)
class RepairApplyRequest:
    plan_path: Path
    yes: bool = False
    write_code: bool = False
    max_objects: int | None = None
    out_dir: Path | None = None  # the report and each step's redacted plan JSON
    config_path: Path | None = None
    registry_dir: Path | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)
    policies_dir: Path | None = None


@dataclass(frozen=True)
class ApplyOptions:
    """How :func:`execute_plan` carries a plan out (``repair apply`` and auto-heal)."""

    yes: bool = False
    write_code: bool = False
    max_objects: int | None = None
    # A person runs this (repair apply): incident reverts may run. Auto-heal: False.
    person: bool = True
    clock: Clock = utc_now
    classifier: Classifier | None = None
    # The stack's lease when the caller holds it (a run's auto-heal); else taken here.
    lease: locking.Lease | None = None
    # Finding ids of the check the plan was made from (auto-heal): not new in verification.
    known_findings: frozenset[str] = frozenset()
    # Where each step's redacted plan JSON goes (never the plan file); None: nowhere.
    out_dir: Path | None = None
    lock_file: str | None = None


def read_plan_file(path: Path) -> RepairPlan:
    """A RepairPlan from ``path`` (rule 1); InputError naming the file and what to do."""
    where = display_path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{where}: cannot read the repair plan: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{where}: not text (a saved .tfplan?); pass the <stack>.repair.json that "
            "`iacdrift repair plan --out` wrote"
        ) from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where}: not JSON ({exc.msg}, line {exc.lineno}); pass the "
            "<stack>.repair.json that `iacdrift repair plan --out` wrote"
        ) from exc
    try:
        plan = RepairPlan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise InputError(
            f"{where}: not a repair plan: {loc}: {first['msg']}; pass the <stack>.repair.json "
            "that `iacdrift repair plan --out` wrote"
        ) from exc
    if plan_content_id(plan) != plan.planId:
        raise InputError(
            f"{where}: planId {plan.planId} does not match the plan's content: it was "
            "edited after planning; plan again with `iacdrift repair plan`"
        )
    return plan


def apply_repair(request: RepairApplyRequest, clock: Clock = utc_now) -> RepairApplyReport:
    """``iacdrift repair apply``: rules in the module docstring."""
    plan = read_plan_file(request.plan_path)
    project = load_project(request.config_path, request.registry_dir)
    registered = {s.name: s for s in project.stacks}
    if plan.stack not in registered:
        raise InputError(
            f"{display_path(request.plan_path)}: stack {plan.stack!r} is not registered; "
            "repair apply acts only on registered stacks (their state, role and lease)"
        )
    if request.out_dir is not None:
        refuse_stack_dirs(request.out_dir, [s.stack_dir for s in project.stacks], "--out")
        request.out_dir.mkdir(parents=True, exist_ok=True)
    bench = Workbench.open(project, request.engine)
    ref = StackRef.of(registered[plan.stack])
    classifier = classifier_for(bench, clock(), policies_dir=request.policies_dir)
    options = ApplyOptions(
        yes=request.yes,
        write_code=request.write_code,
        max_objects=request.max_objects,
        clock=clock,
        classifier=classifier,
        out_dir=request.out_dir,
    )
    report = execute_plan(bench, ref, plan, options)
    if request.out_dir is not None:
        path = request.out_dir / f"{plan.stack}.repair-apply.json"
        path.write_text(render_json(report), encoding="utf-8")
    return report


# --- what runs -----------------------------------------------------------------------------


def runnable(step: RepairStep, options: ApplyOptions) -> str | None:
    """None when the step is carried out (rule 3); else why it is not."""
    if step.kind is StepKind.VERIFY:
        return "the verification check runs after the last step"
    if step.status is StepStatus.REFUSED:
        return step.why or "refused when planned"
    if step.status is StepStatus.READY:
        return None if step.mutates else "nothing to carry out"
    if step.status is StepStatus.NEEDS_PERSON:
        artifact = step.artifact
        if artifact is not None and artifact.kind is ArtifactKind.TARGETED_APPLY:
            if options.person:
                return None
            return "an incident revert: a person runs it (repair apply --yes), never auto-heal"
        return step.why or "needs a person"
    if step.status is StepStatus.NEEDS_CODE_CHANGE:
        artifact = step.artifact
        if step.action is Action.UPDATE_CODE and (
            artifact is None or artifact.kind is not ArtifactKind.CODE_PATCH
        ):
            return step.why or "no patch could be made: write the change by hand as a PR"
        if options.write_code:
            return None
        return "needs a code change (PR): " + (step.why or "") + "; or pass --write-code"
    return step.why or f"a {step.status.value} step: nothing to carry out"


def object_cap(bench: Workbench, ref: StackRef, options: ApplyOptions) -> tuple[int, str]:
    """The cap of rule 4 and where it comes from."""
    if options.max_objects is not None:
        return options.max_objects, "--max-objects"
    classifier = options.classifier
    if classifier is not None and ref.unit is not None:
        spec = ref.unit.spec
        caps = [
            (p.maxObjectsPerReconcile, p.id)
            for p in stack_policies(
                classifier.policies.auto_heal_policies,
                risk_tier=spec.riskTier.value,
                environment=spec.environment,
            )
        ]
        if caps:
            cap, policy = min(caps)
            return cap, f"AutoHealPolicy {policy}"
    return DEFAULT_MAX_OBJECTS, "the default"


# --- the binding -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentState:
    lineage: str | None
    serial: int | None
    version_id: str | None


def read_state(bench: Workbench, ref: StackRef) -> tuple[dict[str, Any], str | None]:
    """The registered stack's state object as it is now, parsed, and its S3 version id,
    read with the stack's own credentials; ``({}, None)`` when there is none yet."""
    assert ref.unit is not None
    spec = ref.unit.spec.state
    found = state_versions.read_current(
        spec.bucket, spec.key, bench.credentials(ref), bench.target.with_region(spec.region)
    )
    if found is None:
        return {}, None
    data = load_json(found.body, spec.uri)
    if not isinstance(data, dict):
        raise InputError(f"{spec.uri}: the state is not a JSON object; look at the state object")
    return data, found.version_id


def current_state(bench: Workbench, ref: StackRef) -> CurrentState:
    """The state's lineage, serial and version id now (:func:`read_state`)."""
    data, version = read_state(bench, ref)
    serial = data.get("serial")
    return CurrentState(data.get("lineage"), serial if isinstance(serial, int) else None, version)


def push_state(
    engine: CliEngine, call: StackCall, data: Mapping[str, Any], directory: Path
) -> None:
    """``terraform state push`` of ``data`` (its lineage checked and its serial set above
    the current one by the caller; never ``-force``), through a file in ``directory``
    (private: a state holds secrets) removed right after."""
    path = directory / "push.tfstate"
    try:
        path.write_text(json.dumps(data), encoding="utf-8")
        path.chmod(0o600)
        engine.state_push(call, path)
    finally:
        path.unlink(missing_ok=True)


def stale_reasons(plan: RepairPlan, files: str, state: CurrentState) -> list[str]:
    """What changed since planning (rule 2), one phrase each; empty when nothing did."""
    binding = plan.binding
    found: list[str] = []
    if files != binding.filesDigest:
        found.append("the stack's files changed")
    if state.lineage != binding.stateLineage:
        found.append(f"the state's lineage is {state.lineage} (planned: {binding.stateLineage})")
    elif state.serial != binding.stateSerial:
        found.append(f"the state's serial is {state.serial} (planned: {binding.stateSerial})")
    return found


# --- carrying steps out ---------------------------------------------------------------------


def step_targets(step: RepairStep) -> tuple[list[str], bool]:
    """(``-target`` addresses, refresh-only) of a step's saved plan (rule 5)."""
    artifact = step.artifact
    assert artifact is not None
    if artifact.kind in (ArtifactKind.TARGETED_APPLY, ArtifactKind.REFRESH_ONLY_APPLY):
        targets = [
            line.removeprefix("-target=")
            for line in artifact.text.splitlines()
            if line.startswith("-target=")
        ]
        return targets, artifact.kind is ArtifactKind.REFRESH_ONLY_APPLY
    if artifact.kind is ArtifactKind.APPLY:
        return [], False
    if artifact.kind is ArtifactKind.CODE_PATCH:
        # The code now says the live value; a refresh-only apply records it in the state.
        return [hcl.render_address(a) for a in step.addresses], True
    # A move targets both ends (Terraform refuses a move whose source is excluded by
    # targeting); an import, where the object goes; a removal, what leaves the state.
    return [hcl.render_address(a) for a in step.addresses], False


def _moved_to(block: str) -> str | None:
    for line in block.splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "to":
            return value.strip()
    return None


@dataclass
class Scratch:
    """The scratch copy one plan's steps run in (rule 5)."""

    engine: CliEngine
    call: StackCall
    plans: Path  # 0700, beside the copy; plan files live here until applied
    out_dir: Path | None = None  # each step's redacted plan JSON (repair apply --out)
    salt: bytes = b""
    blocks: list[str] = field(default_factory=list)
    generated: dict[str, str] = field(default_factory=dict)
    counter: int = 0

    def write_blocks(self) -> None:
        path = self.call.workdir / BLOCKS_FILE
        if self.blocks:
            path.write_text(hcl.render_blocks(self.blocks), encoding="utf-8")
        else:
            path.unlink(missing_ok=True)

    def generate(self, step: RepairStep, targets: list[str]) -> None:
        """Configuration for an unmanaged object being imported: Terraform generates it
        (a plan that cannot be applied itself), cleaned of nulls, derived and empty
        attributes (:mod:`iacdrift.core.reconcile.generated`), kept in the copy and in
        ``generated`` (step id -> text) for ``--write-code``."""
        self.counter += 1
        name = f"iacdrift_generated_{self.counter}.tf"
        self.engine.plan_saved(
            self.call,
            self.plans / f"generate-{self.counter}.tfplan",
            targets=targets,
            generate_config_out=name,
        )
        path = self.call.workdir / name
        try:
            cleaned = clean_generated_config(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExecutionError(
                f"{self.call.stack}: the configuration Terraform generated for step "
                f"{step.id} could not be read ({exc}); import it by hand"
            ) from exc
        path.write_text(cleaned, encoding="utf-8")
        self.generated[step.id] = cleaned

    def plan(self, step: RepairStep, targets: list[str], refresh_only: bool) -> SavedPlan:
        self.counter += 1
        plan_file = self.plans / f"step-{self.counter}.tfplan"
        return self.engine.plan_saved(
            self.call, plan_file, targets=targets, refresh_only=refresh_only
        )


@dataclass
class _Progress:
    records: list[StepRecord] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)  # written with --write-code so far
    generated: list[str] = field(default_factory=list)  # likewise
    done: list[RepairStep] = field(default_factory=list)
    written: dict[Path, bytes | None] = field(default_factory=dict)  # path -> bytes before
    change_records: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the steps stopped (refused or failed)
    failed: bool = False


def execute_plan(
    bench: Workbench, ref: StackRef, plan: RepairPlan, options: ApplyOptions
) -> RepairApplyReport:
    """Carry out ``plan`` on ``ref`` (rules 2-9); never raises for a refusal or a failed
    step: the report says it (an input problem raises IacdriftError)."""
    started = options.clock()

    def report(result: RepairResult, reason: str | None = None, **extra: Any) -> RepairApplyReport:
        left = any(
            r.outcome in (StepOutcome.SKIPPED, StepOutcome.REFUSED) and r.action is not None
            for r in extra.get("steps", [])
        )
        code = {
            # Steps left for a person or a PR: the drift they carry remains.
            RepairResult.REPAIRED: ExitCode.DRIFT if left else ExitCode.OK,
            RepairResult.NOTHING_TO_DO: ExitCode.DRIFT if left else ExitCode.OK,
            RepairResult.DRY_RUN: ExitCode.DRIFT,
        }.get(result, ExitCode.FAILED)
        return RepairApplyReport(
            planId=plan.planId,
            stack=plan.stack,
            dryRun=not options.yes,
            result=result,
            reason=reason,
            startedAt=started,
            finishedAt=options.clock(),
            exitCode=int(code),
            **extra,
        )

    # Rule 2 (and again under the lease, before the first mutation).
    state = current_state(bench, ref)
    stale = stale_reasons(plan, files_digest(stack_files(ref.directory)), state)
    if stale:
        return report(RepairResult.REFUSED, _stale_reason(plan, stale))
    # Rule 3.
    order = {step_id: i for i, batch in enumerate(plan.batches) for step_id in batch}
    steps = sorted(plan.steps, key=lambda s: (order.get(s.id, s.batch), s.id))
    to_run: list[RepairStep] = []
    skipped: list[StepRecord] = []
    for step in steps:
        why = runnable(step, options)
        if why is None:
            to_run.append(step)
        elif step.kind is StepKind.REPAIR:
            outcome = (
                StepOutcome.REFUSED if step.status is StepStatus.REFUSED else StepOutcome.SKIPPED
            )
            skipped.append(_record(step, outcome, why))
    if not to_run:
        return report(
            RepairResult.NOTHING_TO_DO, "no step of the plan can be carried out", steps=skipped
        )
    # Rule 4.
    cap, cap_source = object_cap(bench, ref, options)
    objects = sorted({a for s in to_run for a in _objects(s)})
    if len(objects) > cap:
        return report(
            RepairResult.REFUSED,
            f"{plan.stack}: {len(objects)} objects to change, over the cap of {cap} "
            f"({cap_source}); split the repair or raise --max-objects",
            steps=skipped
            + [_record(s, StepOutcome.NOT_RUN, "over the object cap") for s in to_run],
        )
    if not options.yes:
        progress = _dry_run(bench, ref, plan, to_run, options)
        result = RepairResult.DRY_RUN
        if progress.stopped:
            result = RepairResult.FAILED if progress.failed else RepairResult.REFUSED
        return report(result, progress.stopped, steps=progress.records + skipped)
    return _carry_out(bench, ref, plan, to_run, skipped, options, report)


def _objects(step: RepairStep) -> list[str]:
    if step.action is Action.MOVE and step.artifact is not None:
        to = _moved_to(step.artifact.text)
        return [to] if to else list(step.addresses)
    return list(step.addresses)


def _record(step: RepairStep, outcome: StepOutcome, detail: str | None, **extra: Any) -> StepRecord:
    return StepRecord(
        stepId=step.id,
        action=step.action,
        addresses=list(step.addresses),
        outcome=outcome,
        detail=detail,
        **extra,
    )


@contextmanager
def _scratch(bench: Workbench, ref: StackRef, options: ApplyOptions) -> Iterator[Scratch]:
    lock_file = options.lock_file or saved_lock(bench, ref)
    with prepared(bench, ref, lock_file=lock_file) as ready:
        plans = private_dir(bench.scratch_parent, "iacdrift-plans-")
        try:
            yield Scratch(
                ready.engine,
                ready.call,
                plans,
                out_dir=options.out_dir,
                salt=bench.fingerprint_salt() if options.out_dir is not None else b"",
            )
        finally:
            shutil.rmtree(plans, ignore_errors=True)


def _plan_one(
    scratch: Scratch,
    step: RepairStep,
    options: ApplyOptions,
    *,
    pending: Sequence[str] = (),
) -> tuple[SavedPlan | None, StepRecord | None, list[str]]:
    """Plan one step in the scratch copy (rule 5): the saved plan, or the record of a
    refusal (it touches other addresses) or a step with nothing to plan (UPDATE_CODE)."""
    artifact = step.artifact
    if artifact is None:
        return None, None, []
    if artifact.kind in BLOCK_KINDS:
        scratch.blocks.append(artifact.text)
        scratch.write_blocks()
    targets, refresh_only = step_targets(step)
    if step.action is Action.IMPORT and step.status is StepStatus.NEEDS_CODE_CHANGE:
        scratch.generate(step, targets)
    if targets and pending:
        targets = sorted({*targets, *(hcl.render_address(a) for a in pending)})
    saved = scratch.plan(step, targets, refresh_only)
    changes = plan_changes(saved.plan_json, refresh_only=refresh_only)
    if scratch.out_dir is not None:
        # Only the redacted JSON leaves the scratch directory, never the plan file.
        redacted = redacted_plan(saved.plan_json, salt=scratch.salt)
        path = scratch.out_dir / f"{scratch.call.stack}.{step.id}.plan.json"
        path.write_text(json.dumps(redacted, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    allowed = {*step.addresses, *pending}
    others = out_of_bounds(changes, allowed)
    lines = expected_plan(changes)
    if others:
        saved.plan_file.unlink(missing_ok=True)
        refusal = _record(
            step,
            StepOutcome.REFUSED,
            f"its plan would also touch {', '.join(others)}; repair those first or plan again",
            expectedPlan=lines,
        )
        return None, refusal, lines
    return saved, None, lines


def _dry_run(
    bench: Workbench,
    ref: StackRef,
    plan: RepairPlan,
    to_run: Sequence[RepairStep],
    options: ApplyOptions,
) -> _Progress:
    """Rule 6. The moves planned before a step are not applied in a dry run: the step's
    plan targets and may touch their addresses too (Terraform refuses a plan that
    excludes a pending move's source by targeting)."""
    progress = _Progress()
    pending: list[str] = []
    with _scratch(bench, ref, options) as scratch:
        for step in to_run:
            if progress.stopped:
                progress.records.append(
                    _record(step, StepOutcome.NOT_RUN, "an earlier step was refused or failed")
                )
                continue
            try:
                saved, refusal, lines = _plan_one(scratch, step, options, pending=pending)
            except IacdriftError as exc:
                progress.records.append(_record(step, StepOutcome.FAILED, exc.message))
                progress.stopped = (
                    f"{plan.stack}: step {step.id} could not be planned: {exc.message}"
                )
                progress.failed = True
                continue
            if refusal is not None:
                progress.records.append(refusal)
                progress.stopped = f"{plan.stack}: step {step.id}: {refusal.detail}"
                continue
            if saved is not None:
                saved.plan_file.unlink(missing_ok=True)
            if step.action is Action.MOVE:
                pending.extend(step.addresses)
            progress.records.append(
                _record(
                    step,
                    StepOutcome.PLANNED,
                    "would be carried out with --yes",
                    expectedPlan=lines,
                    code=scratch.generated.get(step.id),
                )
            )
    return progress


def _carry_out(
    bench: Workbench,
    ref: StackRef,
    plan: RepairPlan,
    to_run: Sequence[RepairStep],
    skipped: list[StepRecord],
    options: ApplyOptions,
    report: Callable[..., RepairApplyReport],
) -> RepairApplyReport:
    """Rules 7-9: under the lease, the binding checked again, the snapshot, the steps in
    order, verification, rollback."""
    lease = options.lease
    own = lease is None
    if lease is None:
        lease = locking.Lease(
            ref.name,
            table=bench.lease_table(),
            credentials=bench.orchestrator_credentials(),
            target=bench.target,
            run_id=bench.run_id,
            operation="repair",
            clock=options.clock,
        )
        try:
            lease.acquire()
        except locking.LeaseHeldError as exc:
            return report(RepairResult.REFUSED, exc.message, steps=skipped)
    try:
        # Under the lease: nobody else's repair runs now; an apply outside iacdrift
        # since the first look makes the plan stale, and the snapshot is this read.
        state = current_state(bench, ref)
        stale = stale_reasons(plan, files_digest(stack_files(ref.directory)), state)
        if stale:
            return report(RepairResult.REFUSED, _stale_reason(plan, stale), steps=skipped)
        return _leased(bench, ref, plan, to_run, skipped, state, options, report, lease)
    finally:
        if own:
            lease.release()


def _stale_reason(plan: RepairPlan, stale: Sequence[str]) -> str:
    return (
        f"{plan.stack}: the plan {plan.planId} is stale: {'; '.join(stale)}; plan again "
        "with `iacdrift repair plan`"
    )


def _leased(
    bench: Workbench,
    ref: StackRef,
    plan: RepairPlan,
    to_run: Sequence[RepairStep],
    skipped: list[StepRecord],
    state: CurrentState,
    options: ApplyOptions,
    report: Callable[..., RepairApplyReport],
    lease: locking.Lease,
) -> RepairApplyReport:
    snapshot = state.version_id
    progress = _Progress()
    with _scratch(bench, ref, options) as scratch:
        try:
            for step in to_run:
                if progress.stopped:
                    progress.records.append(
                        _record(step, StepOutcome.NOT_RUN, "an earlier step did not succeed")
                    )
                    continue
                lease.ensure_held()
                _one_step(bench, ref, plan, scratch, step, options, progress)
        except IacdriftError as exc:
            # The lease was lost, or code could not be written: what ran is recorded.
            progress.stopped = progress.stopped or exc.message
            progress.failed = True
        except BaseException:
            _restore_code(ref, progress)  # an interrupt: no half-written stack directory
            raise
        written = sorted(str(p.relative_to(ref.directory)) for p in progress.written)
        if progress.stopped and not progress.done:
            result = RepairResult.FAILED if progress.failed else RepairResult.REFUSED
            return report(
                result,
                progress.stopped,
                steps=progress.records + skipped,
                snapshotVersionId=snapshot,
                rolledBack=_restore_code(ref, progress),
            )
        verification = verify(bench, ref, plan, progress.done, options)
        rolled_back: list[str] = []
        not_reversible: list[str] = []
        state_restored = False
        result = RepairResult.REPAIRED
        reason = None
        if progress.stopped:
            result, reason = RepairResult.FAILED, progress.stopped
        if not verification.answered:
            # Unknown is not wrong: nothing is undone on a check that did not answer.
            result = RepairResult.FAILED
            reason = f"{plan.stack}: not verified: {verification.reason}; check it again"
        elif not verification.passed:
            lease.ensure_held()
            state_restored, rolled_back, not_reversible = _roll_back(
                bench, ref, scratch, snapshot, progress
            )
            result = RepairResult.ROLLED_BACK if state_restored else RepairResult.FAILED
            reason = f"{plan.stack}: verification failed: {verification.reason}"
        records = progress.records
        if state_restored:
            undone = {s.id for s in progress.done if s.action in STATE_ONLY}
            records = [
                r.model_copy(update={"outcome": StepOutcome.ROLLED_BACK})
                if r.stepId in undone and r.outcome is StepOutcome.DONE
                else r
                for r in records
            ]
        return report(
            result,
            reason,
            steps=records + skipped,
            snapshotVersionId=snapshot,
            verification=verification,
            rolledBack=rolled_back,
            notReversible=not_reversible,
            codeWritten=[] if rolled_back and not progress.written else written,
        )


def _one_step(
    bench: Workbench,
    ref: StackRef,
    plan: RepairPlan,
    scratch: Scratch,
    step: RepairStep,
    options: ApplyOptions,
    progress: _Progress,
) -> None:
    started = options.clock()
    t0 = time.monotonic()
    try:
        saved, refusal, lines = _plan_one(scratch, step, options)
    except IacdriftError as exc:
        progress.records.append(_record(step, StepOutcome.FAILED, exc.message))
        progress.stopped = f"{plan.stack}: step {step.id} could not be planned: {exc.message}"
        progress.failed = True
        return
    if refusal is not None:
        progress.records.append(refusal)
        progress.stopped = f"{plan.stack}: step {step.id}: {refusal.detail}"
        return
    if saved is None:
        progress.records.append(_record(step, StepOutcome.SKIPPED, "nothing to plan"))
        return
    before: dict[Path, bytes | None] = {}
    try:
        if options.write_code:
            before = _write_step_code(ref, plan, scratch, step, progress)
        scratch.engine.apply_plan(scratch.call, saved.plan_file)
    except IacdriftError as exc:
        _put_back(before)  # this step's code goes with this step
        for path, data in before.items():
            if progress.written.get(path, b"") is None and data is None:
                progress.written.pop(path, None)
        record_id, problem = write_change_record(
            bench, ref, plan, step, started, options.clock(), ok=False
        )
        progress.records.append(
            _record(
                step,
                StepOutcome.FAILED,
                exc.message + problem,
                expectedPlan=lines,
                changeRecord=record_id,
                seconds=round(time.monotonic() - t0, 3),
            )
        )
        progress.stopped = f"{plan.stack}: step {step.id} failed: {exc.message}"
        progress.failed = True
        # A failed apply may have changed some of it: the verification says what stands.
        progress.done.append(step)
        return
    finally:
        saved.plan_file.unlink(missing_ok=True)
    record_id, problem = write_change_record(
        bench, ref, plan, step, started, options.clock(), ok=True
    )
    progress.done.append(step)
    progress.records.append(
        _record(
            step,
            StepOutcome.DONE,
            "applied" + problem,
            expectedPlan=lines,
            changeRecord=record_id,
            seconds=round(time.monotonic() - t0, 3),
            code=scratch.generated.get(step.id),
        )
    )


def write_change_record(
    bench: Workbench,
    ref: StackRef,
    plan: RepairPlan,
    step: RepairStep,
    start: datetime,
    end: datetime,
    *,
    ok: bool,
) -> tuple[str | None, str]:
    """A change record of type apply for one step carried out (rule 7): (its id, "");
    (None, "") when the project keeps no change records (context.changeRecords unset);
    (None, "; change record not written: why") when it could not be written (the step
    happened all the same: the report says so rather than losing it)."""
    context = bench.project.settings.context
    if context is None or not context.changeRecords:
        return None, ""
    directory = bench.project.resolve_path(context.changeRecords)
    record_id = f"repair-{plan.planId.removeprefix('rp-')}-{step.id}"
    document = {
        "apiVersion": "iacdrift.dev/v1",
        "kind": "ChangeRecord",
        "id": record_id,
        "type": "apply",
        "stack": ref.name,
        "resources": sorted(set(step.addresses)),
        "window": {"start": _iso(start), "end": _iso(max(start, end))},
        "outcome": "succeeded" if ok else "failed",
        "summary": f"iacdrift repair apply {plan.planId}: {step.action} ({step.id})",
    }
    path = directory / f"{record_id}.yaml"
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        return None, f"; change record not written to {display_path(directory)}: {exc}"
    return record_id, ""


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- code (--write-code) ----------------------------------------------------------------------


def _write_step_code(
    ref: StackRef, plan: RepairPlan, scratch: Scratch, step: RepairStep, progress: _Progress
) -> dict[Path, bytes | None]:
    """Rule 8, for one step, just before its apply: its block joins the blocks file,
    its generated configuration the generated file, its patch the stack's files. Returns
    the files as they were before this step (to put back if its apply fails)."""
    suffix = plan.planId.removeprefix("rp-")
    texts: dict[Path, str] = {}
    artifact = step.artifact
    if artifact is not None and artifact.kind in BLOCK_KINDS:
        progress.blocks.append(artifact.text)
        header = (
            f"# Added by `iacdrift repair apply --write-code` (plan {plan.planId}): commit it "
            "with the repair.\n\n"
        )
        texts[ref.directory / f"iacdrift_repair_{suffix}.tf"] = header + hcl.render_blocks(
            progress.blocks
        )
    if step.id in scratch.generated:
        progress.generated.append(scratch.generated[step.id])
        header = (
            f"# Generated by Terraform for `iacdrift repair apply --write-code` (plan "
            f"{plan.planId}), cleaned of nulls, derived and empty attributes: review it "
            "and commit it with the repair.\n\n"
        )
        texts[ref.directory / f"iacdrift_generated_{suffix}.tf"] = header + "\n".join(
            progress.generated
        )
    if artifact is not None and artifact.kind is ArtifactKind.CODE_PATCH:
        anchor, inside = stack_anchor(ref.directory), ref.directory.resolve()
        try:
            changed = apply_unified_diff(decoded_files(ref), artifact.text)
        except ValueError as exc:
            raise RefusedError(f"{ref.name}: the plan's patch does not apply: {exc}") from exc
        for relative, text in changed.items():
            target = anchor / relative
            if target.is_symlink() or target.resolve().parent != inside:
                raise RefusedError(
                    f"{ref.name}: the patch edits {relative}, outside the stack's own files; "
                    "apply it by hand"
                )
            texts[target] = text
    before: dict[Path, bytes | None] = {}
    try:
        for path, text in sorted(texts.items()):
            before[path] = path.read_bytes() if path.exists() else None
            progress.written.setdefault(path, before[path])
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _put_back(before)
        raise ExecutionError(
            f"{ref.name}: cannot write {display_path(path)}: {exc.strerror or exc}"
        ) from exc
    return before


def _put_back(files: Mapping[Path, bytes | None]) -> None:
    for path, data in files.items():
        if data is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(data)


def _restore_code(ref: StackRef, progress: _Progress) -> list[str]:
    """Put back every file --write-code wrote; what was put back."""
    _put_back(progress.written)
    restored = [
        f"{path.relative_to(ref.directory)} put back as it was" for path in sorted(progress.written)
    ]
    progress.written.clear()
    return restored


# --- verification and rollback ------------------------------------------------------------------


def verify(
    bench: Workbench,
    ref: StackRef,
    plan: RepairPlan,
    done: Sequence[RepairStep],
    options: ApplyOptions,
) -> Verification:
    """Rule 9: a fresh check; none of the repaired findings remains, none new appears."""
    classifier = options.classifier or classifier_for(bench, options.clock())
    result, _ = check_stack(
        bench,
        ref,
        CheckOptions(
            clock=options.clock,
            classifier=classifier,
            per_stack_inventory=False,
            lock_file=options.lock_file or saved_lock(bench, ref),
        ),
    )
    return judge_verification(plan, done, result, known=options.known_findings)


def judge_verification(
    plan: RepairPlan,
    done: Sequence[RepairStep],
    result: StackResult,
    *,
    known: Collection[str] = (),
) -> Verification:
    """Pure part of :func:`verify`. New: a finding neither in the plan nor ``known``
    (the findings of the check the plan was made from, when the caller has them: an
    auto-heal plans only part of them)."""
    if result.status not in ANSWERED:
        return Verification(
            status=result.status.value,
            answered=False,
            passed=False,
            reason=f"the check did not answer ({result.status.value}: {result.reason})",
        )
    repaired = {i for s in done for i in s.findingIds}
    seen = {i for s in plan.steps for i in s.findingIds} | set(known)
    fresh = to_repair(result.findings)
    remaining = sorted({f.findingId for f in fresh} & repaired)
    new = sorted(
        {f"{f.resourceRef}: {f.driftClass.value}" for f in fresh if f.findingId not in seen}
    )
    reasons = []
    if remaining:
        reasons.append(f"{len(remaining)} repaired finding(s) remain ({', '.join(remaining)})")
    if new:
        reasons.append(f"{len(new)} new finding(s) ({'; '.join(new)})")
    return Verification(
        status=result.status.value,
        passed=not reasons,
        remaining=remaining,
        new=new,
        reason="; ".join(reasons) or None,
    )


def _roll_back(
    bench: Workbench,
    ref: StackRef,
    scratch: Scratch,
    snapshot: str | None,
    progress: _Progress,
) -> tuple[bool, list[str], list[str]]:
    """Undo what can be undone (rule 9): (the state was put back, what was rolled back,
    what was not). The snapshot is pushed only when every step carried out changed the
    state alone: a revert or an apply since wrote records of cloud objects (a new id)
    that the snapshot would drop, leaving them unmanaged."""
    rolled: list[str] = _restore_code(ref, progress)
    cloud = [s for s in progress.done if s.action not in STATE_ONLY]
    not_reversible = [
        f"step {s.id} ({s.action}) changed the cloud: {', '.join(s.addresses)}; revert it "
        "by hand or with a new repair plan"
        for s in cloud
    ]
    state_steps = [s for s in progress.done if s.action in STATE_ONLY]
    if not state_steps:
        return False, rolled, not_reversible
    if cloud:
        not_reversible.append(
            "the state was not rolled back: steps that changed the cloud ran too, and the "
            f"snapshot would drop their records; undo {', '.join(s.id for s in state_steps)} "
            "with a new repair plan"
        )
        return False, rolled, not_reversible
    if snapshot is None:
        not_reversible.append(
            "the state was not rolled back: the state bucket keeps no versions, so there is "
            "no snapshot; enable versioning on it"
        )
        return False, rolled, not_reversible
    try:
        rolled.append(push_snapshot(bench, ref, scratch, snapshot))
    except IacdriftError as exc:
        not_reversible.append(f"the state was not rolled back: {exc.message}")
        return False, rolled, not_reversible
    return True, rolled, not_reversible


def push_snapshot(bench: Workbench, ref: StackRef, scratch: Scratch, snapshot: str) -> str:
    """Push the snapshot's content back as the newest state: same lineage (checked),
    serial one above the current one (a push never goes back in serial, never forces)."""
    assert ref.unit is not None
    spec = ref.unit.spec.state
    target = bench.target.with_region(spec.region)
    credentials = bench.credentials(ref)
    body = state_versions.read_version(spec.bucket, spec.key, snapshot, credentials, target)
    data = load_json(body, f"{spec.uri} version {snapshot}")
    now = current_state(bench, ref)
    if not isinstance(data, dict) or data.get("lineage") != now.lineage:
        raise RefusedError(
            f"the snapshot's lineage is not the current state's ({now.lineage}); push "
            f"nothing and look at {spec.uri}"
        )
    data["serial"] = (now.serial or 0) + 1
    push_state(scratch.engine, scratch.call, data, scratch.plans)
    return f"the state put back to version {snapshot} (serial now {data['serial']})"
