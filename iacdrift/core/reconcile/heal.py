"""Bounded auto-heal: which findings of a checked stack ``run --auto-heal`` reverts.

Contract of :func:`heal_candidates` (pure; the caller carries the heal out with
``repair apply``'s machinery, which adds the object cap, the targeted-plan bounds,
verification and rollback):

1. Candidates: findings that make the stack DRIFTED (not quiet, not suppressed), with
   ``autoHealAllowed`` and the action REVERT; never one in a domain that is never
   auto-healed (iam, network, secrets, database), whatever the policy said. None:
   no heal at all (nothing is recorded).
2. Off unless the registry entry says ``policies.autoHeal: true``.
3. Health (``requireHealthyBeforeHeal`` of an AutoHealPolicy that applies): this
   check answered (it is not ERROR, STALE or LOCKED) and so did the stack's previous
   recorded check, if there is one; the state was not found locked.
Rules 2-3 that fail give the reason the heal was skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iacdrift.core.risk import NEVER_AUTO_HEAL, domain_of
from iacdrift.models.finding import ANSWERED, QUIET_CLASSES, Action, Finding, StackResult
from iacdrift.models.policy import AutoHealPolicy


@dataclass(frozen=True)
class HealDecision:
    findings: tuple[Finding, ...]
    skip: str | None = None  # why the heal does not run; None: it runs


def heal_candidates(
    result: StackResult,
    previous: StackResult | None,
    *,
    enabled: bool,
    require_healthy: bool,
) -> HealDecision:
    """What to heal in ``result`` (rules in the module docstring)."""
    found = tuple(
        f
        for f in result.findings
        if f.driftClass not in QUIET_CLASSES
        and not f.suppressed
        and f.autoHealAllowed
        and f.recommendedAction is Action.REVERT
        and domain_of(f.resourceType) not in NEVER_AUTO_HEAL
    )
    if not found:
        return HealDecision(())
    if not enabled:
        return HealDecision(found, "the registry entry does not say policies.autoHeal: true")
    if require_healthy:
        if result.lock is not None:
            return HealDecision(found, f"not healthy: the state is locked by {result.lock.who}")
        if result.status not in ANSWERED:
            return HealDecision(found, f"not healthy: this check is {result.status.value}")
        if previous is not None and previous.status not in ANSWERED:
            return HealDecision(
                found,
                f"not healthy: the previous check ({previous.checkedAt.isoformat()}) was "
                f"{previous.status.value}; heal after a healthy check",
            )
    return HealDecision(found)


def stack_policies(
    policies: Sequence[AutoHealPolicy], *, risk_tier: str, environment: str | None
) -> list[AutoHealPolicy]:
    """The AutoHealPolicies that apply to a stack of ``risk_tier`` in ``environment``
    for some resource type: what bounds its heals (the object cap, the health rule)."""
    return [
        p
        for p in policies
        if any(
            p.applies_to(resource_type=t, risk_tier=risk_tier, environment=environment)
            for t in p.appliesTo.resourceTypes
        )
    ]
