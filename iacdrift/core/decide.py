"""The classification policy engine: one difference + its context -> one decision. Pure.

Inputs are data: the difference (:class:`Subject`), the stack's facts, the
loaded policies, the audit events and change records, the clock's "now"
(:class:`Situation`). Output is a :class:`Verdict`: the drift class (the first
rule of the table below that matches wins), risk, alert, recommended action,
auto-heal permission, the fields annotated with their owner and ignore rule,
and the evidence that led there (what ``iacdrift explain`` shows).

=============================  ==============================================================
class                          when
=============================  ==============================================================
PROVIDER_READ_NOISE            the difference vanishes under normalization
CONTROLLER_OWNED_DRIFT         every changed field is owned by a controller or the runtime
                               (FieldOwnership policy, or lifecycle.ignore_changes unless the
                               policy says Git owns it)
EMERGENCY_DRIFT                a break-glass identity changed it and a break-glass change
                               record covers the resource and the time
SECRET_DELIVERY_DRIFT          a secret's version changed outside Terraform (a rotation)
STATE_DRIFT                    missing in actual; a destroy+create of one identity (a rename
                               without ``moved``); a state older than one already seen
DEPENDENCY_DRIFT               desired!=recorded caused by a changed data source or remote state
PENDING_APPLY                  desired!=recorded caused by this stack's code
FAILED_RECONCILIATION_DRIFT    the stack's last apply is recorded as failed and covers it
POLICY_DRIFT                   an in-sync resource violates a guardrail in effect
STALE_DESIRED_STATE            an approved change accepted the runtime value; code not updated
UNAUTHORIZED_RUNTIME_DRIFT     any other manual change, or an unmanaged resource
=============================  ==============================================================

The same inputs always give the same verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from iacdrift.core.planes import ignore_path
from iacdrift.core.planfacts import DataChange
from iacdrift.core.risk import NEVER_AUTO_HEAL, Context, base_risk, domain_of, shift_risk
from iacdrift.models.context import (
    AuditEvent,
    ChangeRecord,
    ChangeType,
    ContextSettings,
    resource_matches,
)
from iacdrift.models.finding import (
    Action,
    AuditActor,
    ChangedField,
    Domain,
    DriftClass,
    Evidence,
    EvidenceKind,
    Relationship,
    Risk,
)
from iacdrift.models.policy import (
    FieldOwnership,
    Guardrail,
    IgnoreRule,
    OwnerKind,
    PolicySet,
    pointer_segments,
)

# Relationships that mean "the world changed outside Terraform".
RUNTIME_CHANGES: frozenset[Relationship] = frozenset(
    {
        Relationship.OUT_OF_BAND,
        Relationship.DESIRED_NE_ACTUAL,
        Relationship.RECORDED_NE_ACTUAL,
        Relationship.MISSING_IN_ACTUAL,
        Relationship.UNMANAGED,
    }
)
# Fields of a secret that say which version is current (judged), and the fields
# holding the value itself (allowed to change along, never judged on their own).
SECRET_VERSION_FIELDS: frozenset[str] = frozenset({"version_stages", "version_id", "version"})
SECRET_VALUE_FIELDS: frozenset[str] = frozenset(
    {"secret_string", "secret_binary", "value", "insecure_value"}
)
_SECRET_TYPES: frozenset[str] = frozenset(
    {"aws_secretsmanager_secret_version", "aws_ssm_parameter"}
)
_QUIET = frozenset({DriftClass.PROVIDER_READ_NOISE, DriftClass.CONTROLLER_OWNED_DRIFT})
_NEVER_PAGES = frozenset(
    {
        DriftClass.PENDING_APPLY,
        DriftClass.DEPENDENCY_DRIFT,
        DriftClass.STALE_DESIRED_STATE,
        DriftClass.SECRET_DELIVERY_DRIFT,
    }
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


@dataclass(frozen=True)
class Situation:
    """The context shared by every subject of one stack (or of the estate)."""

    facts: StackFacts | None
    policies: PolicySet
    now: datetime
    settings: ContextSettings = field(default_factory=ContextSettings)
    # Successful mutating audit events by every identifier they name (see index_audit);
    # None when no audit source is configured (then no actor is ever known).
    audit: Mapping[str, Sequence[AuditEvent]] | None = None
    changes: Sequence[ChangeRecord] = ()
    # ARN globs of Terraform's own identities for this stack (its pipeline role):
    # their changes are applies, not manual changes.
    pipeline_roles: tuple[str, ...] = ()
    # Why the recorded state is older than one already seen, if it is.
    state_regressed: str | None = None
    # When the stack was last checked CLEAN (a failed apply before it is reconciled).
    clean_since: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    drift_class: DriftClass
    risk: Risk
    alert: bool
    action: Action
    auto_heal_allowed: bool
    reason: str
    fields: tuple[ChangedField, ...]
    suppressed: bool
    deadline: datetime | None
    actors: tuple[AuditActor, ...]
    change_records: tuple[str, ...]
    evidence: tuple[Evidence, ...]


@dataclass
class _Trail:
    evidence: list[Evidence] = field(default_factory=list)

    def add(self, kind: EvidenceKind, ref: str, detail: str, at: datetime | None = None) -> None:
        self.evidence.append(Evidence(kind=kind, ref=ref, detail=detail, at=at))


def arn_matches(globs: Sequence[str], event: AuditEvent) -> bool:
    """The event's actor (session ARN) or its role ARN matches one of the ARN globs."""
    candidates = [event.actorArn] + ([event.roleArn] if event.roleArn else [])
    return any(fnmatchcase(arn, glob) for arn in candidates for glob in globs)


# --- fields: ownership and ignore rules --------------------------------------------------


def _top(pointer: str) -> str:
    segments = pointer_segments(pointer)
    return segments[0] if segments else ""


def _under_ignore_changes(pointer: str, entries: frozenset[str]) -> bool:
    """``pointer`` lies under one of the ``lifecycle.ignore_changes`` entries."""
    segments = pointer_segments(pointer)
    for entry in entries:
        try:
            path = ignore_path(entry)
        except ValueError:
            continue  # unreadable: ignores nothing (report more, not less)
        if segments[: len(path)] == path:
            return True
    return False


def policy_pointer(pointer: str) -> str:
    """The pointer policies are written against: ``/tags_all/x`` (the provider's merge of
    ``tags`` and default tags) is governed by what is said of ``/tags/x``."""
    if pointer == "/tags_all" or pointer.startswith("/tags_all/"):
        return "/tags" + pointer[len("/tags_all") :]
    return pointer


def _owner(
    pointer: str, ownership: FieldOwnership | None, ignore_changes: frozenset[str], trail: _Trail
) -> str | None:
    pointer = policy_pointer(pointer)
    rule = ownership.owner_of(pointer) if ownership else None
    if rule is not None and ownership is not None:
        if rule.kind is OwnerKind.GIT:
            return None
        owner = f"controller:{rule.owner}" if rule.kind is OwnerKind.CONTROLLER else "runtime"
        condition = f" when {rule.condition}" if rule.condition else ""
        trail.add(
            EvidenceKind.RULE,
            ownership.id,
            f"{pointer} is {rule.kind.value}-owned ({owner}{condition}) by path {rule.path}",
        )
        return owner
    if _under_ignore_changes(pointer, ignore_changes):
        trail.add(
            EvidenceKind.CONFIGURATION,
            "lifecycle.ignore_changes",
            f"{pointer} is under lifecycle.ignore_changes: owned outside Terraform",
        )
        return "ignore_changes"
    return None


def _ignore_rule(
    subject: Subject,
    pointer: str,
    rules: Sequence[IgnoreRule],
    facts: StackFacts | None,
    now: datetime,
    trail: _Trail,
) -> str | None:
    environment = facts.environment if facts else None
    pointer = policy_pointer(pointer)
    for rule in rules:
        if not rule.match.matches(
            resource_type=subject.resource_type,
            address=subject.address,
            stack=subject.stack,
            environment=environment,
            tags=subject.tags,
        ) or not rule.covers(pointer):
            continue
        if not rule.active(now.date()):
            trail.add(
                EvidenceKind.RULE,
                rule.id,
                f"would ignore {pointer} but expired on {rule.expires}: not applied "
                f"(owner {rule.owner})",
            )
            continue
        until = f" until {rule.expires}" if rule.expires else ""
        trail.add(
            EvidenceKind.RULE,
            rule.id,
            f"ignores {pointer}{until}: {rule.reason} (owner {rule.owner})",
        )
        return rule.id
    return None


def annotate_fields(
    subject: Subject, situation: Situation, trail: _Trail
) -> tuple[ChangedField, ...]:
    ownership = situation.policies.field_ownership.get(subject.resource_type)
    rules = situation.policies.ignore_rules
    annotated: list[ChangedField] = []
    for changed in subject.fields:
        owner = _owner(changed.pointer, ownership, subject.ignore_changes, trail)
        ignored = _ignore_rule(
            subject, changed.pointer, rules, situation.facts, situation.now, trail
        )
        annotated.append(changed.model_copy(update={"ownedBy": owner, "ignoredBy": ignored}))
    return tuple(annotated)


# --- context: audit events and change records --------------------------------------------


def _manual_events(subject: Subject, situation: Situation) -> list[AuditEvent]:
    if situation.audit is None or not subject.identifiers:
        return []
    lookback = situation.now - timedelta(days=_lookback_days(situation.settings))
    found = {
        event.eventId: event
        for identifier in subject.identifiers
        for event in situation.audit.get(identifier, ())
        if lookback <= event.eventTime <= situation.now
        and not arn_matches(situation.pipeline_roles, event)
    }
    return sorted(found.values(), key=lambda e: (e.eventTime, e.eventId))


def index_audit(events: Sequence[AuditEvent]) -> dict[str, tuple[AuditEvent, ...]]:
    """Successful mutating events by every identifier they name (built once per run)."""
    index: dict[str, list[AuditEvent]] = {}
    for event in events:
        if event.mutating:
            for identifier in event.resourceIds:
                index.setdefault(identifier, []).append(event)
    return {key: tuple(value) for key, value in index.items()}


def _lookback_days(settings: ContextSettings) -> int:
    source = settings.auditLogs
    return source.lookbackDays if source is not None else 14


def _covering(subject: Subject, situation: Situation, at: datetime | None) -> list[ChangeRecord]:
    if subject.stack is None:
        # An unmanaged resource belongs to no stack: a record naming its id covers it.
        return [
            record
            for record in situation.changes
            if _names_resource(record, subject) and _in_window(record, at)
        ]
    return [
        record
        for record in situation.changes
        if record.covers(
            stack=subject.stack, address=subject.address, resource_id=subject.resource_id, at=at
        )
    ]


def _names_resource(record: ChangeRecord, subject: Subject) -> bool:
    names = [n for n in (subject.resource_id, subject.address) if n]
    return any(resource_matches(pattern, name) for pattern in record.resources for name in names)


def _in_window(record: ChangeRecord, at: datetime | None) -> bool:
    if at is None:
        return True
    return record.window.start <= at and (record.window.end is None or at <= record.window.end)


def _last_apply(situation: Situation) -> ChangeRecord | None:
    stack = situation.facts.stack if situation.facts else None
    applies = [
        r
        for r in situation.changes
        if r.type is ChangeType.APPLY and r.stack == stack and r.window.start <= situation.now
    ]
    return max(applies, key=lambda r: (r.window.start, r.id)) if applies else None


def _failed_apply(
    subject: Subject, situation: Situation, events: Sequence[AuditEvent]
) -> ChangeRecord | None:
    """The stack's last apply, when it failed, covers the subject and still explains it.

    Only differences between the planes (not guardrail hits, not unmanaged
    resources); not when a person changed the resource after the apply ended (that
    is a manual change); not once a clean check came after it (reconciled since).
    """
    if subject.relationship in (Relationship.VIOLATES_GUARDRAIL, Relationship.UNMANAGED):
        return None
    record = _last_apply(situation)
    if record is None or record.outcome is None or record.outcome.value != "failed":
        return None
    if record not in _covering(subject, situation, None):
        return None
    ended = record.window.end or record.window.start
    if any(event.eventTime > ended for event in events):
        return None
    if situation.clean_since is not None and situation.clean_since > ended:
        return None
    return record


def _actor(event: AuditEvent) -> AuditActor:
    return AuditActor(
        eventId=event.eventId,
        eventTime=event.eventTime,
        eventName=event.eventName,
        actorArn=event.actorArn,
        roleArn=event.roleArn,
    )


# --- the decision ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Class:
    drift_class: DriftClass
    why: str
    deadline: datetime | None = None
    records: tuple[str, ...] = ()
    default_action: Action | None = None


def _classify(
    subject: Subject,
    situation: Situation,
    effective: Sequence[ChangedField],
    events: Sequence[AuditEvent],
    trail: _Trail,
) -> _Class:
    rel = subject.relationship
    settings = situation.settings
    if rel is Relationship.NOISE_ONLY:
        return _Class(DriftClass.PROVIDER_READ_NOISE, "the difference vanishes under normalization")
    if rel in RUNTIME_CHANGES and effective and all(f.ownedBy for f in effective):
        owners = sorted({str(f.ownedBy) for f in effective})
        return _Class(
            DriftClass.CONTROLLER_OWNED_DRIFT,
            f"every changed field is owned outside Terraform ({', '.join(owners)})",
        )
    if rel in RUNTIME_CHANGES:
        for event in reversed(events):
            if not arn_matches(settings.breakGlassRoles, event):
                continue
            for record in _covering(subject, situation, event.eventTime):
                if not record.breakGlass:
                    continue
                deadline = record.reconcileBy or event.eventTime + timedelta(
                    hours=settings.emergencyDeadlineHours
                )
                trail.add(
                    EvidenceKind.CHANGE,
                    record.id,
                    f"break-glass {record.type.value} record covers the resource at "
                    f"{event.eventTime.isoformat()}; reconcile by {deadline.isoformat()}",
                    record.window.start,
                )
                return _Class(
                    DriftClass.EMERGENCY_DRIFT,
                    f"break-glass change by {event.actorArn} under {record.id}",
                    deadline=deadline,
                    records=(record.id,),
                )
    secret_data = [c for c in subject.changed_data if c.secret]
    if rel is Relationship.DESIRED_NE_RECORDED and secret_data:
        for change in secret_data:
            trail.add(EvidenceKind.PLAN, change.address, f"secret rotated: {change.describe()}")
        return _Class(
            DriftClass.SECRET_DELIVERY_DRIFT,
            "a secret it reads was rotated outside Terraform ("
            + "; ".join(c.describe() for c in secret_data)
            + ")",
        )
    if (
        rel in RUNTIME_CHANGES - {Relationship.MISSING_IN_ACTUAL, Relationship.UNMANAGED}
        and subject.resource_type in _SECRET_TYPES
        and effective
        and all(_top(f.pointer) in SECRET_VERSION_FIELDS | SECRET_VALUE_FIELDS for f in effective)
        and any(_top(f.pointer) in SECRET_VERSION_FIELDS for f in effective)
    ):
        return _Class(
            DriftClass.SECRET_DELIVERY_DRIFT,
            "the secret's current version changed outside Terraform (judged on version "
            "ids and stages, never on values)",
        )
    if rel is Relationship.MISSING_IN_ACTUAL:
        return _Class(
            DriftClass.STATE_DRIFT,
            "recorded in state but gone from the provider: the state lies about the world",
        )
    if subject.refactor_counterpart:
        trail.add(
            EvidenceKind.PLAN,
            subject.refactor_counterpart,
            f"the plan destroys one and creates the other with the same identity as "
            f"{subject.address}",
        )
        return _Class(
            DriftClass.STATE_DRIFT,
            f"a refactor without a moved block ({subject.address} <-> "
            f"{subject.refactor_counterpart})",
            default_action=Action.MOVE,
        )
    if situation.state_regressed and rel is not Relationship.UNMANAGED:
        trail.add(EvidenceKind.HISTORY, "state", situation.state_regressed)
        return _Class(DriftClass.STATE_DRIFT, situation.state_regressed)
    plain_data = [c for c in subject.changed_data if not c.secret]
    if rel is Relationship.DESIRED_NE_RECORDED and plain_data:
        for change in plain_data:
            trail.add(EvidenceKind.PLAN, change.address, change.describe())
        return _Class(
            DriftClass.DEPENDENCY_DRIFT,
            "an upstream value it reads changed ("
            + ", ".join(c.address for c in plain_data)
            + "), not this stack's code",
        )
    failed = _failed_apply(subject, situation, events)
    if rel is Relationship.DESIRED_NE_RECORDED and failed is None:
        return _Class(DriftClass.PENDING_APPLY, "this stack's code changed and was not applied")
    if failed is not None:
        trail.add(
            EvidenceKind.CHANGE,
            failed.id,
            f"the last apply of {failed.stack} failed ({failed.window.start.isoformat()})",
            failed.window.start,
        )
        return _Class(
            DriftClass.FAILED_RECONCILIATION_DRIFT,
            f"left behind by the failed apply {failed.id}",
            records=(failed.id,),
        )
    if rel is Relationship.VIOLATES_GUARDRAIL:
        return _Class(
            DriftClass.POLICY_DRIFT,
            "in sync with its code but violates a guardrail now in effect, with no manual "
            "change: it predates the guardrail, or its code breaks it",
        )
    # The change's time when the audit trail knows it; otherwise any approving record
    # opened before now (an approved change does not expire with the audit window).
    at = events[-1].eventTime if events else None
    for record in _covering(subject, situation, at):
        if record.acceptsRuntime and record.window.start <= situation.now:
            approvers = ", ".join(record.approvers) or "nobody named"
            trail.add(
                EvidenceKind.CHANGE,
                record.id,
                f"approved change (approvers: {approvers}) accepts the runtime value as the "
                "new desired state",
                record.window.start,
            )
            return _Class(
                DriftClass.STALE_DESIRED_STATE,
                f"{record.id} accepted the runtime value; the code still says otherwise",
                records=(record.id,),
            )
    if rel is Relationship.UNMANAGED:
        return _Class(
            DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
            "live resource in no registered state and no change record covers it",
        )
    who = f" by {events[-1].actorArn}" if events else ""
    return _Class(
        DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
        f"changed outside Terraform{who} with no change record",
    )


def _default_action(
    drift_class: DriftClass, subject: Subject, domain: Domain, environment: str | None
) -> Action:
    if drift_class in _QUIET:
        return Action.IGNORE
    defaults = {
        DriftClass.EMERGENCY_DRIFT: Action.RECONCILE_AFTER_INCIDENT,
        DriftClass.SECRET_DELIVERY_DRIFT: Action.REFRESH,
        DriftClass.STATE_DRIFT: Action.INVESTIGATE,
        DriftClass.DEPENDENCY_DRIFT: Action.APPLY,
        DriftClass.PENDING_APPLY: Action.APPLY,
        DriftClass.FAILED_RECONCILIATION_DRIFT: Action.INVESTIGATE,
        DriftClass.POLICY_DRIFT: Action.UPDATE_CODE,
        DriftClass.STALE_DESIRED_STATE: Action.UPDATE_CODE,
    }
    if drift_class in defaults:
        return defaults[drift_class]
    rel = subject.relationship
    if rel in (Relationship.UNMANAGED, Relationship.RECORDED_NE_ACTUAL):
        return Action.INVESTIGATE
    if domain in NEVER_AUTO_HEAL and environment == "prod":
        return Action.INCIDENT_AND_REVERT
    return Action.REVERT


def _risk_for(decided: _Class, subject: Subject, domain: Domain, situation: Situation) -> Risk:
    if decided.drift_class in _QUIET:
        return Risk.INFO
    facts = situation.facts
    context = Context(facts.environment if facts else None, facts.risk_tier if facts else None)
    risk = base_risk(domain, context)
    if decided.drift_class in _NEVER_PAGES or (
        decided.drift_class is DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
        and subject.relationship is Relationship.RECORDED_NE_ACTUAL
    ):
        risk = shift_risk(risk, -1)
    if subject.guardrails and risk.rank < Risk.HIGH.rank:
        risk = Risk.HIGH
    if decided.deadline is not None and situation.now > decided.deadline:
        risk = shift_risk(risk, 1)
    return risk


def _alert(decided: _Class, subject: Subject, risk: Risk) -> bool:
    if decided.drift_class in _QUIET or decided.drift_class in _NEVER_PAGES:
        return False
    if decided.drift_class is DriftClass.POLICY_DRIFT:
        return risk.rank >= Risk.HIGH.rank
    if subject.relationship is Relationship.UNMANAGED:
        return risk.rank >= Risk.MEDIUM.rank
    return True


def _auto_heal(
    row_allows: bool,
    action: Action,
    subject: Subject,
    domain: Domain,
    effective: Sequence[ChangedField],
    situation: Situation,
    trail: _Trail,
) -> bool:
    facts = situation.facts
    if not row_allows or action is not Action.REVERT or facts is None or not facts.auto_heal:
        return False
    if domain in NEVER_AUTO_HEAL or not effective:
        return False
    for policy in situation.policies.auto_heal_policies:
        if policy.applies_to(
            resource_type=subject.resource_type,
            risk_tier=facts.risk_tier,
            environment=facts.environment,
        ) and all(policy.permits(policy_pointer(f.pointer)) for f in effective):
            trail.add(
                EvidenceKind.RULE,
                policy.id,
                f"permits a bounded revert of {', '.join(f.pointer for f in effective)} "
                f"(at most {policy.maxObjectsPerReconcile} objects per reconcile)",
            )
            return True
    return False


def judge(subject: Subject, situation: Situation) -> Verdict:
    """Classify one subject. Deterministic: same inputs, same verdict."""
    trail = _Trail()
    domain = domain_of(subject.resource_type)
    fields = annotate_fields(subject, situation, trail)
    effective = [f for f in fields if f.ignoredBy is None]
    suppressed = bool(fields) and not effective
    # With every field ignored, classify on all of them (to show what it would be).
    basis = effective or list(fields)
    events = _manual_events(subject, situation)
    for event in events:
        trail.add(
            EvidenceKind.AUDIT,
            event.eventId,
            f"{event.eventName} ({event.eventSource}) by {event.actorArn}",
            event.eventTime,
        )
    for guardrail_id in subject.guardrails:
        guardrail = guardrail_by_id(situation.policies, guardrail_id)
        trail.add(
            EvidenceKind.RULE,
            guardrail_id,
            f"the live resource violates it: {guardrail.description} "
            f"(in effect since {guardrail.effectiveDate})",
        )
    last_apply = _last_apply(situation)
    if last_apply is not None:
        outcome = last_apply.outcome.value if last_apply.outcome else "outcome not recorded"
        trail.add(
            EvidenceKind.CHANGE,
            last_apply.id,
            f"the stack's last recorded apply ({outcome})",
            last_apply.window.start,
        )
    decided = _classify(subject, situation, basis, events, trail)
    risk = _risk_for(decided, subject, domain, situation)
    environment = situation.facts.environment if situation.facts else None

    action = decided.default_action or _default_action(
        decided.drift_class, subject, domain, environment
    )
    row_allows = False
    table = situation.policies.decision_table
    row_reason: str | None = None
    if table is not None:
        hit = table.decide(
            drift_class=decided.drift_class, domain=domain, environment=environment, risk=risk
        )
        if hit is not None:
            index, row = hit
            action, row_allows, row_reason = row.recommendedAction, row.autoHealAllowed, row.reason
            trail.add(
                EvidenceKind.RULE,
                f"{table.id}#{index + 1}",
                f"decision row {index + 1}: {action.value}"
                + (", auto-heal allowed" if row_allows else "")
                + (f" ({row.reason})" if row.reason else ""),
            )
    if subject.relationship is Relationship.UNMANAGED and action in (
        Action.REVERT,
        Action.INCIDENT_AND_REVERT,
        Action.APPLY,
    ):
        # No code describes it: there is nothing to revert to. Someone decides between
        # IMPORT into its owner's stack and DELETE.
        trail.add(
            EvidenceKind.RULE,
            "unmanaged",
            f"{action.value} has no meaning for a resource no state records: INVESTIGATE "
            "(IMPORT it into its owner's stack, or DELETE it)",
        )
        action, row_allows = Action.INVESTIGATE, False
    heal = _auto_heal(row_allows, action, subject, domain, basis, situation, trail)
    alert = _alert(decided, subject, risk) and not suppressed
    if suppressed:
        action, heal = Action.IGNORE, False
    reason = decided.why
    if decided.deadline is not None and situation.now > decided.deadline:
        reason += f"; PAST its reconcile deadline {decided.deadline.isoformat()}"
    if suppressed:
        rule_ids = sorted({str(f.ignoredBy) for f in fields})
        reason = f"every changed field is under ignore rule {', '.join(rule_ids)}; {reason}"
    if row_reason:
        reason += f"; {action.value}: {row_reason}"
    else:
        reason += f"; {action.value}"
    return Verdict(
        drift_class=decided.drift_class,
        risk=risk,
        alert=alert,
        action=action,
        auto_heal_allowed=heal,
        reason=reason,
        fields=fields,
        suppressed=suppressed,
        deadline=decided.deadline,
        actors=tuple(_actor(e) for e in events),
        change_records=decided.records,
        evidence=tuple(trail.evidence),
    )


def guardrail_by_id(policies: PolicySet, guardrail_id: str) -> Guardrail:
    for guardrail in policies.guardrails:
        if guardrail.id == guardrail_id:
            return guardrail
    raise KeyError(guardrail_id)


def violated_guardrails(
    resource_type: str, attributes: Any, policies: PolicySet, now: datetime
) -> tuple[str, ...]:
    """Ids of the guardrails in effect today that ``attributes`` (the live value) violate."""
    return tuple(
        g.id
        for g in policies.guardrails
        if g.resourceType == resource_type and g.in_effect(now.date()) and g.violated_by(attributes)
    )


GUARDRAIL_VALUE_LIMIT = 400


def guardrail_field(guardrail: Guardrail, attributes: Any) -> ChangedField:
    """The field a guardrail finding shows: the rule's path and only the values that
    violate it (the matching list elements, not the resource), cut to a few hundred
    characters. The attributes are already redacted."""
    culprits = guardrail.rule.culprits(attributes)
    shown: Any = culprits[0] if len(culprits) == 1 else culprits
    text = json.dumps(shown, sort_keys=True, default=str)
    if len(text) > GUARDRAIL_VALUE_LIMIT:
        shown = text[: GUARDRAIL_VALUE_LIMIT - 1] + "…"
    return ChangedField(pointer=guardrail.rule.path, after=shown)
