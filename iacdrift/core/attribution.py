"""Who changed a resource, and under which change record. Pure.

* :func:`index_audit`: successful mutating audit events by every identifier they
  name, built once per run.
* :func:`manual_events`: the indexed events naming any identifier of a subject, in
  the audit lookback window (``auditLogs.lookbackDays``, else 14 days) up to "now",
  except those of the stack's pipeline roles (they are applies, not manual
  changes); one per event id, sorted by (time, event id). None when the situation
  has no audit index or the subject no identifier.
* :func:`events_naming`: the same for any identifiers (a secret a data source reads).
* :func:`covering_records`: the change records covering a subject at a time
  (``None``: at any time). A stack's resource is covered as
  :meth:`~iacdrift.models.context.ChangeRecord.covers` says; an unmanaged resource
  belongs to no stack, so a record covers it when one of its resource patterns
  names the resource's id or address and its window holds the time.
* :func:`last_apply`: the stack's latest APPLY record opened by "now" (ties broken
  by id).
* :func:`failed_apply`: that apply, when it failed, covers the subject and still
  explains it (see its doc).
* :func:`audit_actor`: an audit event as a finding names its actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from iacdrift.core.cloudtrail import actor_matches
from iacdrift.core.subject import Situation, Subject
from iacdrift.models.context import (
    AuditEvent,
    ChangeOutcome,
    ChangeRecord,
    ChangeType,
    ContextSettings,
    resource_matches,
)
from iacdrift.models.finding import AuditActor, Relationship


def index_audit(events: Sequence[AuditEvent]) -> dict[str, tuple[AuditEvent, ...]]:
    """Successful mutating events by every identifier they name (built once per run)."""
    index: dict[str, list[AuditEvent]] = {}
    for event in events:
        if event.mutating:
            for identifier in event.resourceIds:
                index.setdefault(identifier, []).append(event)
    return {key: tuple(value) for key, value in index.items()}


def manual_events(subject: Subject, situation: Situation) -> list[AuditEvent]:
    """The manual changes of ``subject`` (see module doc), sorted by (time, event id)."""
    return events_naming(subject.identifiers, situation)


def events_naming(identifiers: Sequence[str], situation: Situation) -> list[AuditEvent]:
    """The manual changes naming any of ``identifiers`` (see module doc), sorted by
    (time, event id)."""
    if situation.audit is None or not identifiers:
        return []
    lookback = situation.now - timedelta(days=_lookback_days(situation.settings))
    found = {
        event.eventId: event
        for identifier in identifiers
        for event in situation.audit.get(identifier, ())
        if lookback <= event.eventTime <= situation.now
        and not actor_matches(event, situation.pipeline_roles)
    }
    return sorted(found.values(), key=lambda e: (e.eventTime, e.eventId))


def _lookback_days(settings: ContextSettings) -> int:
    source = settings.auditLogs
    return source.lookbackDays if source is not None else 14


def covering_records(
    subject: Subject, situation: Situation, at: datetime | None
) -> list[ChangeRecord]:
    """The change records covering ``subject`` at ``at`` (``None``: at any time), in order."""
    if subject.stack is None:
        # An unmanaged resource belongs to no stack: a record naming its id covers it.
        return [
            record
            for record in situation.changes
            if _names_resource(record, subject) and (at is None or record.window.contains(at))
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


def last_apply(situation: Situation) -> ChangeRecord | None:
    """The stack's latest APPLY record opened by now (ties: the greatest id)."""
    stack = situation.facts.stack if situation.facts else None
    applies = [
        r
        for r in situation.changes
        if r.type is ChangeType.APPLY and r.stack == stack and r.window.start <= situation.now
    ]
    return max(applies, key=lambda r: (r.window.start, r.id)) if applies else None


def failed_apply(
    subject: Subject, situation: Situation, events: Sequence[AuditEvent]
) -> ChangeRecord | None:
    """The stack's last apply, when it failed, covers the subject and still explains it.

    Only differences between the planes (not guardrail hits, not unmanaged
    resources); not when a person changed the resource after the apply ended (that
    is a manual change); not once a clean check came after it (reconciled since).
    """
    if subject.relationship in (Relationship.VIOLATES_GUARDRAIL, Relationship.UNMANAGED):
        return None
    record = last_apply(situation)
    if record is None or record.outcome is not ChangeOutcome.FAILED:
        return None
    if record not in covering_records(subject, situation, None):
        return None
    ended = record.window.end or record.window.start
    if any(event.eventTime > ended for event in events):
        return None
    if situation.clean_since is not None and situation.clean_since > ended:
        return None
    return record


def audit_actor(event: AuditEvent) -> AuditActor:
    """How a finding names who made a change."""
    return AuditActor(
        eventId=event.eventId,
        eventTime=event.eventTime,
        eventName=event.eventName,
        actorArn=event.actorArn,
        roleArn=event.roleArn,
    )
