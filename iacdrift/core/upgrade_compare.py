"""Provider upgrade comparison: one stack's plans under two provider versions. Pure.

`iacdrift provider-diff` plans a stack twice against the same copy of its state:
under the provider version it uses now (*current*, e.g. hashicorp/aws 2.70.0) and
under a *target* version (e.g. 3.39.0). Both plans read the same real objects and
the same recorded state, so whatever differs between them is the upgrade's doing,
except drift that both report.

For each version *v* and each managed resource instance address of the provider
(``provider_name`` ends with ``/<provider>``; data sources, deposed objects and
other providers' resources are skipped), the plan gives:

* ``C_v``, its ``resource_changes`` entry: ``before`` = what *v* read (the
  refreshed object), ``after`` = what applying would make (unknown-until-apply
  positions read ``"(known after apply)"``);
* ``D_v``, its ``resource_drift`` entry: ``before`` = recorded (the state as *v*'s
  schema upgrades it), ``after`` = what *v* read. No entry: nothing drifted, the
  recorded object is ``C_v.before``;
* *v*'s attributes: the top-level names of those objects. Terraform's plan JSON
  lists every attribute of the schema, null included, so a name that is absent
  is an attribute *v*'s schema does not have.

Every value is redacted with its entry's own mask (:func:`iacdrift.core.redact.redact`)
before anything is compared, and normalized (:func:`iacdrift.core.normalize.normalize`)
with *v*'s own provider defaults (``normalize.provider_defaults``), so "the same after
normalization" respects a default that changed between the versions.

Contract of :func:`compare_stack`: one :class:`StackComparison`. Either plan errored,
is incomplete (``complete: false``), has no ``resource_changes`` (a refresh-only
plan), or neither plan has a managed resource of the provider: ERROR with the
reason, nothing compared. Otherwise, per address, the rules in this order:

1. **Drift under both** (d). The real (after normalization) changes of ``D_current``
   that ``D_target`` reports too (same pointer, or within the same set attribute):
   a :class:`DriftUnderBoth` with ``D_current``'s pointers (``""`` when both say
   the object is gone). They are an out-of-band change, not the upgrade's: rule 4
   skips them; rule 3 reports them only when the two plans would set them to
   different values (then the upgrade changes what the revert does).
2. **Schema: attributes** (b). An attribute that only the target has: ``attribute
   added in <to>`` (``, read for the first time`` when the recorded state lacks it
   too); one that only the current has: ``attribute removed in <to>``. One
   difference at ``/<attribute>``; the value is the object's, the other side null.
   What either plan does under such an attribute is covered by this difference
   (e.g. the target putting ``tags_all`` back while the current has no ``tags_all``).
3. **Behaviour** (a). The resource is in one plan only, or the plans' actions differ
   (``no-op``, ``update``, ``create``, ``delete``, a replace in either order, an
   import): one difference at ``""`` when an action creates or deletes, or when no
   field below explains it. With an object before and after under both, the
   planned changes (``C`` before -> after, real ones, under attributes both
   versions have) are compared per field, a set attribute as a whole: one
   difference per pointer that one plan changes and the other leaves as it is or
   sets to another value. ``current``/``target`` are the value each plan ends with.
   An action that only changes attributes one version lacks is still a behaviour
   difference: the target calls the provider where the current does not.
4. **Schema: meaning** (b) and **representation** (c), over the read objects, then
   over the recorded objects (the state upgrade), attributes both versions have,
   and fields unrelated to rules 1 and 3 and to what was already reported here:
   a field that differs after normalization is a schema difference (a default or
   the read changed while the plans agree); one whose raw values differ and are
   equal after normalization is a representation difference. ``current``/``target``
   are the raw values each version read (normalized ones inside a set or a JSON
   document).

``outcome`` is BEHAVIOUR when rule 3 found anything, else SAFE. Differences are
sorted by (address, pointer, kind, detail), drift by address, pointers by text.

Contract of :func:`suggest_rules`: one :class:`SuggestedRule` per (resource type, set
of top-level paths) across the comparisons' schema and representation differences,
where a stack's set is the union over its resources of that type. A path that covers
a critical field (``core.resource_types.CRITICAL_FIELDS``) is withheld, never
suggested (a rule would hide real changes there); a group left with no path is not
suggested. Scoped with ``stack`` when one stack showed it; unscoped otherwise, with a
note that it must be scoped before use. Sorted by (resource type, paths).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from iacdrift.core.diff import Change, anchor, compare, pointer, related, value_at
from iacdrift.core.normalize import (
    Defaults,
    Part,
    default_for,
    normalize,
    parse_version,
    provider_defaults,
    set_root,
)
from iacdrift.core.planes import EXISTS, apply_unknown
from iacdrift.core.policy_lint import critical_overlaps
from iacdrift.core.redact import contains_marker, redact
from iacdrift.core.terraform_json import PlanView, ResourceEntry, StateView
from iacdrift.models.provider_diff import (
    AttributeDifference,
    ComparisonOutcome,
    DifferenceKind,
    DriftUnderBoth,
    KindCounts,
    ProviderDiffReport,
    ProviderDiffSummary,
    StackComparison,
    SuggestedRule,
)
from iacdrift.primitives.canonical import canonical_json
from iacdrift.primitives.pointer import pointer_segments

# How long a suggested ignore rule lasts: long enough for the upgrade to be rolled
# out and applied everywhere, short enough to be revisited.
SUGGESTION_DAYS = 90
OWNER_PLACEHOLDER = "REVIEW: owning team"

_QUIET_ACTIONS = frozenset({("no-op",), ("read",)})
_WHOLE_ACTIONS = frozenset({"create", "delete"})


# --- one version's view of one resource ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Side:
    """One version's entries for one address, redacted."""

    version: str
    defaults: Defaults
    present: bool  # the address has a resource_changes entry under this version
    actions: tuple[str, ...]
    importing: bool
    recorded: Any
    read: Any
    planned: Any
    planned_normal: Any
    attributes: frozenset[str]
    # C's real changes; None when C creates, deletes or is absent (whole resource).
    plan_changes: tuple[Change, ...] | None
    # D's real changes; the whole resource when D says the object is gone.
    drift_changes: tuple[Change, ...]


def _keys(*values: Any) -> frozenset[str]:
    return frozenset(key for value in values if isinstance(value, dict) for key in value)


def _side(
    type_name: str,
    version: str,
    defaults: Defaults,
    change: ResourceEntry | None,
    drift: ResourceEntry | None,
    salt: bytes,
) -> _Side:
    def hidden(value: Any, mask: Any) -> Any:
        return redact(value, mask, salt=salt, type_name=type_name)

    read = planned = None
    plan_changes: tuple[Change, ...] | None = None
    unknown_mask = None
    if change is not None:
        read = hidden(change.before, change.before_sensitive)
        planned = apply_unknown(hidden(change.after, change.after_sensitive), change.after_unknown)
        unknown_mask = change.after_unknown
        if read is not None and planned is not None:
            if change.actions in _QUIET_ACTIONS:
                plan_changes = ()
            else:
                plan_changes = tuple(compare(type_name, read, planned, defaults=defaults).real)
    recorded = read
    drift_changes: tuple[Change, ...] = ()
    if drift is not None:
        recorded = hidden(drift.before, drift.before_sensitive)
        drift_after = hidden(drift.after, drift.after_sensitive)
        if change is None:
            read = drift_after
        if drift.actions == ("delete",):
            drift_changes = (Change((), EXISTS, None),)
        else:
            drift_changes = tuple(compare(type_name, recorded, drift_after, defaults=defaults).real)
    return _Side(
        version=version,
        defaults=defaults,
        present=change is not None,
        actions=change.actions if change is not None else (),
        importing=change.importing if change is not None else False,
        recorded=recorded,
        read=read,
        planned=planned,
        planned_normal=normalize(type_name, planned, defaults),
        attributes=_keys(read, planned, unknown_mask, recorded),
        plan_changes=plan_changes,
        drift_changes=drift_changes,
    )


def _object(side: _Side) -> Any:
    """What the version read, else what it plans (a create)."""
    return side.read if isinstance(side.read, dict) else side.planned


def _planned_value(type_name: str, side: _Side, parts: tuple[Part, ...], element: Any) -> Any:
    """What ``side``'s plan ends with at ``parts`` (normalized, defaults shown).

    For a set element (``element`` is the element the other plan adds or removes):
    the element when the planned set holds it, else null.
    """
    root = set_root(type_name, parts)
    if root is not None and len(parts) == len(root) + 1:
        members = value_at(side.planned_normal, root)
        if isinstance(members, list):
            key = canonical_json(element)
            for member in members:
                if canonical_json(member) == key:
                    return member
        return None
    value = value_at(side.planned_normal, parts)
    return default_for(type_name, parts, side.defaults) if value is None else value


def _inside_document(raw: Any, parts: tuple[Part, ...]) -> bool:
    """``parts`` go on inside a string: a JSON document the comparison parsed."""
    for part in parts:
        if isinstance(raw, str):
            return True
        raw = value_at(raw, (part,))
    return False


def _read_value(type_name: str, raw: Any, change: Change, which: int) -> Any:
    """The raw value a version read at ``change``'s field; inside a set (positions are
    the normalized sorted ones) or a JSON document, the change's own value."""
    if set_root(type_name, change.parts) is not None or _inside_document(raw, change.parts):
        return change.before if which == 0 else change.after
    return value_at(raw, change.parts)


# --- one resource ---------------------------------------------------------------------


@dataclass(slots=True)
class _Resource:
    """The comparison of one address, filled rule by rule."""

    address: str
    type_name: str
    current: _Side
    target: _Side
    differences: list[AttributeDifference]
    # Pointers that later rules must not report again (rules 1 and 3, and rule 4's).
    taken: list[tuple[Part, ...]]

    def add(
        self, parts: tuple[Part, ...], kind: DifferenceKind, detail: str, current: Any, target: Any
    ) -> None:
        self.differences.append(
            AttributeDifference(
                address=self.address,
                resourceType=self.type_name,
                pointer=pointer(parts),
                kind=kind,
                detail=detail,
                current=current,
                target=target,
                sensitive=contains_marker(current) or contains_marker(target),
                currentActions=list(self.current.actions),
                targetActions=list(self.target.actions),
            )
        )

    def is_taken(self, parts: tuple[Part, ...]) -> bool:
        return any(related(self.type_name, parts, other) for other in self.taken)


def _actions_text(side: _Side) -> str:
    if not side.present:
        return "nothing (the resource is not in its plan)"
    if side.actions == ("delete", "create"):
        text = "replace (delete, then create)"
    elif side.actions == ("create", "delete"):
        text = "replace (create, then delete)"
    else:
        text = ", ".join(side.actions) or "nothing"
    return f"{text} with import" if side.importing else text


def _drift_under_both(resource: _Resource) -> DriftUnderBoth | None:
    """Rule 1."""
    type_name = resource.type_name
    theirs = resource.target.drift_changes
    shared = [
        change.parts
        for change in resource.current.drift_changes
        if any(related(type_name, change.parts, other.parts) for other in theirs)
    ]
    if not shared:
        return None
    resource.taken.extend(shared)
    return DriftUnderBoth(
        address=resource.address,
        resourceType=type_name,
        pointers=sorted({pointer(parts) for parts in shared}),
    )


def _schema_attributes(
    resource: _Resource, recorded_names: frozenset[str] | None
) -> frozenset[str]:
    """Rule 2; returns the attributes both versions have."""
    current, target = resource.current, resource.target
    if not current.attributes or not target.attributes:
        return current.attributes & target.attributes
    for name in sorted(target.attributes - current.attributes):
        detail = f"attribute added in {target.version}"
        if recorded_names is not None and name not in recorded_names:
            detail += ", read for the first time"
        value = value_at(_object(target), (name,))
        resource.add((name,), DifferenceKind.SCHEMA, detail, None, value)
    for name in sorted(current.attributes - target.attributes):
        detail = f"attribute removed in {target.version}; its value leaves the state"
        value = value_at(_object(current), (name,))
        resource.add((name,), DifferenceKind.SCHEMA, detail, value, None)
    return current.attributes & target.attributes


def _by_anchor(type_name: str, changes: Iterable[Change]) -> dict[str, list[Change]]:
    grouped: dict[str, list[Change]] = {}
    for change in changes:
        grouped.setdefault(pointer(anchor(type_name, change.parts)), []).append(change)
    return grouped


def _change_key(change: Change) -> tuple[str, str]:
    return pointer(change.parts), canonical_json(change.after)


def _behaviour(resource: _Resource, shared: frozenset[str]) -> None:
    """Rule 3."""
    type_name = resource.type_name
    current, target = resource.current, resource.target
    old, new = current.version, target.version
    found = len(resource.differences)
    if current.plan_changes is not None and target.plan_changes is not None:

        def in_shared(change: Change) -> bool:
            return bool(change.parts) and str(change.parts[0]) in shared

        ours = _by_anchor(type_name, filter(in_shared, current.plan_changes))
        theirs = _by_anchor(type_name, filter(in_shared, target.plan_changes))
        for key in sorted(ours.keys() | theirs.keys()):
            mine, yours = ours.get(key, []), theirs.get(key, [])
            my_keys = {_change_key(c) for c in mine}
            your_keys = {_change_key(c) for c in yours}
            if my_keys == your_keys:
                continue
            my_by_pointer = {pointer(c.parts): c for c in mine}
            reported: set[str] = set()
            for change in yours:
                if _change_key(change) in my_keys:
                    continue
                at = pointer(change.parts)
                reported.add(at)
                mirror = my_by_pointer.get(at)
                if mirror is not None:
                    detail = f"{new} plans another value than {old}"
                    value = mirror.after
                else:
                    detail = f"{new} plans to change it; {old} leaves it as it is"
                    element = change.after if change.after is not None else change.before
                    value = _planned_value(type_name, current, change.parts, element)
                resource.add(change.parts, DifferenceKind.BEHAVIOUR, detail, value, change.after)
                resource.taken.append(change.parts)
            for change in mine:
                at = pointer(change.parts)
                if _change_key(change) in your_keys or at in reported:
                    continue
                detail = f"{old} plans to change it; {new} leaves it as it is"
                element = change.after if change.after is not None else change.before
                value = _planned_value(type_name, target, change.parts, element)
                resource.add(change.parts, DifferenceKind.BEHAVIOUR, detail, change.after, value)
                resource.taken.append(change.parts)
    same_actions = (current.present, current.actions, current.importing) == (
        target.present,
        target.actions,
        target.importing,
    )
    whole = (
        not current.present
        or not target.present
        or bool(_WHOLE_ACTIONS & {*current.actions, *target.actions})
    )
    if not same_actions and (whole or len(resource.differences) == found):
        detail = f"{new} plans {_actions_text(target)} where {old} plans {_actions_text(current)}"
        resource.add((), DifferenceKind.BEHAVIOUR, detail, None, None)


def _read_differences(resource: _Resource, shared: frozenset[str]) -> None:
    """Rule 4: the read objects, then the recorded ones."""
    type_name = resource.type_name
    current, target = resource.current, resource.target
    old, new = current.version, target.version
    passes = (
        (
            current.read,
            target.read,
            f"{new} reads another value than {old} (a default or the read changed); "
            "the plans agree on it",
            f"{old} and {new} write it differently; the same after normalization",
        ),
        (
            current.recorded,
            target.recorded,
            f"the state as {new} upgrades it records another value than under {old}",
            f"the state as {new} upgrades it writes it differently; the same after normalization",
        ),
    )
    for ours, theirs, schema_detail, representation_detail in passes:
        if not isinstance(ours, dict) or not isinstance(theirs, dict):
            continue
        mine = {key: value for key, value in ours.items() if key in shared}
        yours = {key: value for key, value in theirs.items() if key in shared}
        normalized = (
            normalize(type_name, mine, current.defaults),
            normalize(type_name, yours, target.defaults),
        )
        comparison = compare(type_name, mine, yours, normalized=normalized)
        found: list[tuple[Part, ...]] = []
        for change in comparison.real:
            if resource.is_taken(change.parts):
                continue
            resource.add(
                change.parts,
                DifferenceKind.SCHEMA,
                schema_detail,
                _read_value(type_name, mine, change, 0),
                _read_value(type_name, yours, change, 1),
            )
            found.append(change.parts)
        for change in comparison.noise:
            if resource.is_taken(change.parts):
                continue
            resource.add(
                change.parts,
                DifferenceKind.REPRESENTATION,
                representation_detail,
                change.before,
                change.after,
            )
            found.append(change.parts)
        resource.taken.extend(found)


# --- one stack ------------------------------------------------------------------------


def provider_matches(provider_name: str, provider: str) -> bool:
    """``registry.terraform.io/hashicorp/aws`` is ``hashicorp/aws`` (or itself)."""
    wanted = provider.strip().strip("/").lower()
    name = provider_name.lower()
    return bool(wanted) and (name == wanted or name.endswith("/" + wanted))


def _entries(
    plan: PlanView, provider: str
) -> dict[str, tuple[ResourceEntry | None, ResourceEntry | None]]:
    """Address -> (resource_changes entry, resource_drift entry) of the provider's
    managed, non-deposed instances."""
    found: dict[str, tuple[ResourceEntry | None, ResourceEntry | None]] = {}

    def wanted(entry: ResourceEntry) -> bool:
        return (
            entry.mode == "managed"
            and entry.deposed is None
            and provider_matches(entry.provider_name, provider)
        )

    for entry in plan.resource_changes:
        if wanted(entry):
            found[entry.address] = (entry, None)
    for entry in plan.resource_drift:
        if wanted(entry):
            found[entry.address] = (found.get(entry.address, (None, None))[0], entry)
    return found


def _plan_problem(plan: PlanView, version: str) -> str | None:
    if plan.errored:
        return f"the plan under {version} errored; see its diagnostics"
    if plan.complete is False:
        return f"the plan under {version} is incomplete (deferred changes); nothing compared"
    if not plan.has_resource_changes:
        return (
            f"the plan under {version} has no resource_changes (a refresh-only plan?); "
            "a normal plan is needed"
        )
    return None


def compare_stack(
    stack: str,
    provider: str,
    from_version: str,
    to_version: str,
    current: PlanView,
    target: PlanView,
    recorded: StateView | None,
    *,
    salt: bytes,
) -> StackComparison:
    """One stack's plans under ``from_version`` (``current``) and ``to_version``
    (``target``), compared (see the module doc). ``recorded`` is the state both plans
    ran against (its attribute names tell an attribute read for the first time; its
    lineage and serial are recorded); ``salt`` keys the fingerprints of sensitive
    values."""
    if not salt:
        raise ValueError("compare_stack needs a non-empty salt for sensitive fingerprints")

    def comparison(
        outcome: ComparisonOutcome,
        *,
        reason: str | None = None,
        resources: int = 0,
        differences: Sequence[AttributeDifference] = (),
        drift: Sequence[DriftUnderBoth] = (),
    ) -> StackComparison:
        kinds = [difference.kind for difference in differences]
        return StackComparison(
            stack=stack,
            provider=provider,
            fromVersion=from_version,
            toVersion=to_version,
            outcome=outcome,
            reason=reason,
            resources=resources,
            counts=KindCounts(
                representationDifferences=kinds.count(DifferenceKind.REPRESENTATION),
                schemaDifferences=kinds.count(DifferenceKind.SCHEMA),
                behaviourDifferences=kinds.count(DifferenceKind.BEHAVIOUR),
                driftedFields=sum(len(d.pointers) for d in drift),
            ),
            differences=list(differences),
            drift=list(drift),
            stateLineage=recorded.lineage if recorded is not None else None,
            stateSerial=recorded.serial if recorded is not None else None,
        )

    problem = _plan_problem(current, from_version) or _plan_problem(target, to_version)
    if problem is not None:
        return comparison(ComparisonOutcome.ERROR, reason=problem)
    ours, theirs = _entries(current, provider), _entries(target, provider)
    addresses = sorted(ours.keys() | theirs.keys())
    if not addresses:
        return comparison(
            ComparisonOutcome.ERROR,
            reason=f"neither plan has a managed resource of {provider}; nothing compared",
        )
    state_names = (
        {r.address: frozenset(r.attribute_names) for r in recorded.resources if r.deposed is None}
        if recorded is not None
        else None
    )
    old_defaults = provider_defaults(provider, from_version)
    new_defaults = provider_defaults(provider, to_version)
    differences: list[AttributeDifference] = []
    drift: list[DriftUnderBoth] = []
    for address in addresses:
        my_change, my_drift = ours.get(address, (None, None))
        your_change, your_drift = theirs.get(address, (None, None))
        entry = my_change or my_drift or your_change or your_drift
        assert entry is not None
        type_name = entry.type
        resource = _Resource(
            address=address,
            type_name=type_name,
            current=_side(type_name, from_version, old_defaults, my_change, my_drift, salt),
            target=_side(type_name, to_version, new_defaults, your_change, your_drift, salt),
            differences=[],
            taken=[],
        )
        under_both = _drift_under_both(resource)
        if under_both is not None:
            drift.append(under_both)
        names = state_names.get(address) if state_names is not None else None
        shared = _schema_attributes(resource, names)
        _behaviour(resource, shared)
        _read_differences(resource, shared)
        differences.extend(resource.differences)
    differences.sort(key=lambda d: (d.address, d.pointer, d.kind.value, d.detail))
    behaviour = any(d.kind is DifferenceKind.BEHAVIOUR for d in differences)
    return comparison(
        ComparisonOutcome.BEHAVIOUR if behaviour else ComparisonOutcome.SAFE,
        resources=len(addresses),
        differences=differences,
        drift=drift,
    )


# --- suggestions ----------------------------------------------------------------------


def _version_key(text: str) -> tuple[tuple[int, ...], str]:
    return parse_version(text) or (), text


def _versions(texts: Iterable[str]) -> str:
    return ", ".join(sorted(set(texts), key=_version_key))


def _top_level(pointer_text: str) -> str:
    segments = pointer_segments(pointer_text)
    return pointer(segments[:1])


def _rule_id(resource_type: str, paths: Sequence[str], to_versions: str) -> str:
    digest = hashlib.sha256(canonical_json([resource_type, list(paths), to_versions]).encode())
    base = f"upgrade-{resource_type.replace('_', '-')}"[:54].rstrip("-")
    return f"{base}-{digest.hexdigest()[:8]}"


def _kinds_text(kinds: Iterable[DifferenceKind], paths: Sequence[str]) -> str:
    names = sorted({kind.value for kind in kinds})
    one = len(names) == 1 and len(paths) == 1
    return " and ".join(names) + (" difference" if one else " differences")


@dataclass(slots=True)
class _Group:
    stacks: set[str]
    kinds: set[DifferenceKind]
    providers: set[str]
    from_versions: set[str]
    to_versions: set[str]


def suggest_rules(comparisons: Sequence[StackComparison], *, today: date) -> list[SuggestedRule]:
    """Ignore rules to review for the schema and representation differences (see the
    module doc); each expires ``SUGGESTION_DAYS`` after ``today``."""
    per_stack: dict[tuple[str, str], dict[str, set[DifferenceKind]]] = {}
    by_stack = {comparison.stack: comparison for comparison in comparisons}
    for comparison in comparisons:
        for difference in comparison.differences:
            if difference.kind is DifferenceKind.BEHAVIOUR or not difference.pointer:
                continue
            tops = per_stack.setdefault((comparison.stack, difference.resourceType), {})
            tops.setdefault(_top_level(difference.pointer), set()).add(difference.kind)
    groups: dict[tuple[str, tuple[str, ...]], _Group] = {}
    for (stack, resource_type), tops in per_stack.items():
        key = (resource_type, tuple(sorted(tops)))
        group = groups.setdefault(key, _Group(set(), set(), set(), set(), set()))
        comparison = by_stack[stack]
        group.stacks.add(stack)
        group.kinds.update(kind for kinds in tops.values() for kind in kinds)
        group.providers.add(comparison.provider)
        group.from_versions.add(comparison.fromVersion)
        group.to_versions.add(comparison.toVersion)
    suggestions: list[SuggestedRule] = []
    for (resource_type, all_paths), group in sorted(groups.items()):
        withheld = [path for path in all_paths if critical_overlaps(resource_type, path)]
        paths = [path for path in all_paths if path not in withheld]
        if not paths:
            continue
        stacks = sorted(group.stacks)
        old, new = _versions(group.from_versions), _versions(group.to_versions)
        upgrade = f"{', '.join(sorted(group.providers))} {old} -> {new}"
        notes = [
            f"suggested for the upgrade {upgrade}: set owner, check the paths and the "
            "expiry; the differences end once an apply or refresh under the new version "
            "writes the state, so let the rule expire then"
        ]
        if len(stacks) > 1:
            notes.append(
                f"seen in {len(stacks)} stacks ({', '.join(stacks)}): unscoped as written; "
                "scope it by match.stack, match.environment or match.tags before use "
                "(`iacdrift policy lint` refuses unscoped rules)"
            )
        for path in withheld:
            fields = ", ".join(
                f"{category.value} field {field}"
                for field, category in critical_overlaps(resource_type, path)
            )
            notes.append(
                f"not suggested: {path} ({fields}): a rule would hide real changes there; "
                f"the first apply under {new} records it instead"
            )
        if group.kinds == {DifferenceKind.REPRESENTATION}:
            notes.append(
                "normalization already treats these values as equal (no drift is "
                "reported for them); the rule only documents the difference"
            )
        suggestions.append(
            SuggestedRule(
                id=_rule_id(resource_type, paths, new),
                resourceType=resource_type,
                stack=stacks[0] if len(stacks) == 1 else None,
                stacks=stacks,
                kinds=sorted(group.kinds, key=lambda kind: kind.value),
                paths=paths,
                withheld=withheld,
                reason=f"provider upgrade {upgrade}: {_kinds_text(group.kinds, paths)} "
                f"({', '.join(paths)}), not a change to the resources",
                owner=OWNER_PLACEHOLDER,
                expires=today + timedelta(days=SUGGESTION_DAYS),
                notes=notes,
            )
        )
    return suggestions


def build_report(
    provider: str,
    to_version: str,
    results: Sequence[StackComparison],
    *,
    generated_at: datetime,
    today: date,
) -> ProviderDiffReport:
    """The report of several stacks' comparisons: results sorted by stack, the
    suggestions of :func:`suggest_rules`, and the summary."""
    ordered = sorted(results, key=lambda result: result.stack)
    return ProviderDiffReport(
        generatedAt=generated_at,
        provider=provider,
        toVersion=to_version,
        results=ordered,
        suggestions=suggest_rules(ordered, today=today),
        summary=ProviderDiffSummary.of(ordered),
    )
