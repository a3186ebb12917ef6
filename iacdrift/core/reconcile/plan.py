"""The entry of the repair planner: findings in, one stack's :class:`RepairPlan` out.

Contract of :func:`plan_repairs` (pure: the caller reads the files, the state and
the clock; the same inputs give a byte-identical plan and planId). Rules, in the
order the code follows them:

1. Every finding belongs to ``stack``, or to no stack (an unmanaged object the
   caller assigned to it, by ``--into`` or a policy rule); another stack's
   finding is a ValueError. Findings are taken sorted by finding id.
2. Each finding becomes a draft step by its ``recommendedAction``
   (:func:`iacdrift.core.reconcile.actions.draft_steps`: MOVE pairs, HCL blocks,
   refusals, drafts, steps for a person).
3. A step's id is derived from its content: ``<action>-`` and a sha256 prefix of
   the canonical JSON of (stack, kind, action, addresses, finding ids).
4. When any step mutates, a final verification step is added: a check of the
   stack in which none of the repaired findings remains and none appears.
5. The steps form a graph (:mod:`iacdrift.core.reconcile.graph`): phase
   precedence, then resource dependencies within a phase (``dependencies``); a
   cycle raises DependencyCycleError naming its members.
6. ``batches`` are the graph's topological generations; each step's ``batch``
   is its generation and ``dependsOn`` its direct predecessors in the transitive
   reduction. Steps are sorted by (batch, phase, id).
7. The binding: ``findingsDigest`` over the findings' repair-relevant fields,
   ``filesDigest`` as given (:func:`files_digest`), the state's lineage and
   serial, and ``hash`` over those four.
8. ``planId`` is ``rp-`` and a sha256 prefix of the canonical JSON of the rest of
   the plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

from iacdrift.core.reconcile import graph as step_graph
from iacdrift.core.reconcile.actions import Draft, draft_steps
from iacdrift.models.finding import Finding
from iacdrift.models.repair import (
    Artifact,
    ArtifactKind,
    RepairBinding,
    RepairPlan,
    RepairStep,
    StepKind,
    StepStatus,
)
from iacdrift.primitives.canonical import canonical_sha256

__all__ = [
    "cross_stack_edges",
    "estate_batches",
    "files_digest",
    "findings_digest",
    "plan_content_id",
    "plan_repairs",
]


def files_digest(files: Mapping[str, bytes]) -> str:
    """sha256 over a stack's files: (relative path, sha256 of its bytes), sorted by path."""
    return canonical_sha256(
        sorted((path, hashlib.sha256(data).hexdigest()) for path, data in files.items())
    )


_BOUND_FIELDS = {
    "findingId",
    "stack",
    "resourceRef",
    "resourceId",
    "resourceType",
    "relationship",
    "driftClass",
    "recommendedAction",
    "plannedActions",
    "changedFields",
    "changeRecords",
    "autoHealAllowed",
}


def findings_digest(findings: Sequence[Finding]) -> str:
    """sha256 over the findings' repair-relevant fields, sorted by finding id; when a
    finding was detected is left out (a fresh check of the same drift binds the same)."""
    rows = [f.model_dump(mode="json", include=_BOUND_FIELDS) for f in findings]
    return canonical_sha256(sorted(rows, key=lambda row: str(row["findingId"])))


def _step_id(stack: str, kind: StepKind, draft: Draft | None, finding_ids: Sequence[str]) -> str:
    action = draft.action.value if draft else None
    content = {
        "stack": stack,
        "kind": kind.value,
        "action": action,
        "addresses": list(draft.addresses) if draft else [],
        "findingIds": list(finding_ids),
    }
    prefix = (action or kind.value).lower().replace("_", "-")
    return f"{prefix}-{canonical_sha256(content)[:12]}"


def plan_repairs(
    stack: str,
    findings: Sequence[Finding],
    *,
    files_digest: str,
    state_lineage: str | None,
    state_serial: int | None,
    dependencies: Mapping[str, Collection[str]] | None = None,
    refactor_pairs: Mapping[str, str] | None = None,
    today: date | None = None,
) -> RepairPlan:
    """The repair plan of ``stack`` for ``findings`` (rules in the module docstring).

    ``dependencies``: address -> the addresses it depends on (the state's
    ``dependencies`` and the configuration's references, merged by the caller);
    ``refactor_pairs``: :func:`iacdrift.core.planfacts.refactor_pairs` of the plan the
    findings came from; ``today``: dates a drafted ignore rule's expiry (it is part of
    the plan's content, so of its planId).
    """
    # Rule 1.
    strangers = sorted(f.findingId for f in findings if f.stack not in (stack, None))
    if strangers:
        raise ValueError(f"findings of another stack given to the plan of {stack}: {strangers}")
    ordered = sorted(findings, key=lambda f: f.findingId)
    # Rules 2-3.
    drafts = draft_steps(ordered, refactor_pairs=refactor_pairs, today=today)
    nodes: list[step_graph.Node] = []
    by_id: dict[str, tuple[Draft | None, list[str]]] = {}
    for draft in drafts:
        step_id = _step_id(stack, StepKind.REPAIR, draft, draft.finding_ids)
        by_id[step_id] = (draft, list(draft.finding_ids))
        nodes.append(
            step_graph.Node(
                step_id,
                stack,
                step_graph.phase_of(draft.action),
                ordered=draft.mutates,
                addresses=draft.addresses,
            )
        )
    # Rule 4.
    repaired = sorted({i for d in drafts if d.mutates for i in d.finding_ids})
    if repaired:
        verify_id = _step_id(stack, StepKind.VERIFY, None, repaired)
        by_id[verify_id] = (None, repaired)
        nodes.append(step_graph.Node(verify_id, stack, step_graph.VERIFY_PHASE, ordered=True))
    # Rules 5-6.
    graph = step_graph.build_graph(nodes, dependencies={stack: dependencies or {}})
    batches = step_graph.batches(graph)
    waits = step_graph.depends_on(graph)
    batch_of = {step: index for index, batch in enumerate(batches) for step in batch}
    phase = {node.id: node.phase for node in nodes}
    steps: list[RepairStep] = []
    for step_id in sorted(by_id, key=lambda s: (batch_of[s], phase[s], s)):
        found, ids = by_id[step_id]
        if found is None:
            steps.append(
                RepairStep(
                    id=step_id,
                    stack=stack,
                    kind=StepKind.VERIFY,
                    action=None,
                    findingIds=ids,
                    artifact=Artifact(
                        kind=ArtifactKind.VERIFY_CHECK,
                        text=f"check {stack}: none of the {len(ids)} repaired findings "
                        "remains and no new finding appears\n",
                    ),
                    mutates=False,
                    dependsOn=waits[step_id],
                    batch=batch_of[step_id],
                    status=StepStatus.READY,
                )
            )
            continue
        steps.append(
            RepairStep(
                id=step_id,
                stack=stack,
                action=found.action,
                findingIds=ids,
                addresses=list(found.addresses),
                artifact=found.artifact,
                mutates=found.mutates,
                dependsOn=waits[step_id],
                batch=batch_of[step_id],
                status=found.status,
                why=found.why,
            )
        )
    # Rule 7.
    digest = findings_digest(ordered)
    bound = {
        "findingsDigest": digest,
        "filesDigest": files_digest,
        "stateLineage": state_lineage,
        "stateSerial": state_serial,
    }
    binding = RepairBinding(
        findingsDigest=digest,
        filesDigest=files_digest,
        stateLineage=state_lineage,
        stateSerial=state_serial,
        hash=canonical_sha256(bound),
    )
    # Rule 8.
    plan = RepairPlan(planId="", stack=stack, binding=binding, steps=steps, batches=batches)
    return plan.model_copy(update={"planId": plan_content_id(plan)})


def plan_content_id(plan: RepairPlan) -> str:
    """The planId ``plan``'s content gives (rule 8): a plan whose planId differs was
    edited after planning."""
    content = plan.model_dump(mode="json", exclude={"planId"})
    return "rp-" + canonical_sha256(content)[:16]


def _estate_graph(plans: Sequence[RepairPlan], reads: Mapping[str, Collection[str]] | None) -> Any:
    nodes = [
        step_graph.Node(
            step.id,
            step.stack,
            step_graph.phase_of(step.action, verify=step.kind is StepKind.VERIFY),
            ordered=step.mutates or step.kind is StepKind.VERIFY,
            addresses=tuple(step.addresses),
        )
        for plan in plans
        for step in plan.steps
    ]
    edges = [
        (before, step.id) for plan in plans for step in plan.steps for before in step.dependsOn
    ]
    return step_graph.build_graph(nodes, reads=reads, edges=edges)


def estate_batches(
    plans: Sequence[RepairPlan], *, reads: Mapping[str, Collection[str]] | None = None
) -> list[list[str]]:
    """The batches of several stacks' plans run together: each plan's own order, and a
    stack that reads another's outputs (``reads``: stack -> the stacks it reads) starts
    after that stack's verification. DependencyCycleError on a cycle (stacks that
    read each other while both have steps)."""
    return step_graph.batches(_estate_graph(plans, reads))


def cross_stack_edges(
    plans: Sequence[RepairPlan], *, reads: Mapping[str, Collection[str]] | None = None
) -> list[tuple[str, str]]:
    """The (before, after) step pairs that order one stack's steps after another's (the
    ``reads`` of :func:`estate_batches`), sorted; what a drawing of several plans adds
    to each plan's own ``dependsOn``. DependencyCycleError as there."""
    graph = _estate_graph(plans, reads)
    stack_of = {step.id: step.stack for plan in plans for step in plan.steps}
    return sorted(
        (str(before), str(after))
        for before, after in graph.edges
        if stack_of.get(before) != stack_of.get(after)
    )
