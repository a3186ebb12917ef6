"""Changes made to the estate outside Terraform, the way a person at the console or
another team's tool would make them: what the sandbox's drift scenarios
(:mod:`iacdrift.sandbox.scenarios`) do, and the reads they need to do it.

Answers are boto3's own shapes (``SecurityGroups``, ``SecurityGroupRules``, ...):
the scenarios turn them into the CloudTrail records a trail would have written.
Every botocore error becomes a :class:`CloudError` naming what the caller was
doing (``what``), whichever call failed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws.session import AwsCredentials, Target, client, describe_cloud_error


class OutOfBand:
    """Direct calls to one target, as one identity."""

    def __init__(self, credentials: AwsCredentials, target: Target, what: str) -> None:
        self.credentials = credentials
        self.target = target
        self.what = what

    @contextmanager
    def _calls(self, service: str) -> Iterator[Any]:
        try:
            yield client(service, self.credentials, self.target)
        except (BotoCoreError, ClientError) as exc:
            raise describe_cloud_error(exc, self.what, self.target) from exc

    # -- EC2 ---------------------------------------------------------------------------

    def security_groups(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every security group, or only those named ``name``."""
        with self._calls("ec2") as ec2:
            if name is None:
                answer = ec2.describe_security_groups()
            else:
                answer = ec2.describe_security_groups(
                    Filters=[{"Name": "group-name", "Values": [name]}]
                )
        return [dict(group) for group in answer.get("SecurityGroups", [])]

    def authorize_ingress(self, group_id: str, permission: Mapping[str, Any]) -> list[Any]:
        """Add one ingress permission to a group; the ``SecurityGroupRules`` it created."""
        with self._calls("ec2") as ec2:
            answer = ec2.authorize_security_group_ingress(
                GroupId=group_id, IpPermissions=[permission]
            )
        return list(answer.get("SecurityGroupRules", []))

    def security_group_rules(self, group_ids: Sequence[str]) -> list[Any]:
        """The ``SecurityGroupRules`` of the given groups."""
        with self._calls("ec2") as ec2:
            answer = ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": list(group_ids)}]
            )
        return list(answer.get("SecurityGroupRules", []))

    def prefix_lists(self, name: str) -> list[dict[str, Any]]:
        """The managed prefix lists named ``name``."""
        with self._calls("ec2") as ec2:
            answer = ec2.describe_managed_prefix_lists(
                Filters=[{"Name": "prefix-list-name", "Values": [name]}]
            )
        return [dict(found) for found in answer.get("PrefixLists", [])]

    def prefix_list_entries(self, prefix_list_id: str) -> list[Any]:
        with self._calls("ec2") as ec2:
            answer = ec2.get_managed_prefix_list_entries(PrefixListId=prefix_list_id)
        return list(answer.get("Entries", []))

    def add_prefix_list_entry(
        self,
        prefix_list_id: str,
        current_version: Any,
        name: str,
        cidr: str,
        description: str,
    ) -> dict[str, Any]:
        """Add one entry to a managed prefix list; the ``PrefixList`` answered."""
        with self._calls("ec2") as ec2:
            answer = ec2.modify_managed_prefix_list(
                PrefixListId=prefix_list_id,
                CurrentVersion=current_version,
                # moto clears the name of a list modified without one; AWS keeps it.
                PrefixListName=name,
                AddEntries=[{"Cidr": cidr, "Description": description}],
            )
        return dict(answer.get("PrefixList", {}))

    # -- S3 ----------------------------------------------------------------------------

    def bucket_tags(self, bucket: str) -> dict[str, str]:
        with self._calls("s3") as s3:
            answer = s3.get_bucket_tagging(Bucket=bucket)
        return {t["Key"]: t["Value"] for t in answer["TagSet"]}

    def put_bucket_tags(self, bucket: str, tags: Mapping[str, str]) -> None:
        """Replace the bucket's tags with ``tags``."""
        with self._calls("s3") as s3:
            s3.put_bucket_tagging(
                Bucket=bucket,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
            )

    def create_bucket(self, bucket: str) -> None:
        with self._calls("s3") as s3:
            s3.create_bucket(Bucket=bucket)

    def delete_bucket(self, bucket: str) -> None:
        """Delete every object version and delete marker of ``bucket`` (one listing
        page), then the bucket."""
        with self._calls("s3") as s3:
            versions = s3.list_object_versions(Bucket=bucket)
            for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
            s3.delete_bucket(Bucket=bucket)

    # -- IAM and Secrets Manager ---------------------------------------------------------

    def attach_role_policy(self, role: str, policy_arn: str) -> None:
        with self._calls("iam") as iam:
            iam.attach_role_policy(RoleName=role, PolicyArn=policy_arn)

    def put_secret_value(self, secret_id: str, value: str, request_token: str) -> dict[str, Any]:
        """Put a new version of a secret; the answer (``ARN``, ``Name``, ``VersionId``,
        ``VersionStages``), which never holds the value."""
        with self._calls("secretsmanager") as secretsmanager:
            answer = secretsmanager.put_secret_value(
                SecretId=secret_id, SecretString=value, ClientRequestToken=request_token
            )
        return dict(answer)
