"""A canonical form of a resource's attributes, for deciding what really differs.

Contract: ``normalize(type_name, attributes)`` returns a new value (the input is
not modified) such that two readings of the same real object compare equal even
when the provider or AWS wrote them differently:

a. **JSON documents.** A string whose text starts with ``{`` or ``[`` and parses
   as JSON is replaced by the parsed document (so a pointer such as
   ``/policy/Statement/0/Action`` reaches inside it). An IAM policy document (an
   object with ``Statement``) is also canonicalized: a single statement object
   becomes a one-element list; Action/NotAction/Resource/NotResource, the
   values of Principal/NotPrincipal and of every Condition key become sorted
   lists without duplicates (AWS treats ``"s3:GetObject"`` and
   ``["s3:GetObject"]`` alike); statements are compared without order; a
   missing Version is AWS's default ``2008-10-17``.
b. **Sets.** Attributes that the provider schema declares as sets (SET_ATTRIBUTES,
   plus the IAM positions above) become lists sorted by canonical JSON, without
   duplicates and without empty elements.
c. **Empty.** ``null``, ``{}``, ``[]`` and ``""`` are all "empty", represented
   by ``None``; an object key whose value is empty is dropped; an object or list
   that ends up with nothing in it is empty itself.
d. **Provider defaults.** A value equal to the provider's default for that
   attribute is empty too: ``path = "/"`` on an IAM role is the same as no path.
   Defaults are keyed by provider and version (:func:`provider_defaults`: a
   table every hashicorp/aws version shares, and the defaults that changed between
   versions); DEFAULTS are those of hashicorp/aws 3.39.0, for callers that name no
   version. :func:`default_for` gives the default back for display.

Numbers that are integral floats become ints (Terraform has one number type).
Booleans are never "empty": ``false`` differs from ``null`` unless a default
says otherwise.

Pointer parts: attribute names and object keys are ``str``; positions in a list
(ordered or set) are ``int``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from iacdrift.primitives.canonical import canonical_json

Part = str | int

# Wildcard for "any position in a list" in the tables below.
ANY = "*"

# Set-typed attributes in hashicorp/aws 3.39 schemas, as paths with ANY for a
# list position. Only resource types are listed; an unlisted list is ordered.
SET_ATTRIBUTES: Mapping[str, frozenset[tuple[str, ...]]] = {
    "aws_security_group": frozenset(
        {
            ("ingress",),
            ("egress",),
            ("ingress", ANY, "cidr_blocks"),
            ("ingress", ANY, "ipv6_cidr_blocks"),
            ("ingress", ANY, "prefix_list_ids"),
            ("ingress", ANY, "security_groups"),
            ("egress", ANY, "cidr_blocks"),
            ("egress", ANY, "ipv6_cidr_blocks"),
            ("egress", ANY, "prefix_list_ids"),
            ("egress", ANY, "security_groups"),
        }
    ),
    "aws_default_security_group": frozenset(
        {
            ("ingress",),
            ("egress",),
            ("ingress", ANY, "cidr_blocks"),
            ("ingress", ANY, "ipv6_cidr_blocks"),
            ("ingress", ANY, "prefix_list_ids"),
            ("ingress", ANY, "security_groups"),
            ("egress", ANY, "cidr_blocks"),
            ("egress", ANY, "ipv6_cidr_blocks"),
            ("egress", ANY, "prefix_list_ids"),
            ("egress", ANY, "security_groups"),
        }
    ),
    "aws_iam_role": frozenset({("managed_policy_arns",), ("inline_policy",)}),
    "aws_iam_policy_attachment": frozenset({("users",), ("roles",), ("groups",)}),
    "aws_iam_group_membership": frozenset({("users",)}),
    "aws_iam_user_group_membership": frozenset({("groups",)}),
    "aws_s3_bucket": frozenset(
        {
            ("grant",),
            ("grant", ANY, "permissions"),
            ("replication_configuration", ANY, "rules"),
        }
    ),
    "aws_instance": frozenset(
        {
            ("vpc_security_group_ids",),
            ("security_groups",),
            ("ebs_block_device",),
            ("ephemeral_block_device",),
            ("network_interface",),
        }
    ),
    "aws_launch_configuration": frozenset({("security_groups",), ("ebs_block_device",)}),
    "aws_lb": frozenset({("security_groups",), ("subnets",), ("subnet_mapping",)}),
    "aws_db_instance": frozenset(
        {
            ("vpc_security_group_ids",),
            ("security_group_names",),
            ("enabled_cloudwatch_logs_exports",),
        }
    ),
    "aws_rds_cluster": frozenset(
        {("vpc_security_group_ids",), ("availability_zones",), ("iam_roles",)}
    ),
    "aws_db_subnet_group": frozenset({("subnet_ids",)}),
    "aws_elasticache_cluster": frozenset({("security_group_ids",)}),
    "aws_elasticache_subnet_group": frozenset({("subnet_ids",)}),
    "aws_vpc_endpoint": frozenset({("route_table_ids",), ("subnet_ids",), ("security_group_ids",)}),
    "aws_network_acl": frozenset({("ingress",), ("egress",), ("subnet_ids",)}),
    "aws_default_network_acl": frozenset({("ingress",), ("egress",), ("subnet_ids",)}),
    "aws_route_table": frozenset({("route",), ("propagating_vgws",)}),
    "aws_default_route_table": frozenset({("route",), ("propagating_vgws",)}),
    "aws_lambda_function": frozenset(
        {("vpc_config", ANY, "subnet_ids"), ("vpc_config", ANY, "security_group_ids")}
    ),
    "aws_eks_cluster": frozenset(
        {
            ("enabled_cluster_log_types",),
            ("vpc_config", ANY, "subnet_ids"),
            ("vpc_config", ANY, "security_group_ids"),
            ("vpc_config", ANY, "public_access_cidrs"),
        }
    ),
    "aws_autoscaling_group": frozenset(
        {
            ("availability_zones",),
            ("vpc_zone_identifier",),
            ("load_balancers",),
            ("target_group_arns",),
            ("tag",),
            ("enabled_metrics",),
            ("suspended_processes",),
            ("termination_policies",),
        }
    ),
    "aws_ecs_service": frozenset(
        {
            ("load_balancer",),
            ("placement_constraints",),
            ("network_configuration", ANY, "subnets"),
            ("network_configuration", ANY, "security_groups"),
        }
    ),
    "aws_cloudfront_distribution": frozenset({("aliases",), ("origin",)}),
    "aws_network_interface": frozenset({("security_groups",), ("private_ips",)}),
}

Defaults = Mapping[str, Mapping[tuple[str, ...], Any]]

# Provider defaults shared by every hashicorp/aws version iacdrift knows (2.x and 3.x):
# a value equal to these is "empty". Version-specific ones are in _AWS_BY_VERSION.
_AWS_COMMON: Defaults = {
    "aws_iam_role": {
        ("path",): "/",
        ("max_session_duration",): 3600,
        ("force_detach_policies",): False,
    },
    "aws_iam_policy": {("path",): "/"},
    "aws_iam_user": {("path",): "/", ("force_destroy",): False},
    "aws_iam_group": {("path",): "/"},
    "aws_iam_instance_profile": {("path",): "/"},
    "aws_s3_bucket": {
        ("force_destroy",): False,
        ("acl",): "private",
        # The 3.x provider reads back a versioning block for every bucket and
        # a payer for every bucket, configured or not.
        ("request_payer",): "BucketOwner",
        ("versioning", ANY, "enabled"): False,
        ("versioning", ANY, "mfa_delete"): False,
    },
    "aws_security_group": {
        ("revoke_rules_on_delete",): False,
        ("ingress", ANY, "self"): False,
        ("egress", ANY, "self"): False,
    },
    "aws_security_group_rule": {("self",): False},
    "aws_db_instance": {
        ("skip_final_snapshot",): False,
        ("deletion_protection",): False,
        ("publicly_accessible",): False,
        ("copy_tags_to_snapshot",): False,
        ("auto_minor_version_upgrade",): True,
    },
    "aws_kms_key": {
        ("is_enabled",): True,
        ("enable_key_rotation",): False,
        ("key_usage",): "ENCRYPT_DECRYPT",
        ("customer_master_key_spec",): "SYMMETRIC_DEFAULT",
    },
    "aws_sqs_queue": {
        ("delay_seconds",): 0,
        ("max_message_size",): 262144,
        ("message_retention_seconds",): 345600,
        ("receive_wait_time_seconds",): 0,
        ("visibility_timeout_seconds",): 30,
        ("fifo_queue",): False,
        ("content_based_deduplication",): False,
    },
    "aws_lambda_function": {
        ("memory_size",): 128,
        ("timeout",): 3,
        ("publish",): False,
        ("reserved_concurrent_executions",): -1,
        ("package_type",): "Zip",
    },
    "aws_instance": {
        ("source_dest_check",): True,
        ("ebs_optimized",): False,
        ("monitoring",): False,
        ("get_password_data",): False,
        ("disable_api_termination",): False,
    },
    "aws_vpc": {
        ("enable_dns_support",): True,
        ("instance_tenancy",): "default",
        ("assign_generated_ipv6_cidr_block",): False,
    },
    "aws_subnet": {
        ("map_public_ip_on_launch",): False,
        ("assign_ipv6_address_on_creation",): False,
    },
    "aws_secretsmanager_secret": {("recovery_window_in_days",): 30},
    "aws_ssm_parameter": {("tier",): "Standard"},
    "aws_cloudwatch_log_group": {("retention_in_days",): 0},
}

Version = tuple[int, ...]

# Defaults that changed between versions: (first version, first version not covered,
# the table). Observed with the real providers: a serverless aws_rds_cluster applied
# with 2.70.0 records scaling_configuration.min_capacity 2; 3.39.0 defaults it to 1
# and plans an update (a behaviour change, not noise, which `provider-diff` reports).
_AWS_BY_VERSION: tuple[tuple[Version, Version, Defaults], ...] = (
    (
        (0,),
        (3,),
        {
            "aws_rds_cluster": {
                ("scaling_configuration", ANY, "min_capacity"): 2,
                ("scaling_configuration", ANY, "max_capacity"): 16,
                ("scaling_configuration", ANY, "auto_pause"): True,
                ("scaling_configuration", ANY, "seconds_until_auto_pause"): 300,
                ("scaling_configuration", ANY, "timeout_action"): "RollbackCapacityChange",
            },
        },
    ),
    (
        (3,),
        (4,),
        {
            "aws_rds_cluster": {
                ("scaling_configuration", ANY, "min_capacity"): 1,
                ("scaling_configuration", ANY, "max_capacity"): 16,
                ("scaling_configuration", ANY, "auto_pause"): True,
                ("scaling_configuration", ANY, "seconds_until_auto_pause"): 300,
                ("scaling_configuration", ANY, "timeout_action"): "RollbackCapacityChange",
            },
        },
    ),
)
# The provider and version whose defaults apply when a caller names none: the version
# every example stack (and most of an estate) plans with.
DEFAULT_PROVIDER = "hashicorp/aws"
DEFAULT_VERSION = "3.39.0"


def parse_version(text: str) -> Version | None:
    """``"3.39.0"`` -> ``(3, 39, 0)``; None for anything that is not dotted numbers
    (a pre-release suffix is dropped: ``"5.0.0-beta1"`` -> ``(5, 0, 0)``)."""
    head = text.strip().lstrip("v").split("-", 1)[0].split("+", 1)[0]
    parts = head.split(".")
    if not parts or not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def provider_defaults(provider: str, version: str | None) -> Defaults:
    """The defaults table of ``provider`` (``hashicorp/aws``, with or without its
    registry host) at ``version``. A provider iacdrift has no table for has no
    defaults; an unknown or unreadable version of a known one gets the newest table
    (the defaults of the version most stacks run)."""
    if provider.rsplit("/", 2)[-2:] != DEFAULT_PROVIDER.split("/"):
        return {}
    parsed = parse_version(version) if version else None
    if parsed is None:
        parsed = parse_version(DEFAULT_VERSION)
    assert parsed is not None
    merged: dict[str, dict[tuple[str, ...], Any]] = {
        type_name: dict(table) for type_name, table in _AWS_COMMON.items()
    }
    newest: Defaults = _AWS_BY_VERSION[-1][2]
    matched = False
    for first, beyond, table in _AWS_BY_VERSION:
        if first <= parsed < beyond:
            matched = True
            for type_name, entries in table.items():
                merged.setdefault(type_name, {}).update(entries)
    if not matched:
        for type_name, entries in newest.items():
            merged.setdefault(type_name, {}).update(entries)
    return merged


# The defaults of DEFAULT_PROVIDER at DEFAULT_VERSION: what callers that name no
# version get.
DEFAULTS: Defaults = provider_defaults(DEFAULT_PROVIDER, DEFAULT_VERSION)

# IAM policy document keys whose values are sets.
_IAM_LIST_KEYS = frozenset({"Action", "NotAction", "Resource", "NotResource"})
_IAM_PRINCIPAL_KEYS = frozenset({"Principal", "NotPrincipal"})
# AWS: "If you do not include a Version element, the value defaults to 2008-10-17."
IAM_DEFAULT_VERSION = "2008-10-17"


def _pattern(parts: Sequence[Part]) -> tuple[str, ...]:
    return tuple(ANY if isinstance(p, int) else p for p in parts)


def _iam_set_position(parts: Sequence[Part]) -> bool:
    """Set positions inside an IAM policy document (reached through ``Statement``).

    Resource schema attribute names are snake_case, so a part spelled
    ``Statement`` can only come from inside a JSON document.
    """
    n = len(parts)
    if n >= 1 and parts[-1] == "Statement":
        return True
    if n >= 3 and parts[-3] == "Statement" and isinstance(parts[-2], int):
        return parts[-1] in _IAM_LIST_KEYS
    if n >= 4 and parts[-4] == "Statement" and isinstance(parts[-3], int):
        return parts[-2] in _IAM_PRINCIPAL_KEYS and isinstance(parts[-1], str)
    if n >= 5 and parts[-5] == "Statement" and isinstance(parts[-4], int):
        return parts[-3] == "Condition" and isinstance(parts[-1], str)
    return False


def is_set_attribute(type_name: str, pointer_parts: Sequence[Part]) -> bool:
    """True when the list at ``pointer_parts`` is a set (compared without order).

    ``pointer_parts`` are the steps from the resource's root; list positions are
    ints. Covers the schema sets of SET_ATTRIBUTES and the set positions of IAM
    policy documents inside JSON-document attributes.
    """
    table = SET_ATTRIBUTES.get(type_name)
    if table is not None and _pattern(pointer_parts) in table:
        return True
    return "Statement" in pointer_parts and _iam_set_position(pointer_parts)


def set_root(type_name: str, pointer_parts: Sequence[Part]) -> tuple[Part, ...] | None:
    """The outermost set attribute that contains ``pointer_parts``, or None."""
    for end in range(1, len(pointer_parts) + 1):
        if is_set_attribute(type_name, pointer_parts[:end]):
            return tuple(pointer_parts[:end])
    return None


def default_for(
    type_name: str, pointer_parts: Sequence[Part], defaults_table: Defaults | None = None
) -> Any:
    """The provider default at ``pointer_parts`` (of ``defaults_table``, else
    DEFAULTS), or None when there is none."""
    defaults = (DEFAULTS if defaults_table is None else defaults_table).get(type_name)
    if not defaults:
        return None
    return defaults.get(_pattern(pointer_parts))


def _parse_document(text: str) -> Any:
    """The parsed JSON document in ``text``, or the text itself if it is not one."""
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "{[":
        return text
    try:
        return json.loads(stripped)
    except ValueError:
        return text


def _canonical_policy(doc: dict[str, Any]) -> dict[str, Any]:
    """An IAM policy document in AWS's equivalent forms, before set sorting."""
    out = dict(doc)
    out.setdefault("Version", IAM_DEFAULT_VERSION)
    statements = out.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if isinstance(statements, list):
        out["Statement"] = [_canonical_statement(s) for s in statements]
    return out


def _as_list(value: Any) -> Any:
    return (
        [value] if isinstance(value, str | int | float) and not isinstance(value, bool) else value
    )


def _canonical_statement(statement: Any) -> Any:
    if not isinstance(statement, dict):
        return statement
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key in _IAM_LIST_KEYS:
            out[key] = _as_list(value)
        elif key in _IAM_PRINCIPAL_KEYS and isinstance(value, dict):
            out[key] = {k: _as_list(v) for k, v in value.items()}
        elif key == "Condition" and isinstance(value, dict):
            out[key] = {
                op: {k: _as_list(v) for k, v in cond.items()} if isinstance(cond, dict) else cond
                for op, cond in value.items()
            }
        else:
            out[key] = value
    return out


class _Normalizer:
    """One resource type's tables, walked with the path so far."""

    __slots__ = ("defaults", "sets", "type_name")

    def __init__(self, type_name: str, defaults: Defaults | None = None) -> None:
        self.type_name = type_name
        self.sets = SET_ATTRIBUTES.get(type_name, frozenset())
        self.defaults = (DEFAULTS if defaults is None else defaults).get(type_name, {})

    def is_set(self, parts: tuple[Part, ...]) -> bool:
        if self.sets and _pattern(parts) in self.sets:
            return True
        return "Statement" in parts and _iam_set_position(parts)

    def value(self, value: Any, parts: tuple[Part, ...]) -> Any:
        if value is None or value == "" or value == {} or value == []:
            return None
        if isinstance(value, bool):
            return self._defaulted(value, parts)
        if isinstance(value, str):
            parsed = _parse_document(value)
            if parsed is value:
                return self._defaulted(value, parts)
            if isinstance(parsed, dict) and "Statement" in parsed:
                parsed = _canonical_policy(parsed)
            return self.value(parsed, parts)
        if isinstance(value, float) and value.is_integer():
            return self._defaulted(int(value), parts)
        if isinstance(value, int | float):
            return self._defaulted(value, parts)
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                normal = self.value(item, (*parts, key))
                if normal is not None:
                    out[key] = normal
            return out or None
        if isinstance(value, list):
            if self.is_set(parts):
                return self._set(value, parts)
            items = [self.value(item, (*parts, i)) for i, item in enumerate(value)]
            return items if any(item is not None for item in items) else None
        return value

    def _set(self, value: list[Any], parts: tuple[Part, ...]) -> list[Any] | None:
        # The position of an element inside a set is meaningless; ``0`` stands
        # for "an element" so that nested tables (``ingress.*.cidr_blocks``) match.
        element_parts = (*parts, 0)
        keyed: dict[str, Any] = {}
        for item in value:
            normal = self.value(item, element_parts)
            if normal is not None:
                keyed.setdefault(canonical_json(normal), normal)
        if not keyed:
            return None
        return [keyed[k] for k in sorted(keyed)]

    def _defaulted(self, value: Any, parts: tuple[Part, ...]) -> Any:
        if not self.defaults:
            return value
        default = self.defaults.get(_pattern(parts), _NO_DEFAULT)
        if default is _NO_DEFAULT:
            return value
        if value == default and type(value) is type(default):
            return None
        return value


_NO_DEFAULT = object()


def normalize(type_name: str, attributes: Any, defaults: Defaults | None = None) -> Any:
    """The canonical form of a resource's attributes (see the module doc).

    ``defaults``: the provider defaults of the version that read the attributes
    (:func:`provider_defaults`); None: DEFAULTS. Returns None for an entirely empty
    value; otherwise a fresh structure of dicts, lists and scalars. Markers of
    redacted values are kept as they are.
    """
    return _Normalizer(type_name, defaults).value(attributes, ())


def normalize_at(type_name: str, value: Any, pointer_parts: Sequence[Part]) -> Any:
    """Normalize ``value`` as if it sat at ``pointer_parts`` in a resource."""
    return _Normalizer(type_name).value(value, tuple(pointer_parts))
