"""Assemble finding records from divergences, unmanaged resources and guardrail hits. Pure.

Classification itself is :mod:`iacdrift.core.decide`; this module turns a
difference into a :class:`~iacdrift.core.subject.Subject`, asks for its
verdict and writes the :class:`~iacdrift.models.finding.Finding`. Before that, the
aggregate fields that other resources manage (of this state, or of another registered
state) are taken out of each divergence (:mod:`iacdrift.core.aggregates`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from iacdrift.core import aggregates, upgrade
from iacdrift.core.decide import Verdict, judge
from iacdrift.core.guardrails import guardrail_by_id, guardrail_field, violated_guardrails
from iacdrift.core.planes import Divergence
from iacdrift.core.planfacts import DataChange, LiveResource, depends_on_changed
from iacdrift.core.redact import is_marker
from iacdrift.core.risk import domain_of
from iacdrift.core.state_history import STATE_RESOURCE_TYPE, ForgottenResource
from iacdrift.core.subject import Situation, StackFacts, Subject
from iacdrift.core.terraform_json import RecordedResource
from iacdrift.core.unmanaged import LiveResource as InventoryResource
from iacdrift.models.finding import (
    QUIET_CLASSES,
    ChangedField,
    Counts,
    DriftClass,
    Finding,
    Plane,
    Relationship,
    StackStatus,
    StateRegression,
)
from iacdrift.primitives.address import config_address
from iacdrift.primitives.canonical import canonical_sha256

__all__ = ["StackPlan", "finding_id", "from_state_regression", "from_unmanaged", "stack_findings"]


def finding_id(
    stack: str | None, resource_ref: str, relationship: str, fields: Sequence[ChangedField]
) -> str:
    """Stable across runs for the same drift: content-addressed.

    Values are already redacted (sensitive ones are salted fingerprints), so the
    id never encodes a secret.
    """
    body = [
        stack,
        resource_ref,
        relationship,
        [[f.pointer, f.before, f.after] for f in sorted(fields, key=lambda f: f.pointer)],
    ]
    # ASCII escapes and str() for non-JSON values: the ids published so far hash this text.
    return "drift-" + canonical_sha256(body)[:20]


@dataclass(frozen=True)
class StackPlan:
    """What one stack's plan says beyond its divergences (see core.planfacts)."""

    live: Mapping[str, LiveResource] = field(default_factory=dict)
    data_changes: Mapping[str, DataChange] = field(default_factory=dict)
    data_dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    refactor_pairs: Mapping[str, str] = field(default_factory=dict)
    ignore_changes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Members of aggregates recorded in other registered states (this stack's own come
    # from ``live``), and this stack's account (members of another account explain nothing).
    other_members: Sequence[aggregates.Member] = ()
    account: str | None = None
    # Resources the restored state lost, by address (core.state_history, rule 3).
    forgotten: Mapping[str, ForgottenResource] = field(default_factory=dict)
    # The raw state's instances by address, the providers planning now (source ->
    # version) and those that changed version since the last check (core.upgrade).
    recorded: Mapping[str, RecordedResource] = field(default_factory=dict)
    providers: Mapping[str, str] = field(default_factory=dict)
    upgrades: Mapping[str, upgrade.ProviderUpgrade] = field(default_factory=dict)


def _identifiers(resource_id: str | None, live: LiveResource | None) -> tuple[str, ...]:
    found: set[str] = set()
    if resource_id:
        found.add(resource_id)
        # Composite ids (secret versions: "<arn>|<version>") name each part.
        found.update(part for part in resource_id.split("|") if part)
    if live is not None and isinstance(live.attributes, Mapping):
        # ids and ARNs only: a bare name may be another type's (a role and a group "web").
        for key in ("id", "arn"):
            value = live.attributes.get(key)
            if isinstance(value, str) and value and not is_marker(value):
                found.add(value)
    return tuple(sorted(found))


def _finding(
    subject: Subject,
    verdict: Verdict,
    facts: StackFacts | None,
    detected_at: datetime,
    policy_version: str,
    *,
    also_true: Sequence[Relationship] = (),
    before_plane: Plane | None = None,
    after_plane: Plane | None = None,
    noise_fields: Sequence[ChangedField] = (),
) -> Finding:
    # A guardrail hit is identified by its guardrail too (two guardrails, two findings).
    kind = subject.relationship.value
    if subject.relationship is Relationship.VIOLATES_GUARDRAIL:
        kind += ":" + ",".join(subject.guardrails)
    return Finding(
        findingId=finding_id(subject.stack, subject.address, kind, list(subject.fields)),
        stack=subject.stack,
        detectedAt=detected_at,
        domain=domain_of(subject.resource_type),
        resourceRef=subject.address,
        resourceId=subject.resource_id,
        resourceType=subject.resource_type,
        environment=facts.environment if facts else None,
        owner=facts.owner if facts else None,
        sourceOfTruth=facts.source_of_truth if facts else None,
        stateBackend=facts.state_backend if facts else None,
        relationship=subject.relationship,
        alsoTrue=list(also_true),
        beforePlane=before_plane,
        afterPlane=after_plane,
        plannedActions=list(subject.planned_actions),
        driftClass=verdict.drift_class,
        risk=verdict.risk,
        alert=verdict.alert,
        changedFields=list(verdict.fields),
        noiseFields=list(noise_fields),
        recommendedAction=verdict.action,
        autoHealAllowed=verdict.auto_heal_allowed,
        reason=verdict.reason,
        policyVersion=policy_version,
        suppressed=verdict.suppressed,
        deadline=verdict.deadline,
        actors=list(verdict.actors),
        changeRecords=list(verdict.change_records),
        evidence=list(verdict.evidence),
    )


def stack_findings(
    divergences: Sequence[Divergence],
    plan: StackPlan,
    situation: Situation,
    detected_at: datetime,
) -> list[Finding]:
    """Every finding of one stack: its divergences, then in-sync guardrail violations."""
    facts = situation.facts
    if facts is None:
        raise ValueError("stack findings need the stack's facts")
    policies, now = situation.policies, situation.now
    found: list[Finding] = []
    runtime_changed: set[str] = set()
    members = aggregates.index_members(
        [
            *aggregates.members_of_live(plan.live),
            *(m for m in plan.other_members if m.stack != facts.stack),
        ]
    )
    for raw in divergences:
        live = plan.live.get(raw.address)
        # Parts of aggregates that other resources manage first, then what a provider
        # upgrade explains of the rest (never an aggregate or a critical field).
        explained = aggregates.explain(
            raw, live.attributes if live else None, members, account=plan.account
        )
        upgraded = upgrade.explain(
            explained.divergence, plan.recorded.get(raw.address), plan.upgrades, plan.providers
        )
        divergence = upgraded.divergence
        lost = plan.forgotten.get(divergence.address)
        guardrails = (
            violated_guardrails(divergence.type, live.attributes, policies, now) if live else ()
        )
        subject = Subject(
            stack=facts.stack,
            address=divergence.address,
            resource_type=divergence.type,
            resource_id=divergence.resource_id or (lost.resource_id if lost else None),
            relationship=divergence.relationship,
            fields=tuple(divergence.changed_fields),
            planned_actions=tuple(divergence.planned_actions),
            tags=dict(live.tags) if live else {},
            identifiers=_identifiers(divergence.resource_id, live),
            ignore_changes=plan.ignore_changes.get(config_address(divergence.address), frozenset()),
            changed_data=tuple(
                depends_on_changed(divergence.address, plan.data_dependencies, plan.data_changes)
            ),
            refactor_counterpart=plan.refactor_pairs.get(divergence.address),
            guardrails=guardrails,
            explained=explained.explanations,
            forgotten=lost.describe() if lost else None,
            upgrade=upgraded.reason,
            upgrade_fields=upgraded.moved,
        )
        verdict = judge(subject, situation)
        # A loud runtime finding already carries the guardrail (evidence, risk); a quiet
        # one (noise, owned, ignored) must not hide it: it is reported on its own below.
        loud = verdict.drift_class not in QUIET_CLASSES and not verdict.suppressed
        if divergence.relationship is not Relationship.DESIRED_NE_RECORDED and loud:
            runtime_changed.add(divergence.address)
        found.append(
            _finding(
                subject,
                verdict,
                facts,
                detected_at,
                policies.version,
                also_true=divergence.also_true,
                before_plane=divergence.before_plane,
                after_plane=divergence.after_plane,
                noise_fields=divergence.noise_fields,
            )
        )
    # Resources that did not change at runtime but break a guardrail in effect.
    for address, live in sorted(plan.live.items()):
        if address in runtime_changed:
            continue
        for guardrail_id in violated_guardrails(live.type, live.attributes, policies, now):
            guardrail = guardrail_by_id(policies, guardrail_id)
            subject = Subject(
                stack=facts.stack,
                address=address,
                resource_type=live.type,
                resource_id=live.resource_id,
                relationship=Relationship.VIOLATES_GUARDRAIL,
                fields=(guardrail_field(guardrail, live.attributes),),
                tags=dict(live.tags),
                identifiers=_identifiers(live.resource_id, live),
                guardrails=(guardrail_id,),
            )
            found.append(
                _finding(
                    subject,
                    judge(subject, situation),
                    facts,
                    detected_at,
                    policies.version,
                    after_plane=Plane.ACTUAL,
                )
            )
    found.sort(key=lambda f: (f.resourceRef, f.relationship.value, f.findingId))
    return found


def from_unmanaged(
    resource: InventoryResource, situation: Situation, detected_at: datetime
) -> Finding:
    ref = f"{resource.type}:{resource.id}"
    subject = Subject(
        stack=None,
        address=ref,
        resource_type=resource.type,
        resource_id=resource.id,
        relationship=Relationship.UNMANAGED,
        identifiers=tuple(sorted({resource.id} | ({resource.name} if resource.name else set()))),
    )
    return _finding(
        subject, judge(subject, situation), None, detected_at, situation.policies.version
    )


def from_state_regression(
    regression: StateRegression, situation: Situation, detected_at: datetime, state_ref: str
) -> Finding:
    """The state object itself went back (``situation.state_regressed`` says why): one
    finding, whether or not any resource differs because of it."""
    facts = situation.facts
    subject = Subject(
        stack=facts.stack if facts else None,
        address=state_ref,
        resource_type=STATE_RESOURCE_TYPE,
        resource_id=regression.currentVersionId,
        relationship=Relationship.STATE_REGRESSED,
        fields=(
            ChangedField(
                pointer="/serial", before=regression.earlierSerial, after=regression.currentSerial
            ),
        ),
    )
    return _finding(
        subject,
        judge(subject, situation),
        facts,
        detected_at,
        situation.policies.version,
        before_plane=Plane.RECORDED,
        after_plane=Plane.RECORDED,
    )


def status_and_counts(findings: Sequence[Finding], resources: int) -> tuple[StackStatus, Counts]:
    """A stack is DRIFTED when any finding is of a class that is not quiet and not suppressed."""
    drifted = sum(1 for f in findings if f.driftClass not in QUIET_CLASSES and not f.suppressed)
    counts = Counts(
        findings=len(findings),
        drifted=drifted,
        noise=sum(1 for f in findings if f.driftClass is DriftClass.PROVIDER_READ_NOISE),
        controllerOwned=sum(
            1 for f in findings if f.driftClass is DriftClass.CONTROLLER_OWNED_DRIFT
        ),
        resources=resources,
    )
    return (StackStatus.DRIFTED if drifted else StackStatus.CLEAN), counts
