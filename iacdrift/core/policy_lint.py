"""Review policy documents the way a careful reviewer would: ``lint(policies, today)``.

Pure: a :class:`~iacdrift.models.policy.PolicySet` and the day in, a list of
:class:`~iacdrift.models.policy.LintFinding` out, sorted by (file, rule id,
severity, message).

Ignore rules are a risk surface: an ignored field is a field nobody watches.
What is flagged, and why:

=====================================================  ========  ==============================
finding                                                severity  why
=====================================================  ========  ==============================
ignore rule path covers a critical field (or lies in)  error     it hides identity, image,
                                                                 network, privilege,
                                                                 persistence or command
                                                                 execution drift
ignore rule path made only of ``*`` segments           error     it hides every field
ignore rule without address, stack, environment, tags  error     every resource of the type
ignore rule without ``expires``                        error     exceptions must be revisited
ignore rule expired                                    warning   it no longer applies
ignore rule expiring more than a year ahead            warning   effectively permanent
ignore rule shadowed by another                        warning   dead text that misleads
controller/runtime-owned path on a critical field      error     such drift is never alerted
auto-heal on an IAM/network/secrets/database type      error     never silently auto-healed
auto-heal allowed path on a critical field, not denied warning   a revert may destroy evidence
decision row allowing auto-heal for one of those        error     same
decision row or route that can never match             warning   dead text that misleads
=====================================================  ========  ==============================

"Covers" is prefix either way with ``*`` matching any segment: ignoring
``/ingress`` hides ``/ingress/0/cidr_blocks``, and ignoring
``/ingress/*/cidr_blocks`` hides part of the ingress rules. Rule A shadows rule B
when A is active, matches every resource B matches, ignores every path B
ignores, and lasts at least as long; of two identical rules the later one is
reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from enum import StrEnum

from iacdrift.core.risk import NEVER_AUTO_HEAL, domain_of
from iacdrift.models.finding import Domain
from iacdrift.models.policy import (
    WILDCARD,
    AutoHealPolicy,
    DecisionMatch,
    DecisionTable,
    FieldOwnership,
    IgnoreRule,
    LintFinding,
    PolicyKind,
    PolicySet,
    PolicySource,
    Route,
    Severity,
    pointer_covers,
    pointer_segments,
    pointers_overlap,
)

# An expiry further ahead than this is "effectively permanent".
MAX_EXPIRY = timedelta(days=366)


class FieldCategory(StrEnum):
    """The questions of the ignore-rule review checklist (design text, section 14.1)."""

    IDENTITY = "identity"
    IMAGE = "image"
    NETWORK = "network"
    PRIVILEGE = "privilege"
    PERSISTENCE = "persistence"
    COMMAND_EXECUTION = "command-execution"


_I = FieldCategory.IDENTITY
_IMG = FieldCategory.IMAGE
_N = FieldCategory.NETWORK
_P = FieldCategory.PRIVILEGE
_S = FieldCategory.PERSISTENCE
_X = FieldCategory.COMMAND_EXECUTION

# Per resource type: the attributes whose drift must stay visible. Attribute names
# are the AWS provider's (v3 to v5); a type that is not listed has none.
CRITICAL_FIELDS: Mapping[str, Mapping[str, FieldCategory]] = {
    # network exposure
    "aws_security_group": {"/ingress": _N, "/egress": _N, "/vpc_id": _N},
    "aws_security_group_rule": {
        "/type": _N,
        "/cidr_blocks": _N,
        "/ipv6_cidr_blocks": _N,
        "/prefix_list_ids": _N,
        "/source_security_group_id": _N,
        "/self": _N,
        "/from_port": _N,
        "/to_port": _N,
        "/protocol": _N,
        "/security_group_id": _N,
    },
    "aws_vpc_security_group_ingress_rule": {
        "/cidr_ipv4": _N,
        "/cidr_ipv6": _N,
        "/prefix_list_id": _N,
        "/referenced_security_group_id": _N,
        "/from_port": _N,
        "/to_port": _N,
        "/ip_protocol": _N,
    },
    "aws_vpc_security_group_egress_rule": {
        "/cidr_ipv4": _N,
        "/cidr_ipv6": _N,
        "/prefix_list_id": _N,
        "/referenced_security_group_id": _N,
        "/from_port": _N,
        "/to_port": _N,
        "/ip_protocol": _N,
    },
    "aws_network_acl": {"/ingress": _N, "/egress": _N, "/subnet_ids": _N},
    "aws_network_acl_rule": {
        "/cidr_block": _N,
        "/ipv6_cidr_block": _N,
        "/rule_action": _N,
        "/egress": _N,
        "/from_port": _N,
        "/to_port": _N,
        "/protocol": _N,
    },
    "aws_route": {
        "/destination_cidr_block": _N,
        "/gateway_id": _N,
        "/nat_gateway_id": _N,
        "/transit_gateway_id": _N,
        "/vpc_peering_connection_id": _N,
        "/network_interface_id": _N,
    },
    "aws_route_table": {"/route": _N},
    "aws_subnet": {"/map_public_ip_on_launch": _N, "/cidr_block": _N},
    "aws_lb": {"/internal": _N, "/security_groups": _N, "/subnets": _N},
    "aws_lb_listener": {"/default_action": _N, "/certificate_arn": _I, "/ssl_policy": _N},
    "aws_vpc_endpoint": {"/policy": _P, "/security_group_ids": _N},
    # identity and privilege
    "aws_iam_role": {
        "/assume_role_policy": _I,
        "/managed_policy_arns": _P,
        "/inline_policy": _P,
        "/permissions_boundary": _P,
    },
    "aws_iam_policy": {"/policy": _P},
    "aws_iam_role_policy": {"/policy": _P, "/role": _I},
    "aws_iam_role_policy_attachment": {"/policy_arn": _P, "/role": _I},
    "aws_iam_user": {"/permissions_boundary": _P},
    "aws_iam_user_policy": {"/policy": _P, "/user": _I},
    "aws_iam_user_policy_attachment": {"/policy_arn": _P, "/user": _I},
    "aws_iam_group_policy": {"/policy": _P, "/group": _I},
    "aws_iam_group_policy_attachment": {"/policy_arn": _P, "/group": _I},
    "aws_iam_group_membership": {"/users": _I, "/group": _I},
    "aws_iam_policy_attachment": {"/policy_arn": _P, "/roles": _I, "/users": _I, "/groups": _I},
    "aws_iam_instance_profile": {"/role": _I},
    "aws_iam_openid_connect_provider": {"/client_id_list": _I, "/thumbprint_list": _I, "/url": _I},
    "aws_lambda_permission": {"/principal": _P, "/source_arn": _P, "/action": _P},
    "aws_kms_key": {"/policy": _P, "/deletion_window_in_days": _S, "/is_enabled": _S},
    "aws_secretsmanager_secret": {"/policy": _P, "/kms_key_id": _P, "/recovery_window_in_days": _S},
    "aws_sns_topic": {"/policy": _P},
    "aws_sqs_queue": {"/policy": _P},
    "aws_ecr_repository": {"/image_tag_mutability": _IMG},
    "aws_ecr_repository_policy": {"/policy": _P},
    # storage
    "aws_s3_bucket": {
        "/policy": _P,
        "/acl": _P,
        "/grant": _P,
        "/website": _N,
        "/versioning": _S,
        "/lifecycle_rule": _S,
        "/object_lock_configuration": _S,
        "/replication_configuration": _S,
        "/logging": _S,
        "/server_side_encryption_configuration": _P,
    },
    "aws_s3_bucket_policy": {"/policy": _P},
    "aws_s3_bucket_acl": {"/acl": _P, "/access_control_policy": _P},
    "aws_s3_bucket_public_access_block": {
        "/block_public_acls": _P,
        "/block_public_policy": _P,
        "/ignore_public_acls": _P,
        "/restrict_public_buckets": _P,
    },
    "aws_s3_bucket_versioning": {"/versioning_configuration": _S},
    "aws_s3_bucket_lifecycle_configuration": {"/rule": _S},
    "aws_s3_bucket_object_lock_configuration": {"/rule": _S},
    # compute: image, identity, command execution
    "aws_instance": {
        "/ami": _IMG,
        "/user_data": _X,
        "/user_data_base64": _X,
        "/iam_instance_profile": _I,
        "/vpc_security_group_ids": _N,
        "/security_groups": _N,
        "/subnet_id": _N,
        "/associate_public_ip_address": _N,
        "/metadata_options": _I,
        "/launch_template": _IMG,
    },
    "aws_launch_template": {
        "/image_id": _IMG,
        "/user_data": _X,
        "/iam_instance_profile": _I,
        "/vpc_security_group_ids": _N,
        "/network_interfaces": _N,
        "/metadata_options": _I,
    },
    "aws_autoscaling_group": {
        "/launch_template": _IMG,
        "/launch_configuration": _IMG,
        "/mixed_instances_policy": _IMG,
        "/vpc_zone_identifier": _N,
    },
    "aws_lambda_function": {
        "/image_uri": _IMG,
        "/filename": _IMG,
        "/s3_bucket": _IMG,
        "/s3_key": _IMG,
        "/s3_object_version": _IMG,
        "/source_code_hash": _IMG,
        "/role": _I,
        "/handler": _X,
        "/runtime": _X,
        "/layers": _X,
        "/environment": _X,
        "/vpc_config": _N,
    },
    "aws_ecs_task_definition": {
        "/container_definitions": _IMG,
        "/task_role_arn": _I,
        "/execution_role_arn": _I,
    },
    "aws_ecs_service": {"/task_definition": _IMG, "/network_configuration": _N},
    "aws_eks_cluster": {"/role_arn": _I, "/vpc_config": _N, "/access_config": _I},
    "aws_ssm_document": {"/content": _X},
    "aws_ssm_association": {"/name": _X, "/parameters": _X, "/targets": _X},
    "aws_cloudwatch_event_target": {"/arn": _X, "/input": _X, "/role_arn": _I},
    # databases and audit
    "aws_db_instance": {
        "/publicly_accessible": _N,
        "/vpc_security_group_ids": _N,
        "/iam_database_authentication_enabled": _I,
        "/username": _I,
        "/deletion_protection": _S,
        "/backup_retention_period": _S,
        "/kms_key_id": _P,
        "/engine_version": _IMG,
    },
    "aws_rds_cluster": {
        "/vpc_security_group_ids": _N,
        "/iam_database_authentication_enabled": _I,
        "/master_username": _I,
        "/deletion_protection": _S,
        "/backup_retention_period": _S,
        "/kms_key_id": _P,
        "/engine_version": _IMG,
    },
    "aws_cloudtrail": {
        "/enable_logging": _S,
        "/s3_bucket_name": _S,
        "/event_selector": _S,
        "/is_multi_region_trail": _S,
    },
}


def critical_overlaps(resource_type: str, path: str) -> list[tuple[str, FieldCategory]]:
    """The critical fields of ``resource_type`` that ``path`` covers or lies in, sorted."""
    fields = CRITICAL_FIELDS.get(resource_type, {})
    return sorted(
        (field, category) for field, category in fields.items() if pointers_overlap(path, field)
    )


def lint(policies: PolicySet, today: date) -> list[LintFinding]:
    """Every lint finding of ``policies`` on ``today``, sorted by (file, rule id, severity,
    message)."""
    findings: list[LintFinding] = []
    findings.extend(_ignore_rule_findings(policies, today))
    for source in policies.sources:
        document = source.document
        if isinstance(document, FieldOwnership):
            findings.extend(_ownership_findings(source, document))
        elif isinstance(document, AutoHealPolicy):
            findings.extend(_auto_heal_findings(source, document))
        elif isinstance(document, DecisionTable):
            findings.extend(_decision_findings(source, document))
    findings.extend(_route_findings(policies))
    return sorted(findings, key=lambda f: (f.file, f.ruleId, f.severity.value, f.message))


def has_errors(findings: list[LintFinding]) -> bool:
    return any(finding.severity is Severity.ERROR for finding in findings)


def _finding(source: PolicySource, severity: Severity, message: str) -> LintFinding:
    return LintFinding(
        ruleId=source.document.id,
        kind=PolicyKind(source.document.kind),
        file=source.file,
        severity=severity,
        message=message,
    )


def _hidden(resource_type: str, path: str) -> str | None:
    """What ``path`` would hide on ``resource_type``, said in a phrase; None if nothing."""
    if all(segment == WILDCARD for segment in pointer_segments(path)):
        return "every field of the resource"
    overlaps = critical_overlaps(resource_type, path)
    if not overlaps:
        return None
    return ", ".join(f"{category.value} field {field}" for field, category in overlaps)


# --- ignore rules -----------------------------------------------------------------


def _ignore_rule_findings(policies: PolicySet, today: date) -> list[LintFinding]:
    findings: list[LintFinding] = []
    sources = list(policies.sources_of(IgnoreRule))
    for source in sources:
        rule = source.document
        assert isinstance(rule, IgnoreRule)
        resource_type = rule.match.resourceType
        for path in rule.paths:
            hidden = _hidden(resource_type, path)
            if hidden:
                findings.append(
                    _finding(
                        source,
                        Severity.ERROR,
                        f"path {path} would hide {hidden} of {resource_type}; ignore only "
                        "fields a controller or the runtime owns (narrow the path), and fix "
                        "drift in critical fields instead",
                    )
                )
        if not rule.match.scoped:
            findings.append(
                _finding(
                    source,
                    Severity.ERROR,
                    f"unscoped: matches every {resource_type} everywhere; scope it by "
                    "match.address, match.stack, match.environment or match.tags",
                )
            )
        if rule.expires is None:
            findings.append(
                _finding(
                    source,
                    Severity.ERROR,
                    "no expiry; add expires: YYYY-MM-DD so the exception is revisited",
                )
            )
        elif not rule.active(today):
            findings.append(
                _finding(
                    source,
                    Severity.WARNING,
                    f"expired on {rule.expires.isoformat()}: no longer applied; review it and "
                    "set a new expiry, or delete it",
                )
            )
        elif rule.expires - today > MAX_EXPIRY:
            findings.append(
                _finding(
                    source,
                    Severity.WARNING,
                    f"expires {rule.expires.isoformat()}, more than a year ahead; set an "
                    "expiry within a year so the exception is reviewed",
                )
            )
        shadow = _shadowing(source, sources, today)
        if shadow is not None:
            findings.append(
                _finding(
                    source,
                    Severity.WARNING,
                    f"shadowed by {shadow.document.id!r} ({shadow.where}), which already "
                    "ignores every path of this rule on every resource it matches; delete "
                    "one of them",
                )
            )
    return findings


def _shadows(outer: IgnoreRule, inner: IgnoreRule) -> bool:
    lasts = outer.expires is None or (inner.expires is not None and outer.expires >= inner.expires)
    return (
        lasts
        and outer.match.covers(inner.match)
        and all(any(pointer_covers(o, i) for o in outer.paths) for i in inner.paths)
    )


def _shadowing(
    source: PolicySource, sources: list[PolicySource], today: date
) -> PolicySource | None:
    """The first active rule that shadows ``source``'s rule; mutual shadows: the earlier."""
    rule = source.document
    assert isinstance(rule, IgnoreRule)
    if not rule.active(today):
        return None
    index = sources.index(source)
    for position, other in enumerate(sources):
        candidate = other.document
        assert isinstance(candidate, IgnoreRule)
        if other is source or not candidate.active(today) or not _shadows(candidate, rule):
            continue
        # Two rules that shadow each other: only the later one is reported.
        if position > index and _shadows(rule, candidate):
            continue
        return other
    return None


# --- field ownership -----------------------------------------------------------------


def _ownership_findings(source: PolicySource, ownership: FieldOwnership) -> list[LintFinding]:
    quiet = [("runtime-owned", path) for path in ownership.runtimeOwned] + [
        (f"controller-owned ({field.owner})", field.path) for field in ownership.controllerOwned
    ]
    findings = []
    for label, path in quiet:
        hidden = _hidden(ownership.resourceType, path)
        if hidden:
            findings.append(
                _finding(
                    source,
                    Severity.ERROR,
                    f"{label} path {path} would make drift in {hidden} of "
                    f"{ownership.resourceType} quiet (CONTROLLER_OWNED_DRIFT is never "
                    "alerted); list it under gitOwned or narrow the path",
                )
            )
    return findings


# --- auto-heal -----------------------------------------------------------------------


def _auto_heal_findings(source: PolicySource, policy: AutoHealPolicy) -> list[LintFinding]:
    findings = []
    for resource_type in policy.appliesTo.resourceTypes:
        domain = domain_of(resource_type)
        if domain in NEVER_AUTO_HEAL:
            findings.append(
                _finding(
                    source,
                    Severity.ERROR,
                    f"auto-heal on {resource_type} ({domain.value}): IAM, network, secrets "
                    "and database drift is never silently auto-healed; remove the type "
                    "from appliesTo.resourceTypes",
                )
            )
        critical = CRITICAL_FIELDS.get(resource_type, {})
        for allowed in policy.allowedPaths:
            for field, category in sorted(critical.items()):
                denied = any(pointer_covers(d, field) for d in policy.deniedPaths)
                if pointers_overlap(allowed, field) and not denied:
                    findings.append(
                        _finding(
                            source,
                            Severity.WARNING,
                            f"allowed path {allowed} lets auto-heal revert {category.value} "
                            f"field {field} of {resource_type}, destroying the evidence; add "
                            f"{field} to deniedPaths or narrow the path",
                        )
                    )
    return findings


# --- decision table ----------------------------------------------------------------


def _decision_findings(source: PolicySource, table: DecisionTable) -> list[LintFinding]:
    findings = []
    for index, row in enumerate(table.rows):
        earlier = table.rows[:index]
        for position, previous in enumerate(earlier):
            if previous.match.covers(row.match):
                findings.append(
                    _finding(
                        source,
                        Severity.WARNING,
                        f"rows.{index} never matches: rows.{position} matches everything it "
                        "does and comes first; delete it or move it up",
                    )
                )
                break
        else:
            if row.autoHealAllowed:
                exposed = _never_heal_reached(row.match, [p.match for p in earlier])
                if exposed:
                    names = ", ".join(domain.value for domain in exposed)
                    findings.append(
                        _finding(
                            source,
                            Severity.ERROR,
                            f"rows.{index} allows auto-heal for {names} findings, which are "
                            "never silently auto-healed; give the row a domain, or put rows "
                            "for those domains before it",
                        )
                    )
    return findings


def _never_heal_reached(match: DecisionMatch, earlier: list[DecisionMatch]) -> list[Domain]:
    """The never-auto-heal domains a row can still decide for, after the rows before it."""
    domains = [match.domain] if match.domain is not None else sorted(NEVER_AUTO_HEAL)
    reached = []
    for domain in domains:
        if domain not in NEVER_AUTO_HEAL:
            continue
        narrowed = match.model_copy(update={"domain": domain})
        if not any(previous.covers(narrowed) for previous in earlier):
            reached.append(domain)
    return reached


# --- routes -------------------------------------------------------------------------


def _route_findings(policies: PolicySet) -> list[LintFinding]:
    findings = []
    sources = list(policies.sources_of(Route))
    for index, source in enumerate(sources):
        route = source.document
        assert isinstance(route, Route)
        for previous in sources[:index]:
            earlier = previous.document
            assert isinstance(earlier, Route)
            if not earlier.continueMatching and earlier.match.covers(route.match):
                findings.append(
                    _finding(
                        source,
                        Severity.WARNING,
                        f"never matches: route {earlier.id!r} ({previous.where}) comes first, "
                        "matches everything it does and stops there; delete it, reorder, or "
                        f"set continueMatching: true on {earlier.id!r}",
                    )
                )
                break
    return findings
