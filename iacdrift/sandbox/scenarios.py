"""Realistic out-of-band changes to the example estate, made with boto3.

Each scenario says which stack and which Terraform addresses it disturbs, so
tests (and users) know what a check should then report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iacdrift.aws.session import AwsCredentials, Target, client

Clients = Callable[[str], Any]


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    stack: str | None  # None: the change belongs to no stack (unmanaged)
    addresses: tuple[str, ...]
    inject: Callable[[Clients], str]


def _security_group_id(ec2: Any, name: str) -> str:
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])
    found = groups.get("SecurityGroups", [])
    if not found:
        raise LookupError(f"security group {name!r} not found: is the estate applied?")
    return str(found[0]["GroupId"])


def _open_ssh(clients: Clients) -> str:
    ec2 = clients("ec2")
    group_id = _security_group_id(ec2, "prod-web")
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "debug"}],
            }
        ],
    )
    return f"opened tcp/22 to 0.0.0.0/0 on {group_id} (prod-web)"


def _retag_bucket(clients: Clients) -> str:
    s3 = clients("s3")
    bucket = "iacdrift-demo-prod-receipts"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    tags["data-class"] = "public"
    s3.put_bucket_tagging(
        Bucket=bucket,
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
    )
    return f"set tag data-class=public on {bucket} (was internal)"


def _delete_bucket(clients: Clients) -> str:
    s3 = clients("s3")
    bucket = "iacdrift-demo-prod-ledger"
    versions = s3.list_object_versions(Bucket=bucket)
    for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    s3.delete_bucket(Bucket=bucket)
    return f"deleted bucket {bucket}"


def _unmanaged_bucket(clients: Clients) -> str:
    s3 = clients("s3")
    bucket = "iacdrift-demo-prod-shadow-exports"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(
        Bucket=bucket, Tagging={"TagSet": [{"Key": "created-by", "Value": "console"}]}
    )
    return f"created bucket {bucket}, recorded in no state"


def _attach_admin(clients: Clients) -> str:
    iam = clients("iam")
    role = "prod-payments-api"
    policy = "arn:aws:iam::aws:policy/AdministratorAccess"
    iam.attach_role_policy(RoleName=role, PolicyArn=policy)
    return f"attached {policy} to role {role}"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "sg-open-ssh",
            "SSH (tcp/22) opened to 0.0.0.0/0 on the prod web security group",
            "prod-network",
            ('module.tier["web"].aws_security_group.this',),
            _open_ssh,
        ),
        Scenario(
            "bucket-tag",
            "the receipts bucket's data-class tag changed from internal to public",
            "prod-payments",
            ('module.bucket["receipts"].aws_s3_bucket.this',),
            _retag_bucket,
        ),
        Scenario(
            "resource-deleted",
            "the prod ledger bucket deleted outside Terraform",
            "prod-payments",
            ('module.bucket["ledger"].aws_s3_bucket.this',),
            _delete_bucket,
        ),
        Scenario(
            "unmanaged-resource",
            "a bucket created from the console next to managed ones, in no state",
            None,
            (),
            _unmanaged_bucket,
        ),
        Scenario(
            "role-policy-attached",
            "AdministratorAccess attached by hand to the prod payments-api role",
            "prod-iam",
            ("aws_iam_role.service[0]",),
            _attach_admin,
        ),
    )
}


def inject(name: str, credentials: AwsCredentials, target: Target) -> str:
    """Make the scenario's change; return one line saying what was done."""
    scenario = SCENARIOS[name]
    return scenario.inject(lambda service: client(service, credentials, target))
