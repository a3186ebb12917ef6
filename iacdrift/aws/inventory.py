"""The actual plane: what the provider really holds, listed with boto3.

One lister per Terraform resource type, each returning the ids Terraform
would record for that type (bucket name, security group id, role name, policy
ARN, secret ARN, table name) so they compare directly with state ids.
Pagination is always followed: real accounts hold more than one page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws.session import AwsCredentials, Target, client, describe_cloud_error
from iacdrift.aws.state_versions import read_current
from iacdrift.core.unmanaged import LiveResource

Lister = Callable[[Callable[[str], Any]], Iterator[tuple[str, str]]]


def _pages(api: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in api.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def _s3_buckets(clients: Callable[[str], Any]) -> Iterator[tuple[str, str]]:
    # ListBuckets pages with ContinuationToken on AWS; moto answers in one page.
    response = clients("s3").list_buckets()
    for bucket in response.get("Buckets", []):
        yield bucket["Name"], bucket["Name"]


def _security_groups(clients: Callable[[str], Any]) -> Iterator[tuple[str, str]]:
    for group in _pages(clients("ec2"), "describe_security_groups", "SecurityGroups"):
        yield group["GroupId"], group.get("GroupName", "")


def _iam_roles(clients: Callable[[str], Any]) -> Iterator[tuple[str, str]]:
    for role in _pages(clients("iam"), "list_roles", "Roles"):
        yield role["RoleName"], role["RoleName"]


def _iam_policies(clients: Callable[[str], Any]) -> Iterator[tuple[str, str]]:
    # Customer-managed only: AWS-managed policies are never anyone's stack.
    for policy in _pages(clients("iam"), "list_policies", "Policies", Scope="Local"):
        yield policy["Arn"], policy["PolicyName"]


def _secrets(clients: Callable[[str], Any]) -> Iterator[tuple[str, str]]:
    for secret in _pages(clients("secretsmanager"), "list_secrets", "SecretList"):
        yield secret["ARN"], secret.get("Name", "")


def _dynamodb_tables(clients: Callable[[str], Any]) -> Iterator[tuple[str, str]]:
    for name in _pages(clients("dynamodb"), "list_tables", "TableNames"):
        yield name, name


LISTERS: dict[str, Lister] = {
    "aws_s3_bucket": _s3_buckets,
    "aws_security_group": _security_groups,
    "aws_iam_role": _iam_roles,
    "aws_iam_policy": _iam_policies,
    "aws_secretsmanager_secret": _secrets,
    "aws_dynamodb_table": _dynamodb_tables,
}


def supported(resource_type: str) -> bool:
    return resource_type in LISTERS


def list_live(
    types: Iterable[str], credentials: AwsCredentials, target: Target
) -> list[LiveResource]:
    """Every live resource of the given (supported) types, sorted."""
    cache: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service not in cache:
            cache[service] = client(service, credentials, target)
        return cache[service]

    found: list[LiveResource] = []
    for resource_type in sorted(set(types)):
        lister = LISTERS.get(resource_type)
        if lister is None:
            continue
        try:
            found.extend(
                LiveResource(resource_type, rid, name, target.region)
                for rid, name in lister(clients)
            )
        except (BotoCoreError, ClientError) as exc:
            raise describe_cloud_error(exc, f"listing live {resource_type}", target) from exc
    return sorted(found)


def read_state_object(
    bucket: str, key: str, credentials: AwsCredentials, target: Target
) -> bytes | None:
    """The raw state object of a stack (read-only); None when it does not exist yet."""
    found = read_current(bucket, key, credentials, target)
    return found.body if found is not None else None


def _bucket_tags(clients: Callable[[str], Any], resource_id: str) -> dict[str, str]:
    try:
        response = clients("s3").get_bucket_tagging(Bucket=resource_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchTagSet":
            return {}
        raise
    return {t["Key"]: t["Value"] for t in response.get("TagSet", [])}


def _group_tags(clients: Callable[[str], Any], resource_id: str) -> dict[str, str]:
    groups = clients("ec2").describe_security_groups(GroupIds=[resource_id])["SecurityGroups"]
    return {t["Key"]: t["Value"] for g in groups for t in g.get("Tags", [])}


def _role_tags(clients: Callable[[str], Any], resource_id: str) -> dict[str, str]:
    tags = clients("iam").list_role_tags(RoleName=resource_id).get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags}


TAG_READERS: dict[str, Callable[[Callable[[str], Any], str], dict[str, str]]] = {
    "aws_s3_bucket": _bucket_tags,
    "aws_security_group": _group_tags,
    "aws_iam_role": _role_tags,
}


def live_tags(
    resource_type: str, resource_id: str, credentials: AwsCredentials, target: Target
) -> dict[str, str] | None:
    """The tags of one live resource, read-only; None for a type whose tags are not read."""
    reader = TAG_READERS.get(resource_type)
    if reader is None:
        return None
    cache: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service not in cache:
            cache[service] = client(service, credentials, target)
        return cache[service]

    try:
        return reader(clients, resource_id)
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(
            exc, f"reading the tags of {resource_type} {resource_id}", target
        ) from exc
