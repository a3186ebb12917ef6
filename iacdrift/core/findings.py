"""Assemble finding records from divergences and their context. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from iacdrift.core.addresses import config_address
from iacdrift.core.classify import Context, classify, domain_of
from iacdrift.core.planes import Divergence
from iacdrift.core.unmanaged import LiveResource
from iacdrift.models.finding import (
    QUIET_CLASSES,
    ChangedField,
    Counts,
    Finding,
    Relationship,
    StackStatus,
)


@dataclass(frozen=True)
class StackFacts:
    """What the registry says about a stack, as findings need it."""

    stack: str
    environment: str | None = None
    owner: str | None = None
    risk_tier: str | None = None
    source_of_truth: str | None = None
    state_backend: str | None = None
    auto_heal: bool = False


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
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return "drift-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]


def _top_attribute(pointer: str) -> str:
    part = pointer.split("/", 2)[1] if pointer.startswith("/") else pointer
    return part.replace("~1", "/").replace("~0", "~")


def all_fields_ignored(fields: Sequence[ChangedField], ignored: frozenset[str]) -> bool:
    if not fields or not ignored:
        return False
    return "*" in ignored or all(_top_attribute(f.pointer) in ignored for f in fields)


def from_divergence(
    divergence: Divergence,
    facts: StackFacts,
    detected_at: datetime,
    ignore_changes: Mapping[str, frozenset[str]],
) -> Finding:
    domain = domain_of(divergence.type)
    ignored = ignore_changes.get(config_address(divergence.address), frozenset())
    decision = classify(
        divergence.relationship,
        domain,
        Context(facts.environment, facts.risk_tier, facts.auto_heal),
        all_fields_ignored=all_fields_ignored(divergence.changed_fields, ignored),
    )
    fields = list(divergence.changed_fields)
    return Finding(
        findingId=finding_id(facts.stack, divergence.address, divergence.relationship, fields),
        stack=facts.stack,
        detectedAt=detected_at,
        domain=domain,
        resourceRef=divergence.address,
        resourceId=divergence.resource_id,
        resourceType=divergence.type,
        environment=facts.environment,
        owner=facts.owner,
        sourceOfTruth=facts.source_of_truth,
        stateBackend=facts.state_backend,
        relationship=divergence.relationship,
        alsoTrue=list(divergence.also_true),
        beforePlane=divergence.before_plane,
        afterPlane=divergence.after_plane,
        plannedActions=list(divergence.planned_actions),
        driftClass=decision.drift_class,
        risk=decision.risk,
        alert=decision.alert,
        changedFields=fields,
        noiseFields=list(divergence.noise_fields),
        recommendedAction=decision.action,
        autoHealAllowed=decision.auto_heal_allowed,
        reason=decision.reason,
    )


def from_unmanaged(resource: LiveResource, detected_at: datetime) -> Finding:
    domain = domain_of(resource.type)
    # Unknown owner and environment: classified on the domain alone.
    decision = classify(Relationship.UNMANAGED, domain, Context(None, None))
    ref = f"{resource.type}:{resource.id}"
    return Finding(
        findingId=finding_id(None, ref, Relationship.UNMANAGED, []),
        stack=None,
        detectedAt=detected_at,
        domain=domain,
        resourceRef=ref,
        resourceId=resource.id,
        resourceType=resource.type,
        environment=None,
        owner=None,
        sourceOfTruth=None,
        stateBackend=None,
        relationship=Relationship.UNMANAGED,
        driftClass=decision.drift_class,
        risk=decision.risk,
        alert=decision.alert,
        recommendedAction=decision.action,
        autoHealAllowed=False,
        reason=decision.reason,
    )


def status_and_counts(findings: Sequence[Finding], resources: int) -> tuple[StackStatus, Counts]:
    """A stack is DRIFTED when any finding is of a class that is not quiet."""
    drifted = sum(1 for f in findings if f.driftClass not in QUIET_CLASSES)
    counts = Counts(
        findings=len(findings),
        drifted=drifted,
        noise=sum(1 for f in findings if f.driftClass.value == "PROVIDER_READ_NOISE"),
        controllerOwned=sum(1 for f in findings if f.driftClass.value == "CONTROLLER_OWNED_DRIFT"),
        resources=resources,
    )
    return (StackStatus.DRIFTED if drifted else StackStatus.CLEAN), counts
