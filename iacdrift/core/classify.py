"""Default classification: relationship + domain + context -> class, risk, action.

Deliberately simple and fully deterministic; the policy engine (field
ownership, audit correlation, change records, decision tables) replaces it.
What it already guarantees:

* noise-only differences are PROVIDER_READ_NOISE, INFO, never alerted;
* fields under ``lifecycle.ignore_changes`` are CONTROLLER_OWNED_DRIFT, INFO;
* IAM, network exposure, secrets and databases are never auto-healed.
"""

from __future__ import annotations

from dataclasses import dataclass

from iacdrift.models.finding import QUIET_CLASSES, Action, Domain, DriftClass, Relationship, Risk

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


@dataclass(frozen=True)
class Decision:
    drift_class: DriftClass
    risk: Risk
    alert: bool
    action: Action
    auto_heal_allowed: bool
    reason: str


def _shift(risk: Risk, steps: int) -> Risk:
    order = list(Risk)
    # Never below LOW for real drift: INFO is reserved for quiet classes.
    return order[max(1, min(len(order) - 1, risk.rank + steps))]


def _risk(domain: Domain, context: Context) -> Risk:
    risk = _BASE_RISK[domain]
    if context.environment == "prod":
        if context.risk_tier in {"critical", "high"} and domain in NEVER_AUTO_HEAL:
            risk = _shift(risk, 1)
    elif context.environment is not None:
        risk = _shift(risk, -1)
    return risk


def classify(
    relationship: Relationship,
    domain: Domain,
    context: Context,
    *,
    all_fields_ignored: bool = False,
) -> Decision:
    """The default decision for one finding."""
    if relationship is Relationship.NOISE_ONLY:
        return _quiet(
            DriftClass.PROVIDER_READ_NOISE,
            "the difference vanishes under normalization: provider-read noise",
        )
    if relationship is Relationship.RECORDED_NE_ACTUAL and all_fields_ignored:
        return _quiet(
            DriftClass.CONTROLLER_OWNED_DRIFT,
            "every changed field is under lifecycle.ignore_changes: owned outside Terraform",
        )
    risk = _risk(domain, context)
    sensitive_domain = domain in NEVER_AUTO_HEAL
    prod = context.environment == "prod"
    if relationship is Relationship.MISSING_IN_ACTUAL:
        return Decision(
            DriftClass.STATE_DRIFT,
            risk,
            True,
            Action.INVESTIGATE,
            False,
            "recorded in state but gone from the provider: find out who deleted it before "
            "recreating (APPLY) or forgetting it (REMOVE_FROM_STATE)",
        )
    if relationship is Relationship.UNMANAGED:
        return Decision(
            DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
            risk,
            risk.rank >= Risk.MEDIUM.rank,
            Action.INVESTIGATE,
            False,
            "live resource in no registered state: IMPORT it into its owner's stack or DELETE it",
        )
    if relationship is Relationship.DESIRED_NE_RECORDED:
        pending_risk = _shift(risk, -1)
        return Decision(
            DriftClass.PENDING_APPLY,
            pending_risk,
            False,
            Action.APPLY,
            False,
            "the configuration differs from the state while the provider matches the state: "
            "a change not applied yet",
        )
    if relationship is Relationship.RECORDED_NE_ACTUAL:
        return Decision(
            DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
            _shift(risk, -1),
            True,
            Action.INVESTIGATE,
            False,
            "changed outside Terraform on a field the configuration does not set: bring it "
            "under the code (UPDATE_CODE) or accept it (REFRESH)",
        )
    # Out-of-band change (desired==recorded!=actual) or desired!=actual.
    action = Action.INCIDENT_AND_REVERT if sensitive_domain and prod else Action.REVERT
    heal = context.auto_heal and not sensitive_domain and action is Action.REVERT
    return Decision(
        DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
        risk,
        True,
        action,
        heal,
        f"changed outside Terraform with no change record; {domain.value} drift in "
        f"{context.environment or 'an unknown environment'}",
    )


def _quiet(drift_class: DriftClass, reason: str) -> Decision:
    assert drift_class in QUIET_CLASSES
    return Decision(drift_class, Risk.INFO, False, Action.IGNORE, False, reason)
