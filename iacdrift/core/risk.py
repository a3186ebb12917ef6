"""Domains and base risk of a resource: the parts of classification that depend
on the resource type and the stack alone. The class table is core.decide.

IAM, network exposure, secrets and databases are never auto-healed.
"""

from __future__ import annotations

from dataclasses import dataclass

from iacdrift.models.finding import Domain, Risk

_DOMAIN_PREFIXES: tuple[tuple[str, Domain], ...] = (
    ("aws_iam_", Domain.IAM),
    ("aws_security_group", Domain.NETWORK),
    ("aws_vpc", Domain.NETWORK),
    ("aws_subnet", Domain.NETWORK),
    ("aws_route", Domain.NETWORK),
    ("aws_network_acl", Domain.NETWORK),
    ("aws_lb", Domain.NETWORK),
    ("aws_alb", Domain.NETWORK),
    ("aws_eip", Domain.NETWORK),
    ("aws_nat_gateway", Domain.NETWORK),
    ("aws_internet_gateway", Domain.NETWORK),
    ("aws_secretsmanager_", Domain.SECRETS),
    ("aws_kms_", Domain.SECRETS),
    ("aws_ssm_parameter", Domain.SECRETS),
    ("aws_acm_", Domain.SECRETS),
    ("aws_db_", Domain.DATABASE),
    ("aws_rds_", Domain.DATABASE),
    ("aws_dynamodb_", Domain.DATABASE),
    ("aws_elasticache_", Domain.DATABASE),
    ("aws_instance", Domain.COMPUTE),
    ("aws_launch_template", Domain.COMPUTE),
    ("aws_autoscaling_", Domain.COMPUTE),
    ("aws_lambda_", Domain.COMPUTE),
    ("aws_ecs_", Domain.COMPUTE),
    ("aws_eks_", Domain.COMPUTE),
    ("aws_s3_", Domain.STORAGE),
    ("aws_ebs_", Domain.STORAGE),
    ("aws_efs_", Domain.STORAGE),
    ("aws_budgets_", Domain.COST),
    ("aws_cloudwatch_log_group", Domain.COST),
)

# Domains where a silent revert could destroy forensic context or stabilisation.
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
    for prefix, domain in _DOMAIN_PREFIXES:
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
