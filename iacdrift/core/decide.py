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
PROVIDER_READ_NOISE            the difference vanishes under normalization, or every changed
                               element of an aggregate is a part another resource in this or
                               another registered state manages (:mod:`~iacdrift.core.aggregates`),
                               or a provider upgrade explains it: attributes the new schema
                               reads for the first time, with a no-op plan
                               (:mod:`~iacdrift.core.upgrade`); the reason names the upgrade
CONTROLLER_OWNED_DRIFT         every changed field is owned by a controller or the runtime
                               (FieldOwnership policy, or lifecycle.ignore_changes unless the
                               policy says Git owns it)
EMERGENCY_DRIFT                a break-glass identity changed it and a break-glass change
                               record covers the resource and the time
SECRET_DELIVERY_DRIFT          a secret's version changed outside Terraform (a rotation)
STATE_DRIFT                    missing in actual; a destroy+create of one identity with no
                               change in the cloud (a rename without ``moved``: action MOVE);
                               a state older than one already seen (a live resource
                               it lost: action IMPORT, whatever the decision rows say)
DEPENDENCY_DRIFT               desired!=recorded caused by a changed data source or remote state
PENDING_APPLY                  desired!=recorded caused by this stack's code
FAILED_RECONCILIATION_DRIFT    the stack's last apply is recorded as failed and covers it
POLICY_DRIFT                   an in-sync resource violates a guardrail in effect
STALE_DESIRED_STATE            an approved change accepted the runtime value; code not updated
UNAUTHORIZED_RUNTIME_DRIFT     any other manual change, or an unmanaged resource
=============================  ==============================================================

Alerts: quiet classes never alert; PENDING_APPLY, DEPENDENCY_DRIFT and
STALE_DESIRED_STATE never do either (their risk one step lower); SECRET_DELIVERY_DRIFT
alerts only when an audit event shows an identity that is not a registered controller
(``context.controllerRoles``) changing the secret's version (a person changed what
consumers read, outside the rotation process), and is quiet when controllers made every
such change or nobody is known to have; a rename without ``moved`` never alerts
(nothing changed in the cloud); POLICY_DRIFT alerts from HIGH risk, an unmanaged
resource from MEDIUM; everything else alerts. A secret is judged on version ids, stages
and fingerprints, never on its value.

The same inputs always give the same verdict. What the table reads is worked out
next door: who owns each field and which ignore rule hides it
(:mod:`~iacdrift.core.ownership`), which change records cover the resource and the
stack's last apply (:mod:`~iacdrift.core.attribution`), guardrails
(:mod:`~iacdrift.core.guardrails`), what is known of each resource type
(:mod:`~iacdrift.core.resource_types`), domains and base risk
(:mod:`~iacdrift.core.risk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from iacdrift.core.attribution import (
    audit_actor,
    covering_records,
    events_naming,
    failed_apply,
    last_apply,
    manual_events,
)
from iacdrift.core.cloudtrail import actor_matches
from iacdrift.core.guardrails import guardrail_by_id
from iacdrift.core.ownership import annotate_fields, policy_pointer
from iacdrift.core.resource_types import (
    SECRET_RESOURCE_TYPES,
    SECRET_VALUE_ATTRIBUTES,
    SECRET_VERSION_ATTRIBUTES,
    SECRET_VERSION_EVENTS,
)
from iacdrift.core.risk import NEVER_AUTO_HEAL, Context, base_risk, domain_of, shift_risk
from iacdrift.core.subject import Situation, Subject, Trail
from iacdrift.models.context import AuditEvent
from iacdrift.models.finding import (
    QUIET_CLASSES,
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
from iacdrift.primitives.pointer import pointer_segments

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
# Top-level fields a secret delivery may change: which version is current (judged)
# and the value itself (allowed to change along, never judged on its own).
_SECRET_FIELDS: frozenset[str] = frozenset(SECRET_VERSION_ATTRIBUTES) | SECRET_VALUE_ATTRIBUTES
_NEVER_PAGES = frozenset(
    {
        DriftClass.PENDING_APPLY,
        DriftClass.DEPENDENCY_DRIFT,
        DriftClass.STALE_DESIRED_STATE,
        DriftClass.SECRET_DELIVERY_DRIFT,
    }
)


@dataclass(frozen=True)
class Verdict:
    """What :func:`judge` decided for one subject, and the evidence that led there."""

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


def _top(pointer: str) -> str:
    segments = pointer_segments(pointer)
    return segments[0] if segments else ""


# --- the decision ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Class:
    drift_class: DriftClass
    why: str
    deadline: datetime | None = None
    records: tuple[str, ...] = ()
    default_action: Action | None = None
    # Overrides the class's alert (True: pages though the class never does; False:
    # never pages) and, when quiet, lowers the risk as for classes that never page.
    pages: bool | None = None
    # Audit events that explain it beyond the subject's own (who changed a secret it reads).
    actors: tuple[AuditEvent, ...] = ()
    # default_action is a fact, not a preference: no decision row replaces it; the
    # rule id and why go into the trail when a row said otherwise.
    firm_action: bool = False
    firm_rule: str = ""
    firm_why: str = ""


def _secret_delivery(why: str, writers: Sequence[AuditEvent], situation: Situation) -> _Class:
    """A secret's version changed: who did it decides whether it alerts (see module doc)."""
    people = [e for e in writers if not actor_matches(e, situation.settings.controllerRoles)]
    if people:
        who = ", ".join(sorted({e.actorArn for e in people}))
        return _Class(
            DriftClass.SECRET_DELIVERY_DRIFT,
            f"{why}, by {who}: not a registered controller (context.controllerRoles), so a "
            "person changed what consumers read outside the rotation process",
            pages=True,
            actors=tuple(writers),
        )
    if writers:
        who = ", ".join(sorted({e.actorArn for e in writers}))
        return _Class(
            DriftClass.SECRET_DELIVERY_DRIFT,
            f"{why}, by the registered controller {who}",
            actors=tuple(writers),
        )
    unknown = "no audit logs are read" if situation.audit is None else "no audit event names it"
    return _Class(DriftClass.SECRET_DELIVERY_DRIFT, f"{why}; who changed it is unknown ({unknown})")


def _classify(
    subject: Subject,
    situation: Situation,
    effective: Sequence[ChangedField],
    events: Sequence[AuditEvent],
    trail: Trail,
) -> _Class:
    rel = subject.relationship
    settings = situation.settings
    if rel is Relationship.NOISE_ONLY:
        if subject.upgrade:
            why = subject.upgrade
            if subject.explained:
                why += "; parts of aggregates other resources manage: " + "; ".join(
                    f"{e.pointer} by {', '.join(e.addresses)}" for e in subject.explained
                )
            return _Class(DriftClass.PROVIDER_READ_NOISE, why)
        if subject.explained:
            parts = "; ".join(f"{e.pointer} by {', '.join(e.addresses)}" for e in subject.explained)
            return _Class(
                DriftClass.PROVIDER_READ_NOISE,
                "every changed element of an aggregate is a part another resource manages "
                f"({parts}): drift of a part is that resource's own finding",
            )
        return _Class(DriftClass.PROVIDER_READ_NOISE, "the difference vanishes under normalization")
    if rel in RUNTIME_CHANGES and effective and all(f.ownedBy for f in effective):
        owners = sorted({str(f.ownedBy) for f in effective})
        return _Class(
            DriftClass.CONTROLLER_OWNED_DRIFT,
            f"every changed field is owned outside Terraform ({', '.join(owners)})",
        )
    if rel in RUNTIME_CHANGES:
        for event in reversed(events):
            if not actor_matches(event, settings.breakGlassRoles):
                continue
            for record in covering_records(subject, situation, event.eventTime):
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
        identifiers = sorted({i for change in secret_data for i in change.identifiers})
        writers = [
            e for e in events_naming(identifiers, situation) if e.eventName in SECRET_VERSION_EVENTS
        ]
        for event in writers:
            trail.add(
                EvidenceKind.AUDIT,
                event.eventId,
                f"{event.eventName} ({event.eventSource}) by {event.actorArn}",
                event.eventTime,
            )
        return _secret_delivery(
            "a secret it reads was rotated outside Terraform ("
            + "; ".join(c.describe() for c in secret_data)
            + ")",
            writers,
            situation,
        )
    if (
        rel in RUNTIME_CHANGES - {Relationship.MISSING_IN_ACTUAL, Relationship.UNMANAGED}
        and subject.resource_type in SECRET_RESOURCE_TYPES
        and effective
        and all(_top(f.pointer) in _SECRET_FIELDS for f in effective)
        and any(_top(f.pointer) in SECRET_VERSION_ATTRIBUTES for f in effective)
    ):
        return _secret_delivery(
            "the secret's current version changed outside Terraform (judged on version "
            "ids and stages, never on values)",
            [e for e in events if e.eventName in SECRET_VERSION_EVENTS],
            situation,
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
        if rel is Relationship.DESIRED_NE_RECORDED:
            # Only the address changed: nothing to page about, but the plan as it stands
            # would replace a live object (its data, its ARN's consumers) with a new one.
            old, new = (
                (subject.address, subject.refactor_counterpart)
                if "delete" in subject.planned_actions
                else (subject.refactor_counterpart, subject.address)
            )
            return _Class(
                DriftClass.STATE_DRIFT,
                f"a rename without a moved block ({old} -> {new}): nothing changed in the "
                "cloud, but applying the plan would destroy and recreate the resource "
                f"(destroy {old}, create {new}); add moved {{ from = {old}, to = {new} }}",
                default_action=Action.MOVE,
                pages=False,
                firm_action=True,
                firm_rule="rename",
                firm_why="the plan destroys and creates one identity: a moved block keeps the "
                "live object",
            )
    if situation.state_regressed and rel is not Relationship.UNMANAGED:
        trail.add(EvidenceKind.HISTORY, "state", situation.state_regressed)
        if subject.forgotten is not None:
            # It exists and an earlier state recorded it: applying would create it again.
            trail.add(EvidenceKind.HISTORY, subject.address, subject.forgotten)
            return _Class(
                DriftClass.STATE_DRIFT,
                f"{subject.address} was {subject.forgotten} ({situation.state_regressed})",
                default_action=Action.IMPORT,
                firm_action=True,
                firm_rule="state-regression",
                firm_why="the resource exists and an earlier version of the state recorded it",
            )
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
    failed = failed_apply(subject, situation, events)
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
    for record in covering_records(subject, situation, at):
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
    if drift_class in QUIET_CLASSES:
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
    if decided.drift_class in QUIET_CLASSES:
        return Risk.INFO
    facts = situation.facts
    context = Context(facts.environment if facts else None, facts.risk_tier if facts else None)
    risk = base_risk(domain, context)
    quiet = decided.pages is False or (
        decided.drift_class in _NEVER_PAGES and decided.pages is not True
    )
    if quiet or (
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
    if decided.drift_class in QUIET_CLASSES:
        return False
    if decided.pages is not None:
        return decided.pages
    if decided.drift_class in _NEVER_PAGES:
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
    trail: Trail,
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


def _actors(*groups: Sequence[AuditEvent]) -> tuple[AuditActor, ...]:
    """Every event once, sorted by (time, event id)."""
    found = {event.eventId: event for group in groups for event in group}
    ordered = sorted(found.values(), key=lambda e: (e.eventTime, e.eventId))
    return tuple(audit_actor(e) for e in ordered)


def judge(subject: Subject, situation: Situation) -> Verdict:
    """Classify one subject. Deterministic: same inputs, same verdict."""
    trail = Trail()
    domain = domain_of(subject.resource_type)
    fields = annotate_fields(subject, situation, trail)
    effective = [f for f in fields if f.ignoredBy is None]
    suppressed = bool(fields) and not effective
    # With every field ignored, classify on all of them (to show what it would be).
    basis = effective or list(fields)
    events = manual_events(subject, situation)
    for event in events:
        trail.add(
            EvidenceKind.AUDIT,
            event.eventId,
            f"{event.eventName} ({event.eventSource}) by {event.actorArn}",
            event.eventTime,
        )
    for explanation in subject.explained:
        for address in explanation.addresses:
            trail.add(
                EvidenceKind.PLAN,
                address,
                f"manages the part of the aggregate at {explanation.pointer} that the refresh "
                "read into it: noise here, judged on that resource",
            )
    if subject.upgrade:
        trail.add(
            EvidenceKind.PLAN,
            subject.address,
            subject.upgrade
            + (f" (noise: {', '.join(subject.upgrade_fields)})" if subject.upgrade_fields else ""),
        )
    for guardrail_id in subject.guardrails:
        guardrail = guardrail_by_id(situation.policies, guardrail_id)
        trail.add(
            EvidenceKind.RULE,
            guardrail_id,
            f"the live resource violates it: {guardrail.description} "
            f"(in effect since {guardrail.effectiveDate})",
        )
    latest_apply = last_apply(situation)
    if latest_apply is not None:
        outcome = latest_apply.outcome.value if latest_apply.outcome else "outcome not recorded"
        trail.add(
            EvidenceKind.CHANGE,
            latest_apply.id,
            f"the stack's last recorded apply ({outcome})",
            latest_apply.window.start,
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
    if decided.firm_action and decided.default_action and action is not decided.default_action:
        trail.add(
            EvidenceKind.RULE,
            decided.firm_rule,
            f"{decided.default_action.value}, not {action.value}: {decided.firm_why}",
        )
        action, row_allows, row_reason = decided.default_action, False, None
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
    if subject.explained and decided.drift_class is not DriftClass.PROVIDER_READ_NOISE:
        reason += "; noise, managed by other resources: " + "; ".join(
            f"{e.pointer} by {', '.join(e.addresses)}" for e in subject.explained
        )
    if subject.upgrade and decided.drift_class is not DriftClass.PROVIDER_READ_NOISE:
        reason += f"; noise, {subject.upgrade}"
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
        actors=_actors(events, decided.actors),
        change_records=decided.records,
        evidence=tuple(trail.evidence),
    )
