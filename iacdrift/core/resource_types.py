"""The resource-type catalogue: what iacdrift knows about each AWS resource type. Pure data.

Every per-type table lives here, so adding or reviewing a resource type is one
edit in one file. The logic that reads a table stays with its use:

=========================  ====================================================  ==============
table                      contract                                              read by
=========================  ====================================================  ==============
DOMAIN_PREFIXES            ordered ``(prefix, domain)``: the first prefix the    core.risk
                           type name starts with gives its domain; no prefix:
                           ``Domain.OTHER``
CRITICAL_FIELDS            per type, the JSON pointers whose drift must stay     core.policy_lint
                           visible, each with the review question it answers
                           (:class:`FieldCategory`); an unlisted type has none
ALWAYS_SECRET              per type, the top-level attributes redacted whatever  core.redact
                           Terraform's sensitivity mask says
IDENTITY_ATTRIBUTES        attributes naming an object in its provider, in the   core.planfacts
                           order they are tried (any type)
SECRET_RESOURCE_TYPES      managed types whose current version is a secret's     core.decide
                           delivery: a version change outside Terraform is a
                           rotation
SECRET_DATA_SOURCES        data sources whose change is a secret delivery        core.planfacts
SECRET_VERSION_ATTRIBUTES  attributes of those types saying which version is     core.decide,
                           current, in the order a version is reported           core.planfacts
SECRET_VALUE_ATTRIBUTES    attributes of those types holding the value itself    core.decide
                           (they change along with the version, never judged
                           on their own)
SECRET_VERSION_EVENTS      audit event names that change which version of a      core.decide
                           secret consumers read (who made the change decides
                           whether it alerts)
AGGREGATE_PARENTS          per type, its aggregate attributes (read whole from   core.aggregates
                           the provider while other resources manage parts of
                           them) and the attributes members name it by
AGGREGATE_MEMBERS          per type managing a part of an aggregate: the parent  core.aggregates
                           type and the attribute naming the parent
=========================  ====================================================  ==============

Type and attribute names are the hashicorp/aws provider's (v3 to v5).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from iacdrift.models.finding import Domain

# --- domains ---------------------------------------------------------------------------

DOMAIN_PREFIXES: tuple[tuple[str, Domain], ...] = (
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
    # Data services that hold a master password (ALWAYS_SECRET): databases, so never
    # auto-healed and MEDIUM base risk, like aws_db_*.
    ("aws_docdb_", Domain.DATABASE),
    ("aws_neptune_", Domain.DATABASE),
    ("aws_redshift_", Domain.DATABASE),
    ("aws_mq_", Domain.DATABASE),
    # A directory holds the identities people sign in with.
    ("aws_directory_service_", Domain.IAM),
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


# --- critical fields (policy lint) ------------------------------------------------------


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


# --- always-secret attributes (redaction) -----------------------------------------------

# (resource type) -> top-level attributes that always hold a secret.
# aws_ssm_parameter.value is secret only when type is SecureString, but the
# type attribute can itself drift, so it is always redacted.
ALWAYS_SECRET: Mapping[str, frozenset[str]] = {
    "aws_secretsmanager_secret_version": frozenset({"secret_string", "secret_binary"}),
    "aws_db_instance": frozenset({"password"}),
    "aws_rds_cluster": frozenset({"master_password"}),
    "aws_docdb_cluster": frozenset({"master_password"}),
    "aws_neptune_cluster": frozenset({"master_password"}),
    "aws_redshift_cluster": frozenset({"master_password"}),
    "aws_elasticache_replication_group": frozenset({"auth_token"}),
    "aws_iam_access_key": frozenset({"secret", "ses_smtp_password_v4", "encrypted_secret"}),
    "aws_iam_user_login_profile": frozenset({"password", "encrypted_password"}),
    "aws_ssm_parameter": frozenset({"value"}),
    "aws_kms_ciphertext": frozenset({"plaintext"}),
    "aws_mq_broker": frozenset({"user"}),
    "aws_directory_service_directory": frozenset({"password"}),
    "aws_db_proxy": frozenset({"auth"}),
    # Not marked sensitive by the provider, yet where function secrets usually live.
    "aws_lambda_function": frozenset({"environment"}),
}


# --- identity (a rename without a moved block) -------------------------------------------

# Attributes naming an object in its provider: equal values on a destroy and a
# create of the same type mean the same object under a new address.
IDENTITY_ATTRIBUTES: tuple[str, ...] = ("bucket", "name", "role", "function_name", "arn")

# --- secret delivery -------------------------------------------------------------------

# Managed resources holding a secret's current version: a change to which version
# is current, made outside Terraform, is a rotation (SECRET_DELIVERY_DRIFT).
SECRET_RESOURCE_TYPES: frozenset[str] = frozenset(
    {"aws_secretsmanager_secret_version", "aws_ssm_parameter"}
)
# Data sources whose change is a secret delivery (judged on versions, never values).
SECRET_DATA_SOURCES: frozenset[str] = frozenset(
    {"aws_secretsmanager_secret_version", "aws_ssm_parameter", "aws_kms_secrets"}
)
# Fields of a secret that say which version is current (judged), in the order a
# version is reported by (the first one present).
SECRET_VERSION_ATTRIBUTES: tuple[str, ...] = ("version_id", "version", "version_stages")
# Fields of a secret holding the value itself (allowed to change along, never judged
# on their own).
SECRET_VALUE_ATTRIBUTES: frozenset[str] = frozenset(
    {"secret_string", "secret_binary", "value", "insecure_value"}
)
# Audit events that change which version of a secret consumers read. RotateSecret is
# not one: it starts the secret's rotation function, whose PutSecretValue is the change.
SECRET_VERSION_EVENTS: frozenset[str] = frozenset(
    {
        "PutSecretValue",
        "UpdateSecret",
        "UpdateSecretVersionStage",
        "PutParameter",
        "LabelParameterVersion",
    }
)


# --- aggregates explained by their members (core.aggregates) ------------------------------

# Parent type -> (its aggregate attributes, the attributes a member may name it by).
# The provider reads an aggregate whole (every policy attached to a role, every rule
# of a group), while other resources may manage its parts one by one.
AGGREGATE_PARENTS: Mapping[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "aws_iam_role": (
        frozenset({"managed_policy_arns", "inline_policy"}),
        ("name", "id", "arn", "unique_id"),
    ),
    "aws_security_group": (frozenset({"ingress", "egress"}), ("id", "arn")),
    "aws_s3_bucket": (frozenset({"policy", "acl", "grant"}), ("bucket", "id")),
}
# Member type -> (parent type, the member's attribute naming its parent: one name, or
# a list of names for aws_iam_policy_attachment's roles).
AGGREGATE_MEMBERS: Mapping[str, tuple[str, str]] = {
    "aws_iam_role_policy_attachment": ("aws_iam_role", "role"),
    "aws_iam_policy_attachment": ("aws_iam_role", "roles"),
    "aws_iam_role_policy": ("aws_iam_role", "role"),
    "aws_security_group_rule": ("aws_security_group", "security_group_id"),
    "aws_vpc_security_group_ingress_rule": ("aws_security_group", "security_group_id"),
    "aws_vpc_security_group_egress_rule": ("aws_security_group", "security_group_id"),
    "aws_s3_bucket_policy": ("aws_s3_bucket", "bucket"),
    "aws_s3_bucket_acl": ("aws_s3_bucket", "bucket"),
}
