"""Creating what an account holds before any stack: the state bucket and lock table,
resources other teams own that stacks read, the CloudTrail log bucket, the IAM
roles iacdrift assumes with a web identity (with their OIDC provider), and IAM users
with an access key each (the sandbox's surgery reviewers).

Only the sandbox provisions today (``iacdrift sandbox up``); what to create is
decided there (:mod:`iacdrift.flows.sandbox`, :mod:`iacdrift.sandbox.iam`) and
handed in as data. Every call is idempotent: what exists is kept (a role's trust
and inline policy are rewritten). botocore errors become :class:`CloudError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws.session import AwsCredentials, Target, client, describe_cloud_error


@dataclass(frozen=True)
class AccountBootstrap:
    """What exists in the account before any stack (each created only when missing)."""

    # Versioned S3 bucket of the stacks' states, and the DynamoDB table they lock with.
    state_bucket: str
    lock_table: str
    # A Secrets Manager secret another team issues; its value is used only on creation.
    secret_name: str
    secret_value: str = field(repr=False)
    # A managed prefix list another team publishes: name, max entries, (cidr, description).
    prefix_list_name: str
    prefix_list_max_entries: int
    prefix_list_entries: tuple[tuple[str, str], ...]
    # Where the (simulated) trail delivers its logs.
    log_bucket: str


def ensure_bucket(s3: Any, bucket: str) -> bool:
    """Create ``bucket`` with the client ``s3`` when it is missing; True when created.

    botocore errors pass through: the caller names what it was doing.
    """
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return False
    s3.create_bucket(Bucket=bucket)
    return True


def bootstrap_account(
    account: AccountBootstrap, credentials: AwsCredentials, target: Target
) -> None:
    """Create whatever of ``account`` is missing (idempotent)."""
    try:
        s3 = client("s3", credentials, target)
        ensure_bucket(s3, account.state_bucket)
        # Every state write is kept: a check reads the history to see an older state
        # restored over a newer one. Also on a bucket that existed without it.
        versioning = s3.get_bucket_versioning(Bucket=account.state_bucket)
        if versioning.get("Status") != "Enabled":
            s3.put_bucket_versioning(
                Bucket=account.state_bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        dynamodb = client("dynamodb", credentials, target)
        if account.lock_table not in dynamodb.list_tables().get("TableNames", []):
            dynamodb.create_table(
                TableName=account.lock_table,
                KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        secrets = client("secretsmanager", credentials, target)
        listed = secrets.list_secrets(
            Filters=[{"Key": "name", "Values": [account.secret_name]}]
        ).get("SecretList", [])
        if not any(item.get("Name") == account.secret_name for item in listed):
            secrets.create_secret(Name=account.secret_name, SecretString=account.secret_value)
        ec2 = client("ec2", credentials, target)
        lists = ec2.describe_managed_prefix_lists(
            Filters=[{"Name": "prefix-list-name", "Values": [account.prefix_list_name]}]
        ).get("PrefixLists", [])
        if not lists:
            ec2.create_managed_prefix_list(
                PrefixListName=account.prefix_list_name,
                AddressFamily="IPv4",
                MaxEntries=account.prefix_list_max_entries,
                Entries=[
                    {"Cidr": cidr, "Description": description}
                    for cidr, description in account.prefix_list_entries
                ],
            )
        ensure_bucket(s3, account.log_bucket)
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(exc, "bootstrapping the sandbox account", target) from exc


@dataclass(frozen=True)
class OidcProvider:
    """An IAM OIDC identity provider: created when no provider has ``arn``."""

    arn: str
    url: str
    audience: str
    thumbprint: str


@dataclass(frozen=True)
class RoleDefinition:
    """One IAM role with its trust policy and one inline policy (JSON documents)."""

    name: str
    path: str
    description: str
    trust_policy: str
    policy_name: str
    policy: str
    max_session_seconds: int = 3600


def put_roles(
    providers: Sequence[OidcProvider],
    roles: Sequence[RoleDefinition],
    credentials: AwsCredentials,
    target: Target,
) -> None:
    """Create each missing OIDC provider, then create each missing role or rewrite its
    trust policy, and put its inline policy; in the order given."""
    iam = client("iam", credentials, target)
    try:
        for provider in providers:
            _ensure_oidc_provider(iam, provider)
        for role in roles:
            try:
                iam.get_role(RoleName=role.name)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                    raise
                iam.create_role(
                    RoleName=role.name,
                    Path=role.path,
                    AssumeRolePolicyDocument=role.trust_policy,
                    Description=role.description,
                    MaxSessionDuration=role.max_session_seconds,
                )
            else:
                iam.update_assume_role_policy(RoleName=role.name, PolicyDocument=role.trust_policy)
            iam.put_role_policy(
                RoleName=role.name, PolicyName=role.policy_name, PolicyDocument=role.policy
            )
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(
            exc, "provisioning the sandbox's iacdrift roles", target
        ) from exc


def _ensure_oidc_provider(iam: Any, provider: OidcProvider) -> None:
    listed = iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])
    if any(item.get("Arn") == provider.arn for item in listed):
        return
    iam.create_open_id_connect_provider(
        Url=provider.url, ClientIDList=[provider.audience], ThumbprintList=[provider.thumbprint]
    )


@dataclass(frozen=True)
class UserDefinition:
    """One IAM user with one inline policy (a JSON document)."""

    name: str
    path: str
    policy_name: str
    policy: str


@dataclass(frozen=True)
class UserAccessKey:
    """A user's ARN and access key; ``repr`` never shows the secret."""

    user: str
    arn: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


def put_users(
    users: Sequence[UserDefinition],
    saved: Sequence[UserAccessKey],
    credentials: AwsCredentials,
    target: Target,
) -> list[UserAccessKey]:
    """Create each missing user and put its inline policy; return one access key per
    user, in the order given: its ``saved`` key while IAM still lists it, else a new
    one. A user's keys whose secret is not saved are deleted first: their secret is
    lost, and IAM allows a user two keys at most."""
    iam = client("iam", credentials, target)
    kept = {key.user: key for key in saved}
    keys = []
    try:
        for user in users:
            try:
                arn = str(iam.get_user(UserName=user.name)["User"]["Arn"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                    raise
                arn = str(iam.create_user(UserName=user.name, Path=user.path)["User"]["Arn"])
            iam.put_user_policy(
                UserName=user.name, PolicyName=user.policy_name, PolicyDocument=user.policy
            )
            listed = [
                str(item["AccessKeyId"])
                for item in iam.list_access_keys(UserName=user.name).get("AccessKeyMetadata", [])
            ]
            old = kept.get(user.name)
            if old is not None and old.access_key_id in listed:
                keys.append(UserAccessKey(user.name, arn, old.access_key_id, old.secret_access_key))
                continue
            for key_id in sorted(listed):
                iam.delete_access_key(UserName=user.name, AccessKeyId=key_id)
            made = iam.create_access_key(UserName=user.name)["AccessKey"]
            keys.append(
                UserAccessKey(
                    user.name, arn, str(made["AccessKeyId"]), str(made["SecretAccessKey"])
                )
            )
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(exc, "provisioning the sandbox's IAM users", target) from exc
    return keys
