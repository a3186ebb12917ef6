"""Domains and base risk of a resource: the parts of classification that depend
on the resource type and the stack alone. The class table is core.decide; which
domain a type belongs to is core.resource_types (the catalogue).

IAM, network exposure, secrets and databases are never auto-healed.
"""

from __future__ import annotations

from dataclasses import dataclass

from iacdrift.core.resource_types import DOMAIN_PREFIXES
from iacdrift.models.finding import Domain, Risk

# Domains where a silent revert could destroy forensic context or stabilisation.
# Risk policy is per domain; which types fall in a domain is the catalogue's.
NEVER_AUTO_HEAL: frozenset[Domain] = frozenset(
    {Domain.IAM, Domain.NETWORK, Domain.SECRETS, Domain.DATABASE}
)

_BASE_RISK: dict[Domain, Risk] = {
    Domain.IAM: Risk.HIGH,
    Domain.NETWORK: Risk.HIGH,
    Domain.SECRETS: Risk.HIGH,
    Domain.DATABASE: Risk.HIGH,
    Domain.COMPUTE: Risk.MEDIUM,
    Domain.STORAGE: Risk.MEDIUM,
    Domain.COST: Risk.LOW,
    Domain.OTHER: Risk.LOW,
}


def domain_of(resource_type: str) -> Domain:
    """The domain of the first catalogue prefix ``resource_type`` starts with, else OTHER."""
    for prefix, domain in DOMAIN_PREFIXES:
        if resource_type.startswith(prefix):
            return domain
    return Domain.OTHER


@dataclass(frozen=True)
class Context:
    """What the registry says about the stack the finding belongs to."""

    environment: str | None
    risk_tier: str | None
    auto_heal: bool = False


def shift_risk(risk: Risk, steps: int) -> Risk:
    order = list(Risk)
    # Never below LOW for real drift: INFO is reserved for quiet classes.
    return order[max(1, min(len(order) - 1, risk.rank + steps))]


def base_risk(domain: Domain, context: Context) -> Risk:
    risk = _BASE_RISK[domain]
    if context.environment == "prod":
        if context.risk_tier in {"critical", "high"} and domain in NEVER_AUTO_HEAL:
            risk = shift_risk(risk, 1)
    elif context.environment is not None:
        risk = shift_risk(risk, -1)
    return risk
