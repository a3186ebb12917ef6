"""Least-privilege roles in the sandbox: one per registered stack, one for the inventory.

Each stack's role (named by its registry entry's ``credentials.oidcRole``) is
trusted by the GitHub OIDC provider and may touch only:

* its own state object and the ``use_lockfile`` object beside it
  (``<key>`` and ``<key>.tflock``), and list the state bucket;
* the version history of its own state object (list the versions of ``<key>``, read
  an earlier version): how a check sees an older state restored over a newer one;
* the state objects it reads through ``terraform_remote_state`` (read only);
* the resources its configuration declares, by service, derived from the
  resource types (:data:`SERVICE_BY_TYPE_PREFIX`); S3 only on its own buckets:
  the exact names once its state records them, ``iacdrift-demo-*`` before;
* DynamoDB, when it locks with a lock table (see :func:`stack_policy`).

The inventory role may list and describe, and read (never write) every state.

Surgery plans and approvals live under ``iacdrift/surgery/`` of each state bucket
(:mod:`iacdrift.aws.surgery_store`); :func:`surgery_statements` is what the planner's
and the reviewers' identities need there. No stack role gets it: a stack's role
keeps access to its own state key only. The sandbox gives it to two IAM users,
``surgery-reviewer-1`` and ``-2`` (:func:`provision_reviewers`), whose access keys it
keeps in ``<sandbox dir>/reviewers.json`` (mode 0600) so a person can act as either.

What moto 5.2 enforces (with ``/moto-api/reset-auth``) and what it does not:
actions and S3 bucket/object ARNs are enforced; ``Condition`` blocks (the trust
policy's ``aud``/``sub``, the ``s3:prefix`` of ListBucket) are ignored; a
DynamoDB statement naming a table ARN is denied where AWS would allow it.

Policies are inline role policies: a customer-managed policy would show up in
the inventory of ``aws_iam_policy`` as an unmanaged resource, and roles named
``iacdrift-*`` are excluded from unmanaged detection by ``iacdrift.yaml``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from iacdrift.aws.provisioning import (
    OidcProvider,
    RoleDefinition,
    UserAccessKey,
    UserDefinition,
    put_roles,
    put_users,
)
from iacdrift.aws.session import AwsCredentials, Target
from iacdrift.aws.surgery_store import SURGERY_PREFIX
from iacdrift.errors import InputError
from iacdrift.models.finding import CredentialsSource
from iacdrift.sandbox.daemon import read_record, write_record
from iacdrift.sandbox.token_endpoint import ISSUER, SUBJECT

OIDC_HOST = ISSUER.removeprefix("https://")
# GitHub's published thumbprint; neither moto nor (since 2023) AWS checks it.
OIDC_THUMBPRINT = "6938fd4d98bab03faadb97b34396831e3780aea1"
POLICY_NAME = "iacdrift-least-privilege"
# Before a stack's state records its buckets, this is as narrow as the names get.
DEMO_BUCKET_PATTERN = "iacdrift-demo-*"

# Resource type prefix -> the service whose actions the stack needs for it.
SERVICE_BY_TYPE_PREFIX: tuple[tuple[str, str], ...] = (
    ("aws_security_group", "ec2"),
    ("aws_vpc", "ec2"),
    ("aws_subnet", "ec2"),
    ("aws_instance", "ec2"),
    ("aws_iam_", "iam"),
    ("aws_s3_bucket", "s3"),
    ("aws_secretsmanager_", "secretsmanager"),
    ("aws_dynamodb_", "dynamodb"),
    ("aws_rds_", "rds"),
    ("aws_db_", "rds"),
)

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role(/(?:.*/)?)?([^/]+)$")


@dataclass(frozen=True)
class RoleName:
    account: str
    path: str
    name: str


def parse_role_arn(arn: str) -> RoleName:
    match = _ROLE_ARN.match(arn)
    if match is None:
        raise InputError(f"{arn}: not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    account, path, name = match.groups()
    return RoleName(account, path or "/", name)


@dataclass(frozen=True)
class StackAccess:
    """What one stack's role must reach, as data (built by the sandbox flow)."""

    stack: str
    role_arn: str
    state_bucket: str
    state_key: str
    lock_table: str | None
    resource_types: frozenset[str]
    remote_state_reads: frozenset[tuple[str, str]]
    # The buckets its state records; None before the stack was applied.
    bucket_names: frozenset[str] | None = None


def services_for(resource_types: Iterable[str]) -> tuple[set[str], list[str]]:
    """(services needed, resource types with no known service), the latter sorted."""
    services: set[str] = set()
    unmapped: list[str] = []
    for resource_type in sorted(set(resource_types)):
        for prefix, service in SERVICE_BY_TYPE_PREFIX:
            if resource_type.startswith(prefix):
                services.add(service)
                break
        else:
            unmapped.append(resource_type)
    return services, unmapped


def _statement(sid: str, actions: Sequence[str], resources: Sequence[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


def stack_policy(access: StackAccess) -> dict[str, Any]:
    """The inline policy of one stack's role (statements in a fixed order)."""
    account = parse_role_arn(access.role_arn).account
    bucket, key = access.state_bucket, access.state_key
    statements = [
        _statement(
            "OwnStateAndLockfile",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [f"arn:aws:s3:::{bucket}/{key}", f"arn:aws:s3:::{bucket}/{key}.tflock"],
        ),
        {
            # Terraform's documented form; moto ignores the condition, so there the
            # role may list every key of the bucket (names only, never contents).
            **_statement("ListStateBucket", ["s3:ListBucket"], [f"arn:aws:s3:::{bucket}"]),
            "Condition": {"StringLike": {"s3:prefix": [key, f"{key}.tflock"]}},
        },
        {
            # ListObjectVersions on the state key (moto ignores the condition here too).
            **_statement(
                "ListOwnStateVersions", ["s3:ListBucketVersions"], [f"arn:aws:s3:::{bucket}"]
            ),
            "Condition": {"StringLike": {"s3:prefix": [key]}},
        },
        # GetObject with a VersionId: the lineage and serial of earlier versions.
        _statement(
            "ReadOwnStateVersions", ["s3:GetObjectVersion"], [f"arn:aws:s3:::{bucket}/{key}"]
        ),
    ]
    reads = sorted(access.remote_state_reads - {(bucket, key)})
    if reads:
        statements.append(
            _statement(
                "ReadRemoteState",
                ["s3:GetObject"],
                [f"arn:aws:s3:::{b}/{k}" for b, k in reads],
            )
        )
    services, _ = services_for(access.resource_types)
    if access.lock_table or "dynamodb" in services:
        # AWS would take arn:aws:dynamodb:<region>:<account>:table/<name>; moto 5.2
        # denies a statement naming a table ARN under enforcement, so `*` it is.
        statements.append(_statement("DynamoDB", ["dynamodb:*"], ["*"]))
    if "ec2" in services:
        # Security group ids are unknown until created, and EC2 Describe* calls
        # take no resource-level permissions.
        statements.append(_statement("EC2", ["ec2:*"], ["*"]))
    if "iam" in services:
        statements.append(_statement("IAM", ["iam:*"], ["*"]))
        # A stack that manages IAM must still not rewrite iacdrift's own roles.
        statements.append(
            {
                "Sid": "NotIacdriftRoles",
                "Effect": "Deny",
                "Action": ["iam:*"],
                "Resource": [f"arn:aws:iam::{account}:role/iacdrift-*"],
            }
        )
    if "s3" in services:
        names = sorted(access.bucket_names) if access.bucket_names else [DEMO_BUCKET_PATTERN]
        resources = [f"arn:aws:s3:::{name}{suffix}" for name in names for suffix in ("", "/*")]
        statements.append(_statement("OwnBuckets", ["s3:*"], resources))
    if "secretsmanager" in services:
        statements.append(_statement("SecretsManager", ["secretsmanager:*"], ["*"]))
    return {"Version": "2012-10-17", "Statement": statements}


def inventory_policy(
    state_buckets: Iterable[str], audit_buckets: Iterable[str] = ()
) -> dict[str, Any]:
    """List and describe the estate; read (never write) every state and the audit logs."""
    buckets = sorted(set(state_buckets))
    logs = sorted(set(audit_buckets))
    audit = (
        [
            _statement("ReadAuditLogs", ["s3:GetObject"], [f"arn:aws:s3:::{b}/*" for b in logs]),
            _statement("ListAuditLogs", ["s3:ListBucket"], [f"arn:aws:s3:::{b}" for b in logs]),
        ]
        if logs
        else []
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement(
                "ListAndDescribe",
                [
                    "ec2:Describe*",
                    "iam:Get*",
                    "iam:List*",
                    "s3:ListAllMyBuckets",
                    # The tags of an unmanaged bucket say which stack receives it.
                    "s3:GetBucketTagging",
                    "secretsmanager:ListSecrets",
                    "dynamodb:ListTables",
                ],
                ["*"],
            ),
            _statement("ReadStates", ["s3:GetObject"], [f"arn:aws:s3:::{b}/*" for b in buckets]),
            # Without ListBucket, S3 answers AccessDenied instead of NoSuchKey for a
            # state not written yet, and "not applied" would read as "denied".
            _statement(
                "ListStateBuckets", ["s3:ListBucket"], [f"arn:aws:s3:::{b}" for b in buckets]
            ),
            *audit,
        ],
    }


def surgery_statements(state_buckets: Iterable[str]) -> list[dict[str, Any]]:
    """What the planner and the reviewers need to share surgery plans and approvals
    under ``iacdrift/surgery/`` of each state bucket, and nothing else of it:

    * ``s3:GetObject`` and ``s3:PutObject`` on ``arn:aws:s3:::<bucket>/iacdrift/surgery/*``
      (plans, edited states, approvals, apply records; no delete: the records stay);
    * ``s3:ListBucket`` on ``arn:aws:s3:::<bucket>`` with the condition ``StringLike``
      ``s3:prefix`` = ``iacdrift/surgery/*`` (listing the approvals; and without it S3
      answers AccessDenied, not NoSuchKey, for an approval not written yet).

    ``sts:GetCallerIdentity`` (who the planner or the reviewer is) needs no
    permission. The write-once rule (a plan or an approval never replaced) is kept by
    the conditional puts of the store; on AWS a ``Deny`` of ``s3:PutObject`` on
    ``.../approvals/*`` with ``{"Null": {"s3:if-none-match": "true"}}`` would enforce it
    for every client. It is not provisioned here: moto ignores ``Condition`` blocks
    and would deny every put.
    """
    buckets = sorted(set(state_buckets))
    return [
        _statement(
            "SurgeryRecords",
            ["s3:GetObject", "s3:PutObject"],
            [f"arn:aws:s3:::{b}/{SURGERY_PREFIX}*" for b in buckets],
        ),
        {
            **_statement(
                "ListSurgeryRecords", ["s3:ListBucket"], [f"arn:aws:s3:::{b}" for b in buckets]
            ),
            "Condition": {"StringLike": {"s3:prefix": [f"{SURGERY_PREFIX}*"]}},
        },
    ]


def surgery_policy(state_buckets: Iterable[str]) -> dict[str, Any]:
    """:func:`surgery_statements` as a policy document."""
    return {"Version": "2012-10-17", "Statement": surgery_statements(state_buckets)}


def trust_policy(account: str, audience: str) -> dict[str, Any]:
    """Trust the GitHub OIDC provider for the example repository's main branch.

    moto ignores the conditions (and AssumeRoleWithWebIdentity there checks no
    token at all); they are what a real account needs.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::{account}:oidc-provider/{OIDC_HOST}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{OIDC_HOST}:aud": audience, f"{OIDC_HOST}:sub": SUBJECT}
                },
            }
        ],
    }


@dataclass(frozen=True)
class RoleSpec:
    arn: str
    description: str
    policy: dict[str, Any]


def role_specs(
    stacks: Sequence[StackAccess],
    inventory_roles: Iterable[str],
    state_buckets: Iterable[str],
    audit_buckets: Iterable[str] = (),
) -> list[RoleSpec]:
    """Every role to provision, sorted by ARN."""
    specs = [
        RoleSpec(s.role_arn, f"iacdrift: stack {s.stack} only", stack_policy(s)) for s in stacks
    ]
    buckets = sorted(set(state_buckets))
    specs.extend(
        RoleSpec(arn, "iacdrift: read-only inventory", inventory_policy(buckets, audit_buckets))
        for arn in sorted(set(inventory_roles))
    )
    return sorted(specs, key=lambda spec: spec.arn)


def provision(
    specs: Sequence[RoleSpec], audience: str, credentials: AwsCredentials, target: Target
) -> list[str]:
    """Create or update the OIDC provider and every role (idempotent); return role names."""
    accounts = sorted({parse_role_arn(spec.arn).account for spec in specs})
    providers = [
        OidcProvider(
            arn=f"arn:aws:iam::{account}:oidc-provider/{OIDC_HOST}",
            url=ISSUER,
            audience=audience,
            thumbprint=OIDC_THUMBPRINT,
        )
        for account in accounts
    ]
    roles = []
    for spec in specs:
        role = parse_role_arn(spec.arn)
        roles.append(
            RoleDefinition(
                name=role.name,
                path=role.path,
                description=spec.description,
                trust_policy=json.dumps(trust_policy(role.account, audience), sort_keys=True),
                policy_name=POLICY_NAME,
                policy=json.dumps(spec.policy, sort_keys=True),
            )
        )
    put_roles(providers, roles, credentials, target)
    return [role.name for role in roles]


# -- the sandbox's surgery reviewers ------------------------------------------------------

REVIEWER_USERS: tuple[str, ...] = ("surgery-reviewer-1", "surgery-reviewer-2")
REVIEWERS_FILE = "reviewers.json"
SURGERY_POLICY_NAME = "iacdrift-surgery"


class ReviewerKey(BaseModel):
    """One reviewer user of the sandbox and its access key."""

    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, description="N of `iacdrift sandbox reviewer N`.")
    user: str = Field(description="IAM user name.")
    arn: str = Field(description="The user's ARN: who sts:GetCallerIdentity says it is.")
    accessKeyId: str
    secretAccessKey: str = Field(repr=False)

    def credentials(self) -> AwsCredentials:
        """The reviewer's key as credentials (a person's own: ambient)."""
        return AwsCredentials(
            self.accessKeyId, self.secretAccessKey, source=CredentialsSource.AMBIENT
        )


class ReviewersRecord(BaseModel):
    """`<sandbox dir>/reviewers.json` (mode 0600: it holds secret keys). Persisted;
    ``schemaVersion`` guards its format."""

    model_config = ConfigDict(extra="forbid")

    schemaVersion: int = 1
    reviewers: list[ReviewerKey] = Field(default_factory=list)

    def reviewer(self, number: int) -> ReviewerKey | None:
        return next((r for r in self.reviewers if r.number == number), None)


def load_reviewers(state_dir: Path) -> ReviewersRecord | None:
    return read_record(state_dir / REVIEWERS_FILE, ReviewersRecord, "reviewers record")


def forget_reviewers(state_dir: Path) -> None:
    (state_dir / REVIEWERS_FILE).unlink(missing_ok=True)


def provision_reviewers(
    state_buckets: Iterable[str], state_dir: Path, credentials: AwsCredentials, target: Target
) -> ReviewersRecord:
    """Create (or keep) the reviewer users with :func:`surgery_policy` inline, reuse
    the keys saved in ``state_dir`` while IAM still lists them, save the record."""
    saved = load_reviewers(state_dir)
    previous = [
        UserAccessKey(r.user, r.arn, r.accessKeyId, r.secretAccessKey)
        for r in (saved.reviewers if saved is not None else [])
    ]
    policy = json.dumps(surgery_policy(state_buckets), sort_keys=True)
    users = [UserDefinition(name, "/", SURGERY_POLICY_NAME, policy) for name in REVIEWER_USERS]
    keys = put_users(users, previous, credentials, target)
    record = ReviewersRecord(
        reviewers=[
            ReviewerKey(
                number=number,
                user=key.user,
                arn=key.arn,
                accessKeyId=key.access_key_id,
                secretAccessKey=key.secret_access_key,
            )
            for number, key in enumerate(keys, start=1)
        ]
    )
    write_record(state_dir / REVIEWERS_FILE, record, mode=0o600)
    return record
