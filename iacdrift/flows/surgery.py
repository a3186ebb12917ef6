"""`iacdrift surgery plan FILE`: a state migration planned on a copy, never the backend.

Rules, in the order the code follows them:

1. The migration file (``surgery/*.yaml``, :class:`~iacdrift.models.surgery.StateMigration`)
   names a registered stack: its state, its role.
2. The state object is read with the stack's own credentials, with its S3 version id;
   a stack without a state has nothing to operate on (an input error).
3. The author is the caller identity (``sts:GetCallerIdentity``) of the credentials
   that plan (the environment's AWS keys, else the orchestrator's), never a flag.
4. A scratch copy of the stack gets a local backend over a private copy of the state
   (a 0700 directory, removed at the end, whatever happens: the state holds secrets in
   clear text); each operation runs there with real Terraform (``state mv``, ``state
   rm``, ``import``, ``state replace-provider``); a ``force-unlock`` changes no state
   and is only recorded (the lock is checked again and released when applying). What
   each operation touched is read from the copy's state before and after it.
4a. A ``force-unlock`` names a lock that must be held on the state when planning
   (its id, holder and creation time are recorded in the plan; apply releases only
   that very lock): no lock, or another id, is an input error naming what is held.
5. A plan of the stack's configuration against the edited copy is the resulting plan;
   :func:`iacdrift.core.surgery.plan.assemble_plan` compares it with the expectation,
   binds the plan (migration, state lineage/serial/version, files, Terraform and
   provider versions) and gives its id. A plan whose result does not match cannot be
   approved.
6. ``--out DIR`` gets ``<stack>.<planId>.surgery.json`` and ``.md``, and, when
   configuration can say every operation, ``.migration.tf``: the moved/removed/import
   blocks to commit into the stack instead of the surgery (reviewed with the code);
   never the edited state, never a stack directory.
7. The plan and the edited state are stored for review and apply under the stack's
   state bucket, ``iacdrift/surgery/<stack>/<plan-id>/`` (conditional writes: a plan
   id is written once), with the planner's credentials.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from iacdrift.aws import state_versions
from iacdrift.aws.sts import caller_identity
from iacdrift.aws.surgery_store import SurgeryStore
from iacdrift.clock import Clock, utc_now
from iacdrift.core.reconcile.plan import files_digest
from iacdrift.core.reconcile.targeted import plan_changes
from iacdrift.core.surgery.locks import lock_mismatch, planned_lock
from iacdrift.core.surgery.plan import OperationRun, assemble_plan, bind
from iacdrift.core.surgery.state import resource_providers, touched
from iacdrift.credentials import person_credentials
from iacdrift.engine.base import CliEngine, StackCall
from iacdrift.engine.workspace import private_dir, scratch_copy, stack_files
from iacdrift.errors import InputError
from iacdrift.flows.lockfiles import saved_lock
from iacdrift.flows.repair import refuse_stack_dirs
from iacdrift.flows.surgery_found import held_lock
from iacdrift.flows.workbench import EngineOptions, StackRef, Workbench
from iacdrift.loaders.registry import load_project
from iacdrift.loaders.stack_hcl import locked_providers
from iacdrift.loaders.surgery import read_migration
from iacdrift.loaders.terraform_json import load_json
from iacdrift.models.finding import LockHolder
from iacdrift.models.surgery import (
    ForceUnlockOperation,
    ImportOperation,
    MoveOperation,
    Operation,
    RemoveOperation,
    ReplaceProviderOperation,
    StateMigration,
    SurgeryPlan,
)
from iacdrift.report.common import render_json
from iacdrift.report.surgery import render_surgery_markdown

STATE_FILE = "terraform.tfstate"


@dataclass(frozen=True)
class SurgeryPlanRequest:
    migration_path: Path
    out_dir: Path | None = None
    config_path: Path | None = None
    registry_dir: Path | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)


@dataclass(frozen=True)
class SurgeryPlanOutcome:
    plan: SurgeryPlan
    written: tuple[Path, ...] = ()


def _run(engine: CliEngine, call: StackCall, operation: Operation) -> list[str] | None:
    """Carry one operation out on the local copy (rule 4); the command, as argv."""
    if isinstance(operation, MoveOperation):
        engine.state_mv(call, operation.from_, operation.to)
        return ["state", "mv", operation.from_, operation.to]
    if isinstance(operation, RemoveOperation):
        engine.state_rm(call, operation.addresses)
        return ["state", "rm", *operation.addresses]
    if isinstance(operation, ImportOperation):
        engine.import_resource(call, operation.to, operation.id)
        return ["import", operation.to, operation.id]
    if isinstance(operation, ReplaceProviderOperation):
        engine.state_replace_provider(call, operation.from_, operation.to)
        return ["state", "replace-provider", operation.from_, operation.to]
    assert isinstance(operation, ForceUnlockOperation)
    return None  # changes no state; checked and run when applying


def _held_locks(
    bench: Workbench, ref: StackRef, migration: StateMigration, now: datetime
) -> dict[str, LockHolder]:
    """Rule 4a: the lock each force-unlock names, as held now (lock id -> holder)."""
    named = [o.lockId for o in migration.operations if isinstance(o, ForceUnlockOperation)]
    if not named or ref.unit is None:
        return {}
    held = held_lock(bench, ref, now)
    for lock_id in named:
        mismatch = lock_mismatch(lock_id, held, ref.unit.spec.state.uri)
        if mismatch is not None:
            raise InputError(f"{migration.stack}: force-unlock: {mismatch}")
    return {held.id: planned_lock(held)} if held is not None else {}


def _read(state_file: Path) -> dict[str, Any]:
    data = load_json(state_file.read_bytes(), "the local copy of the state")
    return data if isinstance(data, dict) else {}


def plan_surgery(request: SurgeryPlanRequest, clock: Clock = utc_now) -> SurgeryPlanOutcome:
    """``iacdrift surgery plan``: rules in the module docstring."""
    project = load_project(request.config_path, request.registry_dir)
    loaded = read_migration(request.migration_path, stacks=project.names)
    migration = loaded.migration
    registered = project.get(migration.stack)
    ref = StackRef.of(registered)
    if request.out_dir is not None:
        refuse_stack_dirs(request.out_dir, [s.stack_dir for s in project.stacks], "--out")
    bench = Workbench.open(project, request.engine)
    spec = registered.unit.spec.state
    credentials = bench.credentials(ref)
    target = bench.target.with_region(spec.region)
    found = state_versions.read_current(spec.bucket, spec.key, credentials, target)
    if found is None:
        raise InputError(
            f"{loaded.shown}: stack {migration.stack} has no state at {spec.uri} yet; "
            "nothing to operate on (apply the stack first)"
        )
    state = load_json(found.body, spec.uri)
    if not isinstance(state, dict):
        raise InputError(f"{spec.uri}: the state is not a JSON object; look at the object")
    person = person_credentials(os.environ, bench.orchestrator_credentials())
    author = caller_identity(person, bench.target)
    locks = _held_locks(bench, ref, migration, clock())
    engine = bench.engine(ref)
    runs: list[OperationRun] = []
    lock_file = saved_lock(bench, ref)
    with scratch_copy(ref.directory, bench.scratch_parent) as workdir:
        private = private_dir(bench.scratch_parent, "iacdrift-surgery-")
        try:
            state_file = private / STATE_FILE
            state_file.write_bytes(found.body)
            state_file.chmod(0o600)
            if lock_file is not None and not (workdir / ".terraform.lock.hcl").exists():
                (workdir / ".terraform.lock.hcl").write_text(lock_file, encoding="utf-8")
            call = bench.call(ref, workdir, credentials)
            version = engine.version(call)
            engine.init_local(call, state_file)
            for operation in migration.operations:
                before = resource_providers(_read(state_file))
                command = _run(engine, call, operation)
                gone, came = touched(before, resource_providers(_read(state_file)))
                if isinstance(operation, ReplaceProviderOperation):
                    engine.init_local(call, state_file)  # the new provider source
                lock = (
                    locks.get(operation.lockId)
                    if isinstance(operation, ForceUnlockOperation)
                    else None
                )
                runs.append(OperationRun(command, gone, came, lock))
            reading = engine.plan_and_show(call, init=False)
            providers = locked_providers(workdir)
            edited = state_file.read_bytes()
        finally:
            shutil.rmtree(private, ignore_errors=True)
    binding = bind(
        migration_text=loaded.text,
        files_digest=files_digest(stack_files(ref.directory)),
        state_lineage=state.get("lineage"),
        state_serial=state.get("serial"),
        state_version_id=found.version_id,
        terraform_version=f"{version.flavor.value} {version.version}",
        providers=providers,
    )
    plan = assemble_plan(
        migration,
        migration_text=loaded.text,
        binding=binding,
        author=author,
        created_at=clock(),
        runs=runs,
        changes=plan_changes(reading.plan_json),
    )
    # Rule 7: shared with the reviewers, beside the stack's state (same bucket, same
    # protection: the edited state holds what the state holds).
    store = SurgeryStore(spec.bucket, person, target)
    store.put_plan(plan.stack, plan.planId, render_json(plan).encode())
    store.put_state(plan.stack, plan.planId, edited)
    written: list[Path] = []
    if request.out_dir is not None:
        request.out_dir.mkdir(parents=True, exist_ok=True)
        files = [
            ("surgery.json", render_json(plan)),
            ("surgery.md", render_surgery_markdown(plan)),
        ]
        if plan.configurationAlternative:
            files.append(("migration.tf", migration_tf(plan)))
        for suffix, text in files:
            path = request.out_dir / f"{plan.stack}.{plan.planId}.{suffix}"
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return SurgeryPlanOutcome(plan, tuple(written))


def migration_tf(plan: SurgeryPlan) -> str:
    """The configuration alternative as a file to commit into the stack."""
    assert plan.configurationAlternative is not None
    return (
        f"# The state migration {plan.migration.id} ({plan.planId}) as configuration:\n"
        f"# commit this file into the stack ({plan.stack}) instead of applying the surgery;\n"
        "# the next plan and apply carry it out, reviewed with the code. Remove it once\n"
        "# applied everywhere.\n\n" + plan.configurationAlternative.rstrip() + "\n"
    )
