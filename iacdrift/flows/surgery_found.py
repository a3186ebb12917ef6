"""Finding a stored surgery plan by its id, for approve, apply and status.

A plan lives under the surgery prefix of a registered stack's state bucket
(``iacdrift/surgery/<stack>/<plan-id>/``, written by ``surgery plan``); it is read
with the person's credentials (the environment's AWS keys, else the orchestrator's)
and must read back intact (:func:`iacdrift.core.surgery.plan.integrity_problems`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from iacdrift import locking
from iacdrift.aws.surgery_store import SurgeryStore
from iacdrift.core.surgery.plan import integrity_problems
from iacdrift.credentials import person_credentials
from iacdrift.errors import InputError, RefusedError
from iacdrift.flows.workbench import EngineOptions, StackRef, Workbench
from iacdrift.loaders.registry import Project, RegisteredStack
from iacdrift.models.finding import LockHolder
from iacdrift.models.surgery import SurgeryPlan


@dataclass(frozen=True)
class SurgeryRequest:
    plan_id: str
    comment: str | None = None
    # apply: carry it out; without it, a dry run that checks and says what it would do.
    yes: bool = False
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
    """The stored plan ``plan_id`` of whichever registered stack holds it, read back
    intact; InputError when none does, RefusedError when it was edited."""
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


def held_lock(
    bench: Workbench,
    ref: StackRef,
    now: datetime,
    stale_after: timedelta = locking.DEFAULT_STALE_LOCK_AFTER,
) -> LockHolder | None:
    """Terraform's lock on a registered stack's state now (read with the stack's own
    credentials, as Terraform takes it), or None when free."""
    assert ref.unit is not None
    spec = ref.unit.spec.state
    return locking.read_terraform_lock(
        spec,
        bench.credentials(ref),
        bench.target.with_region(spec.region),
        now,
        stale_after=stale_after,
    )
