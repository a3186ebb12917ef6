"""The surgery plan record: a migration planned on a copy, bound to its inputs.

Contract of :func:`bind`, :func:`assemble_plan` and :func:`plan_content_id` (pure:
the caller reads the migration file, the state, the stack's files, the versions, the
caller identity and the clock, and runs Terraform on the copy). Rules, in the order
the code follows them:

1. The migration is bound by the sha256 of its file's bytes (UTF-8 text), so a
   comment changed after planning is a different migration.
2. The binding holds the migration's sha256, the state's lineage, serial and S3
   version id, the stack's files digest
   (:func:`iacdrift.core.reconcile.plan.files_digest`), the Terraform version and
   every provider's version; ``hash`` is the sha256 of the canonical JSON of those
   fields. Apply refuses when any of them changed.
3. There is one run per operation, in the migration's order; each operation's
   record holds what ran (the command), the addresses it touched before and after
   (sorted, unique) and whether configuration can say it
   (:func:`iacdrift.core.surgery.blocks.configuration_block`).
4. The resulting plan is the changes of the plan against the edited copy, sorted by
   address; the expectation is :func:`iacdrift.core.surgery.expectation.compare` of
   them with the migration's ``expectedPlan``.
5. A plan is approvable only when its result matches its expectation.
6. The configuration alternative is every operation's blocks, when every operation
   can be expressed (:func:`~iacdrift.core.surgery.blocks.configuration_alternative`).
7. ``planId`` is ``sp-`` and a sha256 prefix (16 hex digits) of the canonical JSON of
   the rest of the plan, ``createdAt`` left out: the same migration, state, files,
   versions, author and result give the same id whenever planned, and an approval
   bound to the id stays bound to exactly that content.

:func:`integrity_problems` checks a plan read back (from the shared prefix, before
approval or apply) against rules 1, 2, 4, 5 and 7: an edited plan says what was
edited. (It finds edits, not forgeries: anyone can recompute a hash. What approves
and applies compares the binding with the live state and files as well.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from iacdrift.core.reconcile.targeted import PlannedChange
from iacdrift.core.surgery.blocks import configuration_alternative, configuration_block
from iacdrift.core.surgery.expectation import compare
from iacdrift.models.finding import LockHolder
from iacdrift.models.surgery import (
    Expectation,
    MigrationSource,
    OperationResult,
    ResultingChange,
    StateMigration,
    SurgeryBinding,
    SurgeryPlan,
)
from iacdrift.primitives.canonical import canonical_sha256

__all__ = [
    "OperationRun",
    "assemble_plan",
    "bind",
    "binding_hash",
    "integrity_problems",
    "migration_sha256",
    "plan_content_id",
]

PLAN_ID_PREFIX = "sp-"
_ID_DIGITS = 16


@dataclass(frozen=True)
class OperationRun:
    """What one operation did on the private copy of the state.

    ``command``: the Terraform argv run (None when nothing runs at planning:
    force-unlock). ``lock``: for a force-unlock, the lock found when planning
    (:func:`iacdrift.core.surgery.locks.planned_lock`).
    ``addresses_before``/``addresses_after``: the state addresses the
    operation touched, before and after it (e.g. ``terraform state list`` of the
    copy before and after, their difference; for replace-provider the resources
    whose provider changed, on both sides).
    """

    command: Sequence[str] | None
    addresses_before: Sequence[str] = ()
    addresses_after: Sequence[str] = ()
    lock: LockHolder | None = None


def migration_sha256(text: str) -> str:
    """Hex sha256 of the migration file's bytes (rule 1)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def binding_hash(binding: SurgeryBinding) -> str:
    """The sha256 ``binding.hash`` must hold (rule 2)."""
    return canonical_sha256(binding.model_dump(mode="json", exclude={"hash"}))


def bind(
    *,
    migration_text: str,
    files_digest: str,
    state_lineage: str | None,
    state_serial: int | None,
    state_version_id: str | None,
    terraform_version: str,
    providers: Mapping[str, str],
) -> SurgeryBinding:
    """The binding of a plan made from these inputs (rules 1-2)."""
    unhashed = SurgeryBinding(
        migrationSha256=migration_sha256(migration_text),
        stateLineage=state_lineage,
        stateSerial=state_serial,
        stateVersionId=state_version_id,
        filesDigest=files_digest,
        terraformVersion=terraform_version,
        providers=dict(sorted(providers.items())),
        hash="",
    )
    return unhashed.model_copy(update={"hash": binding_hash(unhashed)})


def assemble_plan(
    migration: StateMigration,
    *,
    migration_text: str,
    binding: SurgeryBinding,
    author: str,
    created_at: datetime,
    runs: Sequence[OperationRun],
    changes: Sequence[PlannedChange],
) -> SurgeryPlan:
    """The surgery plan of ``migration`` (rules in the module docstring).

    ``migration_text`` is the file ``migration`` was read from; ``binding`` from
    :func:`bind` over the same text; ``runs`` one per operation, in order;
    ``changes`` :func:`iacdrift.core.reconcile.targeted.plan_changes` of the plan
    against the edited copy. ValueError when these do not belong together.
    """
    sha = migration_sha256(migration_text)
    if binding.migrationSha256 != sha:
        raise ValueError("the binding was made from another migration text; bind this one")
    if len(runs) != len(migration.operations):
        raise ValueError(
            f"{len(runs)} runs for {len(migration.operations)} operations; give one per operation"
        )
    # Rule 3.
    results = [
        OperationResult(
            index=index,
            operation=operation,
            command=list(run.command) if run.command is not None else None,
            addressesBefore=sorted(set(run.addresses_before)),
            addressesAfter=sorted(set(run.addresses_after)),
            configuration=configuration_block(operation),
            lock=run.lock,
        )
        for index, (operation, run) in enumerate(zip(migration.operations, runs, strict=True), 1)
    ]
    # Rule 4.
    resulting = [
        ResultingChange(
            address=change.address,
            actions=list(change.actions),
            previousAddress=change.previous_address,
        )
        for change in sorted(changes, key=lambda c: (c.address, c.actions))
    ]
    comparison = compare(migration.expectedPlan, changes)
    expectation = Expectation(
        expected=migration.expectedPlan,
        matches=comparison.matches,
        differences=list(comparison.differences),
    )
    plan = SurgeryPlan(
        planId=PLAN_ID_PREFIX + "0" * _ID_DIGITS,
        stack=migration.stack,
        migration=MigrationSource(id=migration.id, content=migration_text, sha256=sha),
        binding=binding,
        author=author,
        createdAt=created_at,
        operations=results,
        resultingPlan=resulting,
        expectation=expectation,
        approvable=comparison.matches,  # Rule 5.
        # Rule 6.
        configurationAlternative=configuration_alternative([r.configuration for r in results]),
    )
    # Rule 7.
    return plan.model_copy(update={"planId": plan_content_id(plan)})


def plan_content_id(plan: SurgeryPlan) -> str:
    """The planId ``plan``'s content gives (rule 7): a plan whose planId differs was
    edited after planning."""
    content = plan.model_dump(mode="json", by_alias=True, exclude={"planId", "createdAt"})
    return PLAN_ID_PREFIX + canonical_sha256(content)[:_ID_DIGITS]


def integrity_problems(plan: SurgeryPlan) -> list[str]:
    """What in ``plan`` no longer agrees with its own content (rules 1, 2, 4, 5, 7); empty
    when intact. One line each, saying what to do."""
    problems: list[str] = []
    if migration_sha256(plan.migration.content) != plan.migration.sha256:
        problems.append(
            "migration.sha256 is not the sha256 of migration.content; the migration was "
            "edited after planning: plan it again"
        )
    if plan.binding.migrationSha256 != plan.migration.sha256:
        problems.append(
            "binding.migrationSha256 is not migration.sha256; the plan was edited: plan again"
        )
    if binding_hash(plan.binding) != plan.binding.hash:
        problems.append("binding.hash does not hash the binding; the plan was edited: plan again")
    resulting = [
        PlannedChange(c.address, tuple(c.actions), c.previousAddress) for c in plan.resultingPlan
    ]
    comparison = compare(plan.expectation.expected, resulting)
    if (comparison.matches, list(comparison.differences)) != (
        plan.expectation.matches,
        plan.expectation.differences,
    ):
        problems.append(
            "expectation does not follow from resultingPlan; the plan was edited: plan again"
        )
    if plan.approvable != comparison.matches:
        problems.append(
            f"approvable is {str(plan.approvable).lower()} but the result "
            f"{'matches' if comparison.matches else 'does not match'} its expectation; "
            "the plan was edited: plan again"
        )
    expected_id = plan_content_id(plan)
    if plan.planId != expected_id:
        problems.append(
            f"planId {plan.planId} is not the id of the plan's content ({expected_id}); "
            "the plan was edited after planning: plan it again"
        )
    return problems
