"""Who owns a changed field, and which ignore rule hides it. Pure.

:func:`annotate_fields` gives every changed field of a subject two annotations:

1. ``ownedBy``, who owns the field. The resource type's FieldOwnership policy
   decides first (:meth:`~iacdrift.models.policy.FieldOwnership.owner_of`: the
   most specific path wins): a git-owned field is Terraform's
   (``None``, judged as drift); a controller-owned one is ``controller:<name>``;
   a runtime-owned one is ``runtime``. Without a policy rule, a field under the
   configuration's ``lifecycle.ignore_changes`` is ``ignore_changes`` (owned
   outside Terraform; an entry that cannot be read ignores nothing). Otherwise
   ``None``.
2. ``ignoredBy``, the id of the first ignore rule, in policy order, that matches
   the resource (type, address, stack, environment, tags), covers the field and is
   active on the day of "now". A matching rule that has expired is not applied;
   the trail says so.

Policies are written against ``/tags``: a ``/tags_all/...`` pointer (the
provider's merge of ``tags`` and default tags) is judged as ``/tags/...``
(:func:`policy_pointer`). Every annotation adds its reason to the trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from iacdrift.core.planes import ignore_path
from iacdrift.core.subject import Situation, StackFacts, Subject, Trail
from iacdrift.models.finding import ChangedField, EvidenceKind
from iacdrift.models.policy import FieldOwnership, IgnoreRule, OwnerKind
from iacdrift.primitives.pointer import pointer_segments


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
    pointer: str, ownership: FieldOwnership | None, ignore_changes: frozenset[str], trail: Trail
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
    trail: Trail,
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
    subject: Subject, situation: Situation, trail: Trail
) -> tuple[ChangedField, ...]:
    """``subject.fields`` with ``ownedBy`` and ``ignoredBy`` set (see module doc), in order."""
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
