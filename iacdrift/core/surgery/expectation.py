"""Does the plan after a migration's operations match the plan it declared?

Contract of :func:`compare` (pure; ``changes`` is
:func:`iacdrift.core.reconcile.targeted.plan_changes` of the plan made against the
edited copy of the state). Rules, in the order the code follows them:

1. The resulting plan's actions are read as a set per address: ``no-op`` and
   ``read`` are no change; a ``delete`` and a ``create`` together (either order,
   create-before-destroy or not) are one ``replace``.
2. ``no-changes`` matches only a plan that changes nothing; each change is a
   difference.
3. A listed address must be changed with exactly the listed actions (as a set);
   listed with ``no-op`` it must not be changed at all.
4. Any changed address not listed is a difference: what is not declared must not
   change.
5. Differences are one line each, ``<address>: expected <actions>, the plan has
   <actions>`` (``not expected`` for rule 4), sorted by address; the plan matches
   when there are none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from iacdrift.core.reconcile.targeted import PlannedChange
from iacdrift.models.surgery import NO_CHANGES, ExpectedAction, ExpectedChange

__all__ = ["Comparison", "action_set", "compare"]

_QUIET = {"no-op", "read"}
_NO_OP = frozenset({ExpectedAction.NO_OP.value})


class Comparison(NamedTuple):
    """Whether the plan is the expected one, and how it differs (rule 5)."""

    matches: bool
    differences: tuple[str, ...]


def action_set(actions: Iterable[str]) -> frozenset[str]:
    """Terraform's actions on one address as the expectation words them (rule 1);
    the empty set is no change."""
    found = {a for a in actions if a not in _QUIET}
    if {"delete", "create"} <= found:
        found -= {"delete", "create"}
        found.add(ExpectedAction.REPLACE.value)
    return frozenset(found)


def _words(actions: frozenset[str]) -> str:
    return ", ".join(sorted(actions)) if actions else "no changes"


def compare(
    expected: str | Sequence[ExpectedChange], changes: Sequence[PlannedChange]
) -> Comparison:
    """Compare the resulting plan ``changes`` with the ``expected`` plan (rules 1-5)."""
    # Rule 1.
    planned: dict[str, frozenset[str]] = {}
    for change in changes:
        actions = action_set(change.actions)
        if actions:
            planned[change.address] = planned.get(change.address, frozenset()) | actions
    differences: list[tuple[str, str]] = []
    if isinstance(expected, str):
        # Rule 2.
        if expected != NO_CHANGES:
            raise ValueError(f"expected plan {expected!r}: only {NO_CHANGES!r} is a word here")
        for address, actions in planned.items():
            differences.append(
                (address, f"{address}: expected no changes, the plan has {_words(actions)}")
            )
    else:
        # Rule 3.
        listed: set[str] = set()
        for entry in expected:
            listed.add(entry.address)
            want = frozenset(a.value for a in entry.actions)
            if want == _NO_OP:
                want = frozenset()
            have = planned.get(entry.address, frozenset())
            if want != have:
                differences.append(
                    (
                        entry.address,
                        f"{entry.address}: expected {_words(want)}, the plan has {_words(have)}",
                    )
                )
        # Rule 4.
        for address, actions in planned.items():
            if address not in listed:
                differences.append(
                    (address, f"{address}: not expected, the plan has {_words(actions)}")
                )
    # Rule 5.
    lines = tuple(line for _, line in sorted(differences))
    return Comparison(matches=not lines, differences=lines)
