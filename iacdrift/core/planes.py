"""The three-plane decision: what diverged between desired, recorded and actual.

One normal plan (with refresh) carries two comparisons per resource address:

* D, its ``resource_drift`` entry: ``before`` = recorded (the state),
  ``after`` = actual (what the provider read). This is what a ``-refresh-only``
  plan reports, so no second refresh is needed (see :func:`drift_view`).
* C, its ``resource_changes`` entry: ``before`` = the refreshed actual,
  ``after`` = desired (what applying the configuration would make).

Contract of :func:`analyze`: one :class:`Divergence` per *managed* resource
address that diverges, sorted by address. Data sources are skipped. Values are
redacted with the entry's own masks before anything is compared. The first rule
that matches decides the relationship:

1. D deletes (recorded, gone from the provider) -> MISSING_IN_ACTUAL
   (recorded -> actual, no fields).
2. D has real changes and C's real changes touch one of them (same pointer, one
   inside the other, or the same set attribute) -> OUT_OF_BAND when, on every
   touched field, C's after equals D's before once normalized (the plan would
   put back what was recorded), else DESIRED_NE_ACTUAL (recorded -> actual).
3. D has real changes that C leaves as they are (no-op, ``ignore_changes``,
   a computed field, or C changes only other fields) -> RECORDED_NE_ACTUAL
   (recorded -> actual).
4. No real D change, and C creates, updates, deletes, replaces, imports, or
   moves *and* changes -> DESIRED_NE_RECORDED (recorded -> desired). A move
   with no other action is not a divergence.
5. Differences that all vanish under normalization (in D, or in a C update)
   -> NOISE_ONLY (no changed fields; ``noise_fields`` says what was hidden).

Unknowns are never clean: a C update or replace whose values show no
difference at all (Terraform acts on something the JSON does not show) is
DESIRED_NE_RECORDED with no fields; a deposed object that the plan destroys is
DESIRED_NE_RECORDED too. A refresh-only plan has no C, so its drift is
RECORDED_NE_ACTUAL.

``also_true`` lists the other relationships among DESIRED_NE_ACTUAL,
RECORDED_NE_ACTUAL and DESIRED_NE_RECORDED that hold as well, in decision
order: recorded != actual when D has real changes; desired != actual when C
changes something; desired != recorded when C changes a field that did not
drift, or sets a drifted field to something other than what was recorded.

Field representation:

* ``changed_fields`` of rules 2 and 3 are D's real changes (before = recorded,
  after = actual); ``desired`` is what the plan would set the field to, for the
  fields the plan changes, and null for fields it leaves as they are or whose
  planned value is unknown until apply. For a set element, ``desired`` is the
  element when the planned set contains it, else null.
* ``changed_fields`` of rule 4 are C's real changes (before = recorded,
  after = desired, ``desired`` = after when known). A create or delete is one
  field at the empty pointer ``""``: create ``before: null, after:
  "(exists)"``, delete ``before: "(exists)", after: null``; the whole body is
  not repeated (the plan has it). An import adds the create field and then
  whatever the import would change.
* A planned value that is unknown until apply reads ``"(known after apply)"``,
  as Terraform prints it.
* ``noise_fields`` are the raw differences that vanished under normalization,
  from D and from C, sorted by pointer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from iacdrift.core.diff import (
    Change,
    Comparison,
    anchor,
    change_order,
    compare,
    pointer,
    related,
    to_field,
    to_fields,
    value_at,
)
from iacdrift.core.normalize import Defaults, Part, default_for, set_root
from iacdrift.core.redact import is_marker, redact
from iacdrift.core.terraform_json import PlanView, ResourceEntry
from iacdrift.models.finding import ChangedField, Plane, Relationship
from iacdrift.primitives.address import config_address
from iacdrift.primitives.canonical import canonical_json

UNKNOWN_VALUE = "(known after apply)"
EXISTS = "(exists)"

# Plan actions that change nothing.
_QUIET_ACTIONS = frozenset({("no-op",), ("read",)})
_DECISION_ORDER = {relationship: i for i, relationship in enumerate(Relationship)}
_THREE = (
    Relationship.DESIRED_NE_ACTUAL,
    Relationship.RECORDED_NE_ACTUAL,
    Relationship.DESIRED_NE_RECORDED,
)


@dataclass(frozen=True, slots=True)
class Divergence:
    """One managed resource whose planes disagree, and how.

    ``also_true`` is in decision order (the order of ``Relationship``);
    ``changed_fields`` and ``noise_fields`` are sorted by pointer.
    """

    address: str
    type: str
    module_address: str | None
    provider_name: str
    resource_id: str | None
    relationship: Relationship
    also_true: tuple[Relationship, ...]
    before_plane: Plane
    after_plane: Plane
    changed_fields: tuple[ChangedField, ...]
    noise_fields: tuple[ChangedField, ...]
    planned_actions: tuple[str, ...]
    drift_actions: tuple[str, ...]


# --- ignore_changes -------------------------------------------------------

_STEP = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def ignore_path(text: str) -> tuple[str, ...]:
    """An ``ignore_changes`` entry as pointer steps (all strings).

    Accepts a Terraform attribute path (``tags``, ``tags["owner"]``,
    ``tags.owner``, ``ingress[0].cidr_blocks``), an RFC 6901 pointer
    (``/tags/owner``), or ``all`` / ``*`` (returned as ``()``: everything). Raises
    ValueError for anything else.
    """
    text = text.strip()
    if text in ("all", "*"):
        return ()
    if text.startswith("/"):
        return tuple(p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/"))
    steps: list[str] = []
    position = 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None or (position == 0 and text.startswith(".")):
            raise ValueError(f"ignore_changes entry {text!r} is not an attribute path")
        name, number, quoted = match.groups()
        if name is not None:
            steps.append(name)
        elif number is not None:
            steps.append(number)
        else:
            steps.append(str(_json_string(quoted)))
        position = match.end()
    if not steps:
        raise ValueError(f"ignore_changes entry {text!r} is empty")
    return tuple(steps)


def _json_string(quoted: str) -> str:
    value = json.loads(quoted)
    return value if isinstance(value, str) else quoted


def _ignore_paths(entries: Iterable[str]) -> list[tuple[str, ...]]:
    """The readable entries; one we cannot read discounts nothing (report more, not less)."""
    paths: set[tuple[str, ...]] = set()
    for text in entries:
        try:
            paths.add(ignore_path(text))
        except ValueError:
            continue
    return sorted(paths)


def _ignored(parts: tuple[Part, ...], ignored: list[tuple[str, ...]]) -> bool:
    text = tuple(str(p) for p in parts)
    return any(text[: len(path)] == path for path in ignored)


# --- values ---------------------------------------------------------------


def apply_unknown(value: Any, mask: Any) -> Any:
    """``value`` with Terraform's unknown-until-apply positions made visible.

    ``after`` omits unknown attributes and list elements; ``after_unknown``
    mirrors the full value with ``true`` where it is unknown. A mask that does
    not fit is ignored: this is display, not security.
    """
    if mask is True:
        return UNKNOWN_VALUE
    if isinstance(mask, dict) and mask:
        if value is not None and not isinstance(value, dict):
            return value
        out = dict(value or {})
        for key, sub in mask.items():
            if sub is True or (isinstance(sub, dict | list) and sub):
                out[key] = apply_unknown(out.get(key), sub)
        return out
    if isinstance(mask, list) and any(m is not False for m in mask):
        if value is not None and not isinstance(value, list):
            return value
        items = iter(value or [])
        result = []
        for sub in mask:
            # Unknown elements are left out of ``after``; put them back in place.
            result.append(UNKNOWN_VALUE if sub is True else apply_unknown(next(items, None), sub))
        result.extend(items)
        return result
    return value


def _contains_unknown(value: Any) -> bool:
    if isinstance(value, str):
        return value == UNKNOWN_VALUE
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_unknown(v) for v in value)
    return False


def _resource_id(*candidates: Any) -> str | None:
    for value in candidates:
        if isinstance(value, dict):
            found = value.get("id")
            if isinstance(found, str) and found and found != UNKNOWN_VALUE and not is_marker(found):
                return found
    return None


def _same(a: Any, b: Any) -> bool:
    return canonical_json(a) == canonical_json(b)


def _merge_noise(*groups: Iterable[Change]) -> tuple[ChangedField, ...]:
    """D's and C's noise, without duplicates, in ``change_order``."""
    seen: dict[tuple[str, int, str], Change] = {}
    for group in groups:
        for change in group:
            seen.setdefault(change_order(change), change)
    return tuple(to_fields(seen[key] for key in sorted(seen)))


def _also(primary: Relationship, holds: set[Relationship]) -> tuple[Relationship, ...]:
    return tuple(sorted((r for r in holds if r != primary), key=_DECISION_ORDER.__getitem__))


# --- one side of the plan -------------------------------------------------


@dataclass(slots=True)
class _ChangeSide:
    """C, redacted and compared."""

    before: Any
    after: Any
    after_normal: Any
    # C's real changes, without those under ignore_changes; a create or delete
    # is the one whole-resource change.
    real: list[Change]
    noise: list[Change]
    # C's actions change the object although no value differs that we can see.
    invisible: bool
    # The whole-resource field of an import, shown before ``real``.
    imported: list[Change]
    # The provider defaults the values were normalized with.
    defaults: Defaults | None = None


def _is_quiet(entry: ResourceEntry) -> bool:
    return entry.actions in _QUIET_ACTIONS and not entry.importing


def _change_side(
    entry: ResourceEntry,
    salt: bytes,
    ignored: list[tuple[str, ...]],
    defaults: Defaults | None = None,
) -> _ChangeSide:
    type_name = entry.type
    before = redact(entry.before, entry.before_sensitive, salt=salt, type_name=type_name)
    after = redact(entry.after, entry.after_sensitive, salt=salt, type_name=type_name)
    after = apply_unknown(after, entry.after_unknown)
    imported = [Change((), None, EXISTS)] if entry.importing else []
    changes_actions = entry.actions not in _QUIET_ACTIONS
    if before is None and after is not None:
        # A create: recorded has nothing; the body is in the plan, not repeated.
        created = [] if entry.importing else [Change((), None, EXISTS)]
        return _ChangeSide(None, after, None, created, [], False, imported, defaults)
    if after is None and before is not None and changes_actions:
        # A delete (or forget): desired has nothing.
        return _ChangeSide(
            before, None, None, [Change((), EXISTS, None)], [], False, imported, defaults
        )
    comparison = compare(type_name, before, after, defaults=defaults)
    real = [c for c in comparison.real if not (ignored and _ignored(c.parts, ignored))]
    invisible = changes_actions and not comparison.real and not comparison.noise
    return _ChangeSide(
        before, after, comparison.after, real, comparison.noise, invisible, imported, defaults
    )


def _desired(type_name: str, change: Change, side: _ChangeSide) -> Any:
    """What the plan would set ``change``'s field to (see module doc)."""
    planned = side.after_normal
    if planned is None:
        return None
    root = set_root(type_name, change.parts)
    if root is not None and len(change.parts) == len(root) + 1:
        element = change.after if change.after is not None else change.before
        members = value_at(planned, root)
        if isinstance(members, list):
            key = canonical_json(element)
            for member in members:
                if canonical_json(member) == key:
                    return member
        return None
    value = value_at(planned, change.parts)
    if value is None:
        value = default_for(type_name, change.parts, side.defaults)
    if _contains_unknown(value):
        return None
    return value


# --- the decision ---------------------------------------------------------


def _decide(
    address: str,
    drift: ResourceEntry | None,
    change: ResourceEntry | None,
    deposed: list[ResourceEntry],
    salt: bytes,
    ignored: list[tuple[str, ...]],
    defaults: Defaults | None = None,
) -> Divergence | None:
    entry = change if change is not None else drift
    if entry is None:
        # Only deposed objects: Terraform will destroy them.
        entry = deposed[0]
    type_name = entry.type
    planned_actions = change.actions if change is not None else ()
    drift_actions = drift.actions if drift is not None else ()

    def divergence(
        relationship: Relationship,
        holds: set[Relationship],
        planes: tuple[Plane, Plane],
        fields: Iterable[ChangedField],
        noise: tuple[ChangedField, ...],
        resource_id: str | None,
    ) -> Divergence:
        return Divergence(
            address=address,
            type=type_name,
            module_address=entry.module_address,
            provider_name=entry.provider_name,
            resource_id=resource_id,
            relationship=relationship,
            also_true=_also(relationship, holds),
            before_plane=planes[0],
            after_plane=planes[1],
            changed_fields=tuple(fields),
            noise_fields=noise,
            planned_actions=planned_actions,
            drift_actions=drift_actions,
        )

    recorded_actual = (Plane.RECORDED, Plane.ACTUAL)
    recorded_desired = (Plane.RECORDED, Plane.DESIRED)

    # Rule 1: recorded, gone from the provider.
    if drift is not None and drift.actions == ("delete",):
        recorded = redact(drift.before, drift.before_sensitive, salt=salt, type_name=type_name)
        holds: set[Relationship] = set()
        if change is not None and "create" in change.actions:
            holds.add(Relationship.DESIRED_NE_ACTUAL)
        return divergence(
            Relationship.MISSING_IN_ACTUAL, holds, recorded_actual, (), (), _resource_id(recorded)
        )

    d_cmp: Comparison | None = None
    d_before = d_after = None
    if drift is not None:
        d_before = redact(drift.before, drift.before_sensitive, salt=salt, type_name=type_name)
        d_after = redact(drift.after, drift.after_sensitive, salt=salt, type_name=type_name)
        d_cmp = compare(type_name, d_before, d_after, defaults=defaults)
    side = (
        _change_side(change, salt, ignored, defaults)
        if change is not None and not _is_quiet(change)
        else None
    )
    recorded_normal = d_cmp.before if d_cmp is not None else None
    d_real = d_cmp.real if d_cmp is not None else []
    d_noise = d_cmp.noise if d_cmp is not None else []
    c_real = side.real if side is not None else []
    c_noise = side.noise if side is not None else []
    c_changes = bool(c_real) or (side is not None and side.invisible)
    resource_id = _resource_id(
        d_after, d_before, side.after if side else None, side.before if side else None
    )
    noise = _merge_noise(d_noise, c_noise)

    if d_real:
        touched = [any(related(type_name, d.parts, c.parts) for c in c_real) for d in d_real]
        unrelated = [
            c for c in c_real if not any(related(type_name, c.parts, d.parts) for d in d_real)
        ]
        holds = {Relationship.RECORDED_NE_ACTUAL}
        if c_changes:
            holds.add(Relationship.DESIRED_NE_ACTUAL)
        if unrelated or (side is not None and side.invisible):
            holds.add(Relationship.DESIRED_NE_RECORDED)
        if side is not None and any(touched):
            # Rule 2: the plan would change drifted fields. Back to what was
            # recorded (out of band), or to something else?
            hits = [d for d, hit in zip(d_real, touched, strict=True) if hit]
            anchors = {anchor(type_name, d.parts) for d in hits}
            restores = all(
                _same(value_at(recorded_normal, at), value_at(side.after_normal, at))
                for at in sorted(anchors, key=pointer)
            )
            fields = [
                to_field(d, _desired(type_name, d, side) if hit else None)
                for d, hit in zip(d_real, touched, strict=True)
            ]
            if restores:
                return divergence(
                    Relationship.OUT_OF_BAND, holds, recorded_actual, fields, noise, resource_id
                )
            holds.add(Relationship.DESIRED_NE_RECORDED)
            return divergence(
                Relationship.DESIRED_NE_ACTUAL, holds, recorded_actual, fields, noise, resource_id
            )
        # Rule 3: the plan leaves the drifted fields as they are.
        return divergence(
            Relationship.RECORDED_NE_ACTUAL,
            holds,
            recorded_actual,
            to_fields(d_real),
            noise,
            resource_id,
        )

    # Rule 4: the plan changes what was recorded.
    # A move with no other action (previous_address, no-op) never gets here:
    # its entry is quiet and has no real changes.
    if side is not None and (c_changes or side.imported):
        holds = {Relationship.DESIRED_NE_RECORDED}
        if c_changes:
            holds.add(Relationship.DESIRED_NE_ACTUAL)
        fields = [
            to_field(c, None if _contains_unknown(c.after) else c.after)
            for c in (*side.imported, *side.real)
        ]
        return divergence(
            Relationship.DESIRED_NE_RECORDED, holds, recorded_desired, fields, noise, resource_id
        )
    if side is None and any(not _is_quiet(e) for e in deposed):
        # A deposed object (left by a failed create_before_destroy) that the
        # plan destroys: recorded holds an object the configuration does not.
        fields = [to_field(Change((), EXISTS, None))]
        holds = {Relationship.DESIRED_NE_RECORDED, Relationship.DESIRED_NE_ACTUAL}
        return divergence(
            Relationship.DESIRED_NE_RECORDED, holds, recorded_desired, fields, (), resource_id
        )

    # Rule 5: differences that vanished under normalization.
    if drift is not None:
        return divergence(Relationship.NOISE_ONLY, set(), recorded_actual, (), noise, resource_id)
    if c_noise:
        return divergence(Relationship.NOISE_ONLY, set(), recorded_desired, (), noise, resource_id)
    return None


def analyze(
    plan: PlanView,
    *,
    ignore_changes: Mapping[str, frozenset[str]] | None = None,
    salt: bytes,
    defaults: Defaults | None = None,
) -> list[Divergence]:
    """The divergences of one plan, one per managed address, sorted by address.

    ``ignore_changes`` maps an instance address, or a configuration address
    (without instance keys, as ``config_address`` makes it), to its
    ``lifecycle.ignore_changes`` entries (see :func:`ignore_path`): planned
    changes under them are not counted as the plan changing a field. An entry
    that cannot be read is skipped: it discounts nothing.
    ``salt`` keys the fingerprints of sensitive values. ``defaults``: the provider
    defaults of the version that planned (``normalize.provider_defaults``; None:
    ``normalize.DEFAULTS``).
    """
    if not salt:
        raise ValueError("analyze needs a non-empty salt for sensitive fingerprints")
    drift: dict[str, ResourceEntry] = {}
    for entry in plan.resource_drift:
        if entry.mode == "managed" and entry.deposed is None and not _is_quiet(entry):
            drift[entry.address] = entry
    changes: dict[str, ResourceEntry] = {}
    deposed: dict[str, list[ResourceEntry]] = {}
    candidates: set[str] = set(drift)
    for entry in plan.resource_changes:
        if entry.mode != "managed":
            continue
        if entry.deposed is not None:
            deposed.setdefault(entry.address, []).append(entry)
            candidates.add(entry.address)
            continue
        changes[entry.address] = entry
        # Cheap skip: most of a large plan is no-op entries with no drift.
        if not _is_quiet(entry):
            candidates.add(entry.address)
    ignores = ignore_changes or {}
    result: list[Divergence] = []
    for address in sorted(candidates):
        entries = ignores.get(address)
        if entries is None:
            entries = ignores.get(config_address(address), frozenset())
        ignored = _ignore_paths(entries)
        found = _decide(
            address,
            drift.get(address),
            changes.get(address),
            deposed.get(address, []),
            salt,
            ignored,
            defaults,
        )
        if found is not None:
            result.append(found)
    return result


def drift_view(
    plan: PlanView, *, salt: bytes, defaults: Defaults | None = None
) -> dict[str, tuple[str, tuple[ChangedField, ...]]]:
    """Recorded vs actual from ``resource_drift`` alone: address -> (action, real fields).

    This is what a ``-refresh-only`` plan reports; computing it from a normal
    plan and from a real refresh-only plan must give the same mapping. The
    action is Terraform's actions joined with ``-`` (``update``, ``delete``).
    """
    if not salt:
        raise ValueError("drift_view needs a non-empty salt for sensitive fingerprints")
    view: dict[str, tuple[str, tuple[ChangedField, ...]]] = {}
    for entry in plan.resource_drift:
        if entry.mode != "managed" or entry.deposed is not None:
            continue
        action = "-".join(entry.actions)
        if entry.actions == ("delete",):
            view[entry.address] = (action, ())
            continue
        before = redact(entry.before, entry.before_sensitive, salt=salt, type_name=entry.type)
        after = redact(entry.after, entry.after_sensitive, salt=salt, type_name=entry.type)
        real = compare(entry.type, before, after, defaults=defaults).real
        view[entry.address] = (action, tuple(to_fields(real)))
    return dict(sorted(view.items()))
