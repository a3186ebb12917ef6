"""What a saved plan of one repair step would do, and whether it stays in bounds.

Contract of :func:`plan_changes` and :func:`out_of_bounds` (pure; the plan JSON is
``show -json`` of the step's saved plan):

1. A resource change counts when it does something: an action other than
   ``no-op`` and ``read``, a move (``previous_address``) or an import
   (``change.importing``). Data sources never count.
2. Each counted change is one :class:`PlannedChange`: the address, its actions
   (``move`` and ``import`` added for a move and an import; ``forget`` is
   Terraform's removal from state), and the address it moved from.
3. A step may touch only its own addresses (and, for a move, its ``from``):
   :func:`out_of_bounds` lists every other counted address, sorted. A step whose
   plan touches another address is refused before anything is applied, naming them.
5. A refresh-only plan changes nothing in the cloud: what it records in the state is
   its ``resource_drift`` (the live object as read), each action shown as ``refresh
   <action>``; it is bounded by rule 3 like any other.
4. :func:`expected_plan` renders the counted changes as ``address: a, b`` lines, or
   ``no changes``; it is what ``repair apply`` shows as the plan after a step.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from iacdrift.core.redact import redact

__all__ = ["PlannedChange", "expected_plan", "out_of_bounds", "plan_changes", "redacted_plan"]

_QUIET = {"no-op", "read"}


@dataclass(frozen=True)
class PlannedChange:
    address: str
    actions: tuple[str, ...]
    previous_address: str | None = None

    def render(self) -> str:
        moved = f" (from {self.previous_address})" if self.previous_address else ""
        return f"{self.address}: {', '.join(self.actions)}{moved}"


def plan_changes(
    plan_json: Mapping[str, Any], *, refresh_only: bool = False
) -> list[PlannedChange]:
    """The resource changes of a plan that do something (rules 1-2), sorted by address;
    of a refresh-only plan, what it records from the live object (``resource_drift``,
    each action prefixed ``refresh``) (rule 5)."""
    if refresh_only:
        return [
            PlannedChange(c.address, tuple(f"refresh {a}" for a in c.actions), c.previous_address)
            for c in _changes(plan_json.get("resource_drift") or [])
        ]
    return _changes(plan_json.get("resource_changes") or [])


def _changes(items: Any) -> list[PlannedChange]:
    found: list[PlannedChange] = []
    for item in items:
        if not isinstance(item, Mapping) or item.get("mode") == "data":
            continue
        change = item.get("change") or {}
        actions = [a for a in change.get("actions") or [] if isinstance(a, str)]
        previous = item.get("previous_address")
        moved = isinstance(previous, str) and previous != item.get("address")
        importing = bool(change.get("importing"))
        doing = [a for a in actions if a not in _QUIET]
        if moved:
            doing.insert(0, "move")
        if importing:
            doing.insert(0, "import")
        if doing:
            found.append(
                PlannedChange(
                    address=str(item.get("address")),
                    actions=tuple(doing),
                    previous_address=previous if moved else None,
                )
            )
    return sorted(found, key=lambda c: c.address)


def out_of_bounds(changes: Collection[PlannedChange], allowed: Collection[str]) -> list[str]:
    """The addresses ``changes`` touch beyond ``allowed`` (rule 3), sorted."""
    permitted = set(allowed)
    return sorted(
        {c.address for c in changes if c.address not in permitted}
        | {
            c.previous_address
            for c in changes
            if c.previous_address is not None and c.previous_address not in permitted
        }
    )


def expected_plan(changes: Collection[PlannedChange]) -> list[str]:
    """One line per counted change (rule 4); ``["no changes"]`` when there is none."""
    return [c.render() for c in sorted(changes, key=lambda c: c.address)] or ["no changes"]


def redacted_plan(plan_json: Mapping[str, Any], *, salt: bytes) -> dict[str, Any]:
    """A saved plan as it may leave the private scratch directory (``repair apply
    --out``): each resource change and drift with its address, actions, previous
    address, and ``before``/``after`` with every sensitive subtree replaced by its
    fingerprint marker (:func:`iacdrift.core.redact.redact`); the plan's variables,
    prior state, configuration and outputs are left out (they hold values in clear)."""

    def entries(key: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for item in plan_json.get(key) or []:
            if not isinstance(item, Mapping):
                continue
            change = item.get("change") or {}
            type_name = str(item.get("type", ""))
            found.append(
                {
                    "address": item.get("address"),
                    "previous_address": item.get("previous_address"),
                    "mode": item.get("mode"),
                    "type": type_name,
                    "actions": list(change.get("actions") or []),
                    "before": redact(
                        change.get("before"),
                        change.get("before_sensitive"),
                        salt=salt,
                        type_name=type_name,
                    ),
                    "after": redact(
                        change.get("after"),
                        change.get("after_sensitive"),
                        salt=salt,
                        type_name=type_name,
                    ),
                    "after_unknown": change.get("after_unknown"),
                    "importing": change.get("importing"),
                }
            )
        return sorted(found, key=lambda e: str(e["address"]))

    return {
        "format_version": plan_json.get("format_version"),
        "terraform_version": plan_json.get("terraform_version"),
        "resource_changes": entries("resource_changes"),
        "resource_drift": entries("resource_drift"),
    }
