"""What one classification looks at: a :class:`Subject` (one difference) in its
:class:`Situation` (the stack's facts, the policies, the audit events and change
records, the clock's "now"), and the :class:`Trail` of evidence the rules write as
they decide. Pure data; the class table that reads it is :mod:`iacdrift.core.decide`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from iacdrift.core.aggregates import Explanation
from iacdrift.core.planfacts import DataChange
from iacdrift.models.context import AuditEvent, ChangeRecord, ContextSettings
from iacdrift.models.finding import ChangedField, Evidence, EvidenceKind, Relationship
from iacdrift.models.policy import PolicySet


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


@dataclass(frozen=True)
class Subject:
    """One difference to classify (a divergence, an unmanaged resource or a guardrail hit)."""

    stack: str | None
    address: str  # Terraform address; <type>:<id> for an unmanaged resource
    resource_type: str
    resource_id: str | None
    relationship: Relationship
    fields: tuple[ChangedField, ...] = ()
    planned_actions: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    # Every identifier the audit trail may name the resource by.
    identifiers: tuple[str, ...] = ()
    # lifecycle.ignore_changes of its configuration block (top attributes, or "*").
    ignore_changes: frozenset[str] = frozenset()
    # Changed data sources its configuration reads.
    changed_data: tuple[DataChange, ...] = ()
    # The other half of a destroy+create pair with the same identity.
    refactor_counterpart: str | None = None
    # Guardrails in effect that the live resource violates (ids).
    guardrails: tuple[str, ...] = ()
    # Changed elements of its aggregates that other resources manage (core.aggregates):
    # already moved out of ``fields``; named in the evidence.
    explained: tuple[Explanation, ...] = ()
    # A planned create of a live resource that an earlier version of the state recorded
    # and the restored state lost (core.state_history): why, for the evidence.
    forgotten: str | None = None
    # What a provider upgrade explains (core.upgrade): "provider upgrade hashicorp/aws
    # 2.70.0 -> 3.39.0: tags_all read for the first time ..."; the fields it names are
    # already in the noise (``upgrade_fields``).
    upgrade: str | None = None
    upgrade_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class Situation:
    """The context shared by every subject of one stack (or of the estate)."""

    facts: StackFacts | None
    policies: PolicySet
    now: datetime
    settings: ContextSettings = field(default_factory=ContextSettings)
    # Successful mutating audit events by every identifier they name (see
    # core.attribution.index_audit); None when no audit source is configured (then no
    # actor is ever known).
    audit: Mapping[str, Sequence[AuditEvent]] | None = None
    changes: Sequence[ChangeRecord] = ()
    # ARN globs of Terraform's own identities for this stack (its pipeline role):
    # their changes are applies, not manual changes.
    pipeline_roles: tuple[str, ...] = ()
    # Why the recorded state is older than one already seen, if it is.
    state_regressed: str | None = None
    # When the stack was last checked CLEAN (a failed apply before it is reconciled).
    clean_since: datetime | None = None


@dataclass
class Trail:
    """The evidence that led to a verdict, in the order the rules found it."""

    evidence: list[Evidence] = field(default_factory=list)

    def add(self, kind: EvidenceKind, ref: str, detail: str, at: datetime | None = None) -> None:
        self.evidence.append(Evidence(kind=kind, ref=ref, detail=detail, at=at))
