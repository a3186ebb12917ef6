"""Unmanaged resources: live, of a type the estate manages, in no registered state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from iacdrift.models.registry import Exclusion


@dataclass(frozen=True, order=True)
class LiveResource:
    """One live resource, identified the way Terraform's state identifies it."""

    type: str
    id: str
    name: str
    region: str


def excluded_by(resource: LiveResource, exclusions: Sequence[Exclusion]) -> Exclusion | None:
    """The first exclusion that covers the resource (type equal, id or name glob)."""
    for exclusion in exclusions:
        if exclusion.type != resource.type:
            continue
        if exclusion.id is not None and fnmatchcase(resource.id, exclusion.id):
            return exclusion
        if exclusion.name is not None and fnmatchcase(resource.name, exclusion.name):
            return exclusion
    return None


def find_unmanaged(
    live: Iterable[LiveResource],
    recorded_ids: Mapping[str, set[str]],
    exclusions: Sequence[Exclusion],
) -> list[LiveResource]:
    """Live resources whose id no registered state records, minus exclusions; sorted.

    ``recorded_ids`` maps a resource type to every id recorded for it across
    all registered states. Types absent from it are not judged: a type no
    stack manages has no owner to compare with.
    """
    unmanaged = [
        item
        for item in live
        if item.type in recorded_ids
        and item.id not in recorded_ids[item.type]
        and excluded_by(item, exclusions) is None
    ]
    return sorted(unmanaged)
