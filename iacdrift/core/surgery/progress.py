"""Where a surgery stands, from its recorded steps and the state as it is now (pure).

``surgery apply`` records its steps beside the plan as it goes (snapshot, unlocked,
pushing, pushed, verified, rolled-back...) and copies the state it started from
(the snapshot). A kill at any moment leaves the state object whole (S3 replaces an
object atomically): it is the state planned against, the edited state, or something
else. :func:`condition` tells which, in this order:

1. No state object: ``no-state``.
2. A plan that changes no state (only a force-unlock): ``applied`` once verified;
   once the lock was released, ``pushed-unverified`` (the release is its change;
   others may write the freed state meanwhile); else ``not-started`` while the state
   is still the one planned against, else ``changed-elsewhere``.
3. The state is the very object planned against (same lineage, serial and S3
   version id): ``not-started`` (a kill before the push, or a push that never
   landed).
4. The state says what the edited state says (:func:`~iacdrift.core.surgery.state.state_digest`,
   lineage included): ``applied`` once a verification after the last push passed,
   else ``pushed-unverified``.
5. The state says what the snapshot says, in a newer object: ``rolled-back``.
6. Anything else: ``changed-elsewhere`` (someone wrote the state since).

:func:`next_command` gives the one command that finishes or rolls back: ``surgery
apply`` both starts a surgery and resumes one (it verifies a pushed state and rolls
back on a mismatch); nothing is left to do once applied or rolled back; a state
changed elsewhere needs a person (check it, plan again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Condition", "Planned", "StateFacts", "condition", "next_command"]


class Condition(StrEnum):
    NOT_STARTED = "not-started"
    PUSHED_UNVERIFIED = "pushed-unverified"
    APPLIED = "applied"
    ROLLED_BACK = "rolled-back"
    CHANGED_ELSEWHERE = "changed-elsewhere"
    NO_STATE = "no-state"


@dataclass(frozen=True)
class StateFacts:
    """One state object: its lineage, serial, S3 version id and digest."""

    lineage: str | None
    serial: int | None
    version_id: str | None
    digest: str


@dataclass(frozen=True)
class Planned:
    """What the plan was made against and what it pushes."""

    lineage: str | None
    serial: int | None
    version_id: str | None
    edited_digest: str
    changes_state: bool


def _verified_since_push(steps: Sequence[str]) -> bool:
    """A ``verified`` step after the last push (or with no push at all)."""
    last_push = max((i for i, s in enumerate(steps) if s in {"pushing", "pushed"}), default=-1)
    return any(s == "verified" for s in steps[last_push + 1 :])


def condition(
    planned: Planned,
    steps: Sequence[str],
    current: StateFacts | None,
    snapshot_digest: str | None,
) -> Condition:
    """The surgery's condition (rules in the module docstring). ``steps``: the step
    names recorded so far, in order."""
    if current is None:
        return Condition.NO_STATE
    at_planned = (
        current.lineage == planned.lineage
        and current.serial == planned.serial
        and current.version_id == planned.version_id
    )
    if not planned.changes_state:
        if "verified" in steps:
            return Condition.APPLIED
        if "unlocked" in steps:
            return Condition.PUSHED_UNVERIFIED
        return Condition.NOT_STARTED if at_planned else Condition.CHANGED_ELSEWHERE
    if at_planned:
        return Condition.NOT_STARTED
    if current.lineage == planned.lineage and current.digest == planned.edited_digest:
        verified = _verified_since_push(steps)
        return Condition.APPLIED if verified else Condition.PUSHED_UNVERIFIED
    if snapshot_digest is not None and current.digest == snapshot_digest:
        return Condition.ROLLED_BACK
    return Condition.CHANGED_ELSEWHERE


def next_command(state: Condition, plan_id: str, stack: str) -> tuple[str | None, str]:
    """(the one command to run, or None; what it does or why there is none)."""
    apply = f"iacdrift surgery apply {plan_id} --yes"
    if state is Condition.NOT_STARTED:
        return apply, "carries the surgery out (approvals and staleness are checked again)"
    if state is Condition.PUSHED_UNVERIFIED:
        return apply, (
            "resumes: verifies the pushed state with a fresh plan and rolls back to the "
            "snapshot on a mismatch"
        )
    if state is Condition.APPLIED:
        return None, f"done; `iacdrift check {stack}` shows the stack"
    if state is Condition.ROLLED_BACK:
        return None, "the state is as before the surgery; plan the migration again to retry"
    if state is Condition.NO_STATE:
        return None, "the stack has no state object; look at the backend"
    return None, (
        f"someone wrote the state since; run `iacdrift check {stack}` and plan the migration again"
    )
