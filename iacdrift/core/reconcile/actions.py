"""From findings to draft repair steps: one action, its addresses, its exact artifact.

Contract of :func:`draft_steps` (pure; the findings of one stack, plus the unmanaged
findings the caller assigned to it). The finding's ``recommendedAction`` decides:

1. MOVE: paired with its counterpart (the other end of a destroy+create of one
   identity: ``refactor_pairs`` as :func:`iacdrift.core.planfacts.refactor_pairs`
   makes it, else two MOVE findings whose plan evidence names each other). ``from``
   is the side the plan deletes. One step per pair: a ``moved {}`` block, READY (the
   block goes into the scratch copy only). No unambiguous counterpart -> REFUSED.
2. IMPORT: an ``import {}`` block, ``to`` the finding's address, ``id`` its resource
   id. An unmanaged finding (no address yet) is imported to ``<type>.<id as a name>``
   and NEEDS_CODE_CHANGE (generated configuration goes in with the block). No id ->
   REFUSED.
3. REMOVE_FROM_STATE: a ``removed {}`` block with ``lifecycle { destroy = false }``,
   READY; an instance address (``removed`` takes none) -> REFUSED.
4. REFRESH: a targeted refresh-only apply, only when the runtime value is accepted
   (secret delivery drift, or a change record covers it); otherwise REFUSED.
5. REVERT: a targeted apply of the finding's addresses, READY.
6. APPLY: one normal apply of the stack for all APPLY findings, READY.
7. UPDATE_CODE: the accepted runtime values (``pointer = JSON``) the code must say;
   NEEDS_CODE_CHANGE (the patch is made from the stack's files later), no mutation.
8. IGNORE: a draft IgnoreRule in the policy format (owned, expiring, marked for
   review), DRAFT, no mutation; a finding without changed fields -> REFUSED.
9. INCIDENT_AND_REVERT: the targeted revert, NEEDS_PERSON (a person opens the
   incident and runs it; never auto-healed). INVESTIGATE, RECONCILE_AFTER_INCIDENT,
   DELETE: NEEDS_PERSON, no artifact, no mutation.

Findings of one action on one address are one step. Unparseable addresses make the
step REFUSED with the parser's reason rather than an invalid artifact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from iacdrift.core.reconcile import hcl
from iacdrift.models.finding import Action, DriftClass, EvidenceKind, Finding, Relationship
from iacdrift.models.repair import Artifact, ArtifactKind, StepStatus

# How long a drafted ignore rule lasts before it must be renewed.
IGNORE_DRAFT_DAYS = 30
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_RULE_UNSAFE = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Draft:
    """A step before the graph: what it does, not yet when."""

    action: Action
    finding_ids: tuple[str, ...]
    addresses: tuple[str, ...]
    artifact: Artifact | None
    mutates: bool
    status: StepStatus
    why: str | None = None


def import_address(resource_type: str, resource_id: str) -> str:
    """The address an unmanaged object is imported to: ``<type>.<id as a name>``."""
    name = _NAME_UNSAFE.sub("_", resource_id) or "imported"
    if not (name[0].isalpha() or name[0] == "_"):
        name = "r_" + name
    return f"{resource_type}.{name}"


def _targets(addresses: Iterable[str]) -> str:
    return "".join(f"-target={hcl.render_address(a)}\n" for a in sorted(addresses))


def _accepted_values(finding: Finding) -> str:
    lines = []
    for field in finding.changedFields:
        value = json.dumps(field.after, sort_keys=True, ensure_ascii=False, default=str)
        lines.append(f"{field.pointer} = {value}\n")
    return "".join(lines)


def _yaml_scalar(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar, and means the same text.
    return json.dumps(value, ensure_ascii=False)


def ignore_rule_text(finding: Finding, *, today: date | None) -> str:
    """A draft IgnoreRule document for ``finding`` (policies/*.yaml format), for review.

    Scoped to the finding's type, stack, environment and exact address; its paths are
    the changed fields; owned by the finding's owner; expiring ``IGNORE_DRAFT_DAYS``
    after ``today`` (without ``today`` the expiry is left for the reviewer to write,
    and ``iacdrift policy lint`` reports it until then).
    """
    slug = _RULE_UNSAFE.sub("-", f"draft-{finding.resourceType}-{finding.findingId[:8]}".lower())
    rule_id = slug.strip("-")[:63].rstrip("-")
    lines = [
        "# DRAFT for review: written by `iacdrift repair plan`, not yet in force.",
        "apiVersion: iacdrift.dev/v1",
        "kind: IgnoreRule",
        f"id: {rule_id}",
        "match:",
        f"  resourceType: {_yaml_scalar(finding.resourceType)}",
        f"  address: {_yaml_scalar(finding.resourceRef)}",
    ]
    if finding.stack:
        lines.append(f"  stack: {_yaml_scalar(finding.stack)}")
    if finding.environment:
        lines.append(f"  environment: {_yaml_scalar(finding.environment)}")
    lines.append("paths:")
    lines.extend(f"  - {_yaml_scalar(f.pointer)}" for f in finding.changedFields)
    lines.append(
        f"reason: {_yaml_scalar(f'DRAFT (finding {finding.findingId}): {finding.reason}')}"
    )
    lines.append(f"owner: {_yaml_scalar(finding.owner or 'unowned-set-an-owner')}")
    if today is not None:
        lines.append(f"expires: {(today + timedelta(days=IGNORE_DRAFT_DAYS)).isoformat()}")
    else:
        lines.append("# expires: YYYY-MM-DD  (required by `iacdrift policy lint`)")
    return "\n".join(lines) + "\n"


def _refused(
    action: Action, findings: Sequence[Finding], addresses: Iterable[str], why: str
) -> Draft:
    return Draft(
        action=action,
        finding_ids=tuple(sorted({f.findingId for f in findings})),
        addresses=tuple(sorted(set(addresses))),
        artifact=None,
        mutates=False,
        status=StepStatus.REFUSED,
        why=why,
    )


def _counterpart(finding: Finding, moves: Mapping[str, Finding]) -> str | None:
    """The MOVE finding whose plan evidence names this one's address, and vice versa."""
    for item in finding.evidence:
        other = moves.get(item.ref) if item.kind is EvidenceKind.PLAN else None
        if (
            other is not None
            and other.resourceRef != finding.resourceRef
            and any(
                e.kind is EvidenceKind.PLAN and e.ref == finding.resourceRef for e in other.evidence
            )
        ):
            return other.resourceRef
    return None


def _moves(findings: Sequence[Finding], refactor_pairs: Mapping[str, str]) -> list[Draft]:
    by_address = {f.resourceRef: f for f in findings}
    drafts: list[Draft] = []
    done: set[str] = set()
    for finding in sorted(findings, key=lambda f: (f.resourceRef, f.findingId)):
        if finding.resourceRef in done:
            continue
        other = refactor_pairs.get(finding.resourceRef) or _counterpart(finding, by_address)
        if other is None:
            drafts.append(
                _refused(
                    Action.MOVE,
                    [finding],
                    [finding.resourceRef],
                    "no unambiguous destroy+create pair of one identity in the plan; "
                    "write the moved block by hand or re-check",
                )
            )
            done.add(finding.resourceRef)
            continue
        mate = by_address.get(other)
        pair = [finding] + ([mate] if mate is not None else [])
        done.update({finding.resourceRef, other})
        deleted = "delete" in finding.plannedActions or (
            mate is not None and "create" in mate.plannedActions
        )
        source, destination = (
            (finding.resourceRef, other) if deleted else (other, finding.resourceRef)
        )
        try:
            block = hcl.moved_block(source, destination)
        except ValueError as exc:
            drafts.append(_refused(Action.MOVE, pair, [source, destination], str(exc)))
            continue
        drafts.append(
            Draft(
                action=Action.MOVE,
                finding_ids=tuple(sorted({f.findingId for f in pair})),
                addresses=tuple(sorted({source, destination})),
                artifact=Artifact(kind=ArtifactKind.MOVED_BLOCK, text=block),
                mutates=True,
                status=StepStatus.READY,
            )
        )
    return drafts


def _accepted_at_runtime(findings: Sequence[Finding]) -> bool:
    return all(
        f.driftClass is DriftClass.SECRET_DELIVERY_DRIFT or bool(f.changeRecords) for f in findings
    )


def _one(action: Action, address: str, group: Sequence[Finding], *, today: date | None) -> Draft:
    """The draft of ``group``: the findings of ``action`` on ``address`` (rules 2-9)."""
    ids = tuple(sorted({f.findingId for f in group}))
    first = group[0]
    try:
        if action is Action.IMPORT:
            resource_id = next((f.resourceId for f in group if f.resourceId), None)
            if resource_id is None:
                return _refused(action, group, [address], "no resource id to import; find it")
            unmanaged = first.relationship is Relationship.UNMANAGED
            target = import_address(first.resourceType, resource_id) if unmanaged else address
            block = hcl.import_block(target, resource_id)
            return Draft(
                action,
                ids,
                (target,),
                Artifact(kind=ArtifactKind.IMPORT_BLOCK, text=block),
                mutates=True,
                status=StepStatus.NEEDS_CODE_CHANGE if unmanaged else StepStatus.READY,
                why="an unmanaged object needs generated configuration beside its import "
                "block: a code change (PR, or repair apply --write-code)"
                if unmanaged
                else None,
            )
        if action is Action.REMOVE_FROM_STATE:
            block = hcl.removed_block(address)
            return Draft(
                action,
                ids,
                (address,),
                Artifact(kind=ArtifactKind.REMOVED_BLOCK, text=block),
                mutates=True,
                status=StepStatus.READY,
            )
        if action is Action.REFRESH:
            if not _accepted_at_runtime(group):
                return _refused(
                    action,
                    group,
                    [address],
                    "a refresh-only apply accepts the runtime value, and nothing says it "
                    "is accepted (no secret delivery, no change record); revert it or "
                    "record the change",
                )
            text = _targets([address])
            artifact = Artifact(kind=ArtifactKind.REFRESH_ONLY_APPLY, text=text)
            return Draft(action, ids, (address,), artifact, mutates=True, status=StepStatus.READY)
        if action in (Action.REVERT, Action.INCIDENT_AND_REVERT):
            artifact = Artifact(kind=ArtifactKind.TARGETED_APPLY, text=_targets([address]))
            if action is Action.REVERT:
                return Draft(action, ids, (address,), artifact, True, StepStatus.READY)
            return Draft(
                action,
                ids,
                (address,),
                artifact,
                mutates=True,
                status=StepStatus.NEEDS_PERSON,
                why="an incident: a person opens it and runs the revert (repair apply "
                "--yes); never auto-healed",
            )
        if action is Action.UPDATE_CODE:
            artifact = Artifact(kind=ArtifactKind.ACCEPTED_VALUES, text=_accepted_values(first))
            return Draft(
                action,
                ids,
                (address,),
                artifact,
                mutates=False,
                status=StepStatus.NEEDS_CODE_CHANGE,
                why="the stack's code must say the accepted runtime value: a patch and a "
                "reconciliation PR",
            )
        if action is Action.IGNORE:
            if not first.changedFields:
                return _refused(action, group, [address], "no changed fields to ignore")
            text = ignore_rule_text(first, today=today)
            artifact = Artifact(kind=ArtifactKind.IGNORE_RULE, text=text)
            return Draft(
                action,
                ids,
                (address,),
                artifact,
                mutates=False,
                status=StepStatus.DRAFT,
                why="a draft ignore rule: review it, then add it to policies/",
            )
    except ValueError as exc:
        return _refused(action, group, [address], str(exc))
    why = {
        Action.INVESTIGATE: "needs a person to investigate: ",
        Action.RECONCILE_AFTER_INCIDENT: "reconcile once the incident is closed: ",
        Action.DELETE: "deleting an object outside Terraform is a person's decision: ",
    }.get(action, f"{action} has no automatic repair: ")
    return Draft(action, ids, (address,), None, False, StepStatus.NEEDS_PERSON, why + first.reason)


def draft_steps(
    findings: Sequence[Finding],
    *,
    refactor_pairs: Mapping[str, str] | None = None,
    today: date | None = None,
) -> list[Draft]:
    """The draft steps for ``findings`` (rules in the module docstring), sorted by
    (action, addresses, finding ids)."""
    groups: dict[tuple[Action, str], list[Finding]] = {}
    moves: list[Finding] = []
    applies: list[Finding] = []
    for finding in findings:
        if finding.recommendedAction is Action.MOVE:
            moves.append(finding)
        elif finding.recommendedAction is Action.APPLY:
            applies.append(finding)
        else:
            key = (finding.recommendedAction, finding.resourceRef)
            groups.setdefault(key, []).append(finding)
    drafts = _moves(moves, refactor_pairs or {})
    for (action, address), group in sorted(groups.items()):
        group.sort(key=lambda f: f.findingId)
        drafts.append(_one(action, address, group, today=today))
    if applies:
        addresses = sorted({f.resourceRef for f in applies})
        drafts.append(
            Draft(
                Action.APPLY,
                tuple(sorted({f.findingId for f in applies})),
                tuple(addresses),
                Artifact(kind=ArtifactKind.APPLY, text="apply (saved plan of the whole stack)\n"),
                mutates=True,
                status=StepStatus.READY,
            )
        )
    return sorted(drafts, key=lambda d: (d.action, d.addresses, d.finding_ids))
