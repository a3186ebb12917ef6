"""Provider upgrades: the differences a newer provider schema explains. Pure.

The first refresh under a newer provider reads attributes its schema added (for
hashicorp/aws 2.x -> 3.x: ``tags_all`` null -> a map, ``managed_policy_arns`` null ->
[], ``name_prefix`` null -> ""), so every resource shows up in ``resource_drift``
although nothing changed in the cloud and the plan is a no-op. This module tells
that apart from real drift, per divergence (:func:`explain`).

Evidence of an upgrade:

E1. **Read for the first time.** The recorded instance (the raw state object, not
    the plan's upgraded ``prior_state``) lacks a top-level attribute that the
    refresh now reads. Terraform writes every attribute of the schema it wrote
    with, null included, so a missing key means the state was written under a
    schema without it.
E2. **Another version.** The stack's last check planned with another version of
    the provider (:func:`upgrades`, from the run history; an older check names the
    version the upgrade came from).

Contract of :func:`explain` (rules in order; the first that applies decides):

1. Only a divergence whose recorded and actual planes were compared (
   RECORDED_NE_ACTUAL, OUT_OF_BAND, DESIRED_NE_ACTUAL) or that is NOISE_ONLY is
   looked at; any other comes back unchanged.
2. An *upgrade field* is a changed field whose top-level attribute the recorded
   instance lacks (E1) and whose recorded value is null, and that is neither a
   critical field of its type (privilege, identity, network exposure, ...:
   ``resource_types.CRITICAL_FIELDS``) nor an aggregate read whole from AWS
   (``AGGREGATE_PARENTS``: a role's ``managed_policy_arns``, ``inline_policy``). A
   policy attached by hand reads exactly like a first read of ``managed_policy_arns``:
   such fields are left to :mod:`~iacdrift.core.aggregates` (which the caller runs
   first), so only parts other resources manage become noise. A recorded instance
   without an ``attributes`` object (a state from Terraform 0.11 keeps
   ``attributes_flat``) proves nothing: no field of it is an upgrade field.
3. Every changed field is an upgrade field and the resource's planned actions
   change nothing (no-op, read, or none): NOISE_ONLY, the fields moved to noise,
   with the upgrade's reason. The upgrade alone is noise.
4. Every changed field is an upgrade field but the plan changes the resource: the
   divergence is unchanged. The new provider plans something the old one did not:
   that is a behaviour change, judged as drift (and `provider-diff` says so).
5. Upgrade fields beside other changed fields: the upgrade fields move to noise,
   the others stay and are judged as before (a real out-of-band change on the same
   resource stays real drift); the reason of the move is kept for the evidence. A
   DESIRED_NE_ACTUAL whose remaining fields the plan would all put back to what was
   recorded becomes OUT_OF_BAND: only the first-read attributes (nothing recorded to
   restore) made it look otherwise.
6. NOISE_ONLY (the difference vanished under normalization) with E1 on one of its
   noise fields, or E2 for its provider: unchanged, with the upgrade's reason
   (``name_prefix`` null -> "" is the upgrade's representation change).

The reason reads ``provider upgrade hashicorp/aws 2.70.0 -> 3.39.0: tags_all read for
the first time``; without E2 the earlier version is not known here and reads
``an earlier version``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iacdrift.core.planes import Divergence
from iacdrift.core.resource_types import AGGREGATE_PARENTS, CRITICAL_FIELDS
from iacdrift.core.terraform_json import RecordedResource
from iacdrift.models.finding import ChangedField, Relationship
from iacdrift.primitives.canonical import canonical_json
from iacdrift.primitives.pointer import pointer_segments, pointers_overlap

# Relationships whose fields are recorded -> actual (the refresh's reading).
_READ_RELATIONSHIPS = frozenset(
    {
        Relationship.RECORDED_NE_ACTUAL,
        Relationship.OUT_OF_BAND,
        Relationship.DESIRED_NE_ACTUAL,
    }
)
_QUIET_ACTIONS = frozenset({(), ("no-op",), ("read",)})


def short_provider(source: str) -> str:
    """``registry.terraform.io/hashicorp/aws`` or ``provider["registry.terraform.io/
    hashicorp/aws"].west`` -> ``hashicorp/aws``."""
    text = source
    if text.startswith("provider["):
        text = text[len("provider[") :].split("]", 1)[0].strip('"')
    parts = [part for part in text.split("/") if part]
    return "/".join(parts[-2:]) if len(parts) >= 2 else text


@dataclass(frozen=True, slots=True)
class ProviderUpgrade:
    """A provider that plans with another version than the one that wrote the state."""

    provider: str  # hashicorp/aws
    from_version: str | None  # None: not known (no earlier check recorded it)
    to_version: str | None
    # The stack's last check planned with from_version (E2); False: an older check did.
    since_last_check: bool = True

    def describe(self) -> str:
        old = self.from_version or "an earlier version"
        new = self.to_version or "a newer version"
        return f"provider upgrade {self.provider} {old} -> {new}"


def upgrades(
    current: Mapping[str, str], history: Sequence[Mapping[str, str]]
) -> dict[str, ProviderUpgrade]:
    """Provider (short name) -> its upgrade, for each provider planning now
    (``current``: source -> version) that an earlier check planned with another
    version. ``history``: the provider versions of the stack's earlier checks, newest
    first. The upgrade is from the newest earlier version that differs; E2 holds
    (``since_last_check``) when the newest check already differs."""
    found: dict[str, ProviderUpgrade] = {}
    for source, version in sorted(current.items()):
        name = short_provider(source)
        for position, earlier in enumerate(history):
            old = {short_provider(s): v for s, v in earlier.items()}.get(name)
            if old is None or old == version:
                continue
            found[name] = ProviderUpgrade(name, old, version, since_last_check=position == 0)
            break
    return found


@dataclass(frozen=True, slots=True)
class Upgraded:
    """A divergence after :func:`explain`: ``reason`` names the upgrade when it
    explains something; ``moved`` are the pointers moved to noise (rules 3 and 5)."""

    divergence: Divergence
    reason: str | None = None
    moved: tuple[str, ...] = ()


def _top(pointer: str) -> str:
    segments = pointer_segments(pointer)
    return segments[0] if segments else ""


def _field_order(changed: ChangedField) -> tuple[str, str]:
    return changed.pointer, repr((changed.before, changed.after))


def _upgrade_for(
    divergence: Divergence,
    upgrades_by_provider: Mapping[str, ProviderUpgrade],
    current: Mapping[str, str],
) -> ProviderUpgrade:
    name = short_provider(divergence.provider_name)
    known = upgrades_by_provider.get(name)
    if known is not None:
        return known
    now = {short_provider(source): version for source, version in current.items()}
    return ProviderUpgrade(name, None, now.get(name))


def explain(
    divergence: Divergence,
    recorded: RecordedResource | None,
    upgrades_by_provider: Mapping[str, ProviderUpgrade],
    current: Mapping[str, str],
) -> Upgraded:
    """The divergence with what a provider upgrade explains moved to noise (see the
    module doc). ``recorded``: the instance in the raw state (None: not recorded, so
    nothing is read for the first time); ``upgrades_by_provider``: E2, from
    :func:`upgrades`; ``current``: provider source -> the version planning now."""
    relationship = divergence.relationship
    if relationship not in _READ_RELATIONSHIPS and relationship is not Relationship.NOISE_ONLY:
        return Upgraded(divergence)  # rule 1
    held = (
        frozenset(recorded.attribute_names)
        if recorded is not None and recorded.attribute_names
        else None
    )
    critical = CRITICAL_FIELDS.get(divergence.type, {})
    aggregate_parts = AGGREGATE_PARENTS.get(divergence.type, (frozenset(), ()))[0]

    def first_read(changed: ChangedField) -> bool:  # rule 2
        top = _top(changed.pointer)
        if held is None or not top or top in held or changed.before is not None:
            return False
        if top in aggregate_parts:
            return False
        return not any(pointers_overlap(changed.pointer, field) for field in critical)

    upgrade = _upgrade_for(divergence, upgrades_by_provider, current)
    if relationship is Relationship.NOISE_ONLY:  # rule 6
        new = sorted({_top(f.pointer) for f in divergence.noise_fields if first_read(f)})
        if new:
            return Upgraded(divergence, f"{upgrade.describe()}: {_attributes(new)}")
        known = upgrades_by_provider.get(upgrade.provider)
        if known is not None and known.since_last_check:
            return Upgraded(divergence, f"{upgrade.describe()}: represented differently")
        return Upgraded(divergence)
    moved = [f for f in divergence.changed_fields if first_read(f)]
    if not moved:
        return Upgraded(divergence)
    remaining = tuple(f for f in divergence.changed_fields if not first_read(f))
    new_attributes = sorted({_top(f.pointer) for f in moved})
    reason = f"{upgrade.describe()}: {_attributes(new_attributes)}"
    noise = tuple(sorted((*divergence.noise_fields, *moved), key=_field_order))
    pointers = tuple(f.pointer for f in moved)
    if remaining:  # rule 5
        kept = dataclasses.replace(divergence, changed_fields=remaining, noise_fields=noise)
        if relationship is Relationship.DESIRED_NE_ACTUAL and all(
            f.desired is not None and canonical_json(f.desired) == canonical_json(f.before)
            for f in remaining
        ):
            # Only the first-read attributes kept the plan from restoring what was
            # recorded (the state has no tags_all to put back): out of band after all.
            also = {*divergence.also_true, Relationship.DESIRED_NE_ACTUAL}
            also.discard(Relationship.OUT_OF_BAND)
            order = list(Relationship)
            kept = dataclasses.replace(
                kept,
                relationship=Relationship.OUT_OF_BAND,
                also_true=tuple(sorted(also, key=order.index)),
            )
        return Upgraded(kept, reason, pointers)
    if tuple(divergence.planned_actions) not in _QUIET_ACTIONS:  # rule 4
        return Upgraded(divergence)
    quiet = dataclasses.replace(  # rule 3
        divergence,
        relationship=Relationship.NOISE_ONLY,
        also_true=(),
        changed_fields=(),
        noise_fields=noise,
    )
    return Upgraded(quiet, reason, pointers)


def _attributes(names: Sequence[str]) -> str:
    listed = ", ".join(names)
    return f"{listed} read for the first time (not in the schema the state was written with)"


def recorded_by_address(resources: Sequence[RecordedResource]) -> dict[str, RecordedResource]:
    """The current (not deposed) recorded instances by address."""
    return {r.address: r for r in resources if r.deposed is None and r.mode == "managed"}
