"""A state restored from an older copy, seen in the backend's own version history. Pure.

S3 keeps every version of a state object while the bucket's versioning is on.
Terraform only ever writes a serial higher than the one it read (and ``state
push`` refuses a lower serial of the same lineage unless forced), so an older
serial on top of a newer one means someone copied an old version over the
current one. The caller lists the versions and reads their lineage and serial;
this module decides, rule by rule:

1. Versions of another lineage are another state (a migrated backend, a stack
   re-created at the same key): never compared.
2. The current version *regressed* when an earlier version of the same lineage
   has a higher serial. The one named is the earlier version with the highest
   serial (the most recent of them on a tie): what the state said before it
   went back.
3. A resource is *forgotten* by the regression when the plan would create it,
   that newer version recorded it, and it exists live under the id recorded
   there: the repair is to IMPORT it, not to apply (a duplicate or a failure)
   and not to treat it as unmanaged.

Nothing here reads a value: only version ids, lineages, serials, addresses, types
and ids.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from iacdrift.core.terraform_json import StateView
from iacdrift.models.finding import DriftClass, Finding

# The resource type a finding about the state object itself names.
STATE_RESOURCE_TYPE = "terraform_state"
# How many earlier versions of a state object a check reads (their first bytes).
DEFAULT_VERSION_LIMIT = 10
# The first bytes of a version that hold its lineage and serial (see head_fields).
HEAD_BYTES = 1024


@dataclass(frozen=True)
class StateVersion:
    """One version of a state object: its S3 version id, and what its body says."""

    version_id: str
    lineage: str | None
    serial: int | None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class VersionRegression:
    """The current version went back behind ``newer``, an earlier version (rule 2)."""

    uri: str
    current: StateVersion
    newer: StateVersion

    def describe(self) -> str:
        written = (
            f" (written {self.newer.last_modified.isoformat()})" if self.newer.last_modified else ""
        )
        return (
            f"the state {self.uri} went back: its current version {self.current.version_id} "
            f"has serial {self.current.serial}, but the earlier version "
            f"{self.newer.version_id}{written} of the same lineage has serial "
            f"{self.newer.serial}: an older copy was restored over it"
        )


@dataclass(frozen=True, order=True)
class ForgottenResource:
    """A live resource that ``version_id`` recorded and the current state lost (rule 3)."""

    address: str
    type: str
    resource_id: str
    version_id: str
    serial: int | None

    def describe(self) -> str:
        return (
            f"recorded as {self.resource_id} in state version {self.version_id} (serial "
            f"{self.serial}) and still live; the restored state lost it: IMPORT it, do not "
            "let an apply create it again"
        )


def find_regression(
    uri: str, current: StateVersion, earlier: Sequence[StateVersion]
) -> VersionRegression | None:
    """Rules 1 and 2. ``earlier`` is newest first (as S3 lists versions)."""
    if current.serial is None or current.lineage is None:
        return None
    higher = [
        version
        for version in earlier
        if version.lineage == current.lineage
        and version.serial is not None
        and version.serial > current.serial
    ]
    if not higher:
        return None
    # max() keeps the first of equal serials: the most recent (the list is newest first).
    newer = max(higher, key=lambda version: version.serial or 0)
    return VersionRegression(uri, current, newer)


def forgotten_resources(
    regression: VersionRegression,
    newer_state: StateView,
    current_state: StateView | None,
    planned_creates: Iterable[str],
    live: Collection[tuple[str, str]],
) -> dict[str, ForgottenResource]:
    """Rule 3, by address. ``live`` holds the (type, id) pairs known to exist; a type
    the caller could not list is simply absent (then nothing of it is claimed)."""
    kept = {r.address for r in current_state.resources} if current_state is not None else set()
    creates = set(planned_creates)
    found: dict[str, ForgottenResource] = {}
    for resource in newer_state.resources:
        if resource.mode != "managed" or resource.deposed or not resource.id:
            continue
        if resource.address in kept or resource.address not in creates:
            continue
        if (resource.type, resource.id) not in live:
            continue
        found[resource.address] = ForgottenResource(
            address=resource.address,
            type=resource.type,
            resource_id=resource.id,
            version_id=regression.newer.version_id,
            serial=regression.newer.serial,
        )
    return dict(sorted(found.items()))


# Terraform (and OpenTofu) write these four fields first, in this order:
# {"version": 4, "terraform_version": "1.15.5", "serial": 7, "lineage": "...", ...
_HEAD = re.compile(
    rb'\A\s*\{\s*"version"\s*:\s*\d+\s*,\s*"terraform_version"\s*:\s*"[^"\\]*"\s*,'
    rb'\s*"serial"\s*:\s*(\d+)\s*,\s*"lineage"\s*:\s*"([^"\\]*)"'
)


def head_fields(head: bytes) -> tuple[str, int] | None:
    """(lineage, serial) from the first bytes of a state as Terraform writes it; None
    when they are not laid out that way (then read the whole version)."""
    match = _HEAD.match(head)
    if match is None:
        return None
    return match.group(2).decode("utf-8", "replace"), int(match.group(1))


def claimed_ids(findings: Iterable[Finding]) -> dict[str, set[str]]:
    """Ids by type that stack findings claim as forgotten resources (rule 3): a planned
    create of a STATE_DRIFT finding that carries an id (a plain create has none yet).
    The estate's unmanaged judgement counts them as recorded."""
    claimed: dict[str, set[str]] = {}
    for finding in findings:
        if (
            finding.driftClass is DriftClass.STATE_DRIFT
            and "create" in finding.plannedActions
            and finding.resourceId
        ):
            claimed.setdefault(finding.resourceType, set()).add(finding.resourceId)
    return claimed
