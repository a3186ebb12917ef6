"""The DynamoDB and S3 calls behind leases and lock reading.

* Orchestrator leases: items in the DynamoDB lock table, written only with
  conditional requests, so two iacdrift processes never both believe they hold
  one. A condition that fails is an answer (``False`` / the current item), not
  an error; everything else is translated into a :class:`CloudError`.
* Terraform's own locks, read only (never written, never deleted): the S3
  ``use_lockfile`` object and the DynamoDB ``LockID = <bucket>/<key>`` item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws.session import AwsCredentials, Target, client, describe_cloud_error
from iacdrift.errors import CloudError

_CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class LeaseItem:
    """One lease as stored: epoch seconds, as DynamoDB TTL expects for ``expiresAt``."""

    lock_id: str
    holder: str
    acquired_at: int
    expires_at: int
    operation: str


def endpoint_answered(error: CloudError) -> bool:
    """Whether the endpoint answered with an error (AccessDenied, NoSuchBucket, ...), as
    opposed to not answering at all (unreachable, timed out): the first concerns one
    request, the second every request to that endpoint."""
    return isinstance(error.__cause__, ClientError)


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED


def _item_to_lease(item: dict[str, Any]) -> LeaseItem:
    return LeaseItem(
        lock_id=item["LockID"]["S"],
        holder=item.get("holder", {}).get("S", ""),
        acquired_at=int(item.get("acquiredAt", {}).get("N", "0")),
        expires_at=int(item.get("expiresAt", {}).get("N", "0")),
        operation=item.get("operation", {}).get("S", ""),
    )


class LeaseTable:
    """Conditional reads and writes of lease items in one DynamoDB table."""

    def __init__(self, credentials: AwsCredentials, target: Target, table: str) -> None:
        self.table = table
        self.target = target
        self._api = client("dynamodb", credentials, target)

    def _fail(self, exc: Exception, what: str) -> Exception:
        return describe_cloud_error(exc, f"{what} in DynamoDB table {self.table}", self.target)

    def try_put(self, lease: LeaseItem, now: int) -> bool:
        """Write ``lease`` if no lease exists or the existing one expired before ``now``."""
        try:
            self._api.put_item(
                TableName=self.table,
                Item={
                    "LockID": {"S": lease.lock_id},
                    "holder": {"S": lease.holder},
                    "acquiredAt": {"N": str(lease.acquired_at)},
                    "expiresAt": {"N": str(lease.expires_at)},
                    "operation": {"S": lease.operation},
                },
                ConditionExpression="attribute_not_exists(LockID) OR expiresAt < :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise self._fail(exc, f"taking lease {lease.lock_id}") from exc
        except BotoCoreError as exc:
            raise self._fail(exc, f"taking lease {lease.lock_id}") from exc
        return True

    def get(self, lock_id: str) -> LeaseItem | None:
        """The lease item as stored now (a consistent read), or None."""
        try:
            response = self._api.get_item(
                TableName=self.table, Key={"LockID": {"S": lock_id}}, ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, f"reading lease {lock_id}") from exc
        item = response.get("Item")
        return _item_to_lease(item) if item else None

    def renew(self, lock_id: str, holder: str, expires_at: int) -> bool:
        """Move the expiry of a lease that ``holder`` still holds; False if it does not."""
        try:
            self._api.update_item(
                TableName=self.table,
                Key={"LockID": {"S": lock_id}},
                UpdateExpression="SET expiresAt = :expires",
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={
                    ":expires": {"N": str(expires_at)},
                    ":holder": {"S": holder},
                },
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise self._fail(exc, f"renewing lease {lock_id}") from exc
        except BotoCoreError as exc:
            raise self._fail(exc, f"renewing lease {lock_id}") from exc
        return True

    def delete(self, lock_id: str, holder: str) -> bool:
        """Delete the lease only if ``holder`` holds it; False (nothing done) otherwise."""
        try:
            self._api.delete_item(
                TableName=self.table,
                Key={"LockID": {"S": lock_id}},
                ConditionExpression="holder = :holder",
                ExpressionAttributeValues={":holder": {"S": holder}},
            )
        except ClientError as exc:
            if _condition_failed(exc):
                return False
            raise self._fail(exc, f"releasing lease {lock_id}") from exc
        except BotoCoreError as exc:
            raise self._fail(exc, f"releasing lease {lock_id}") from exc
        return True


class LockReader:
    """Read-only access to Terraform's lock objects, with one client per service."""

    def __init__(self, credentials: AwsCredentials, target: Target) -> None:
        self.credentials = credentials
        self.target = target
        self._clients: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = client(service, self.credentials, self.target)
        return self._clients[service]

    def dynamodb_lock_info(self, table: str, lock_id: str) -> str | None:
        """The ``Info`` attribute (Terraform's LockInfo JSON) of a lock item, or None."""
        try:
            response = self._client("dynamodb").get_item(
                TableName=table, Key={"LockID": {"S": lock_id}}, ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as exc:
            raise describe_cloud_error(
                exc, f"reading lock item {lock_id} in DynamoDB table {table}", self.target
            ) from exc
        item = response.get("Item")
        if not item:
            return None
        # An item without Info is not a lock: Terraform's state digest items
        # (<bucket>/<key>-md5) carry only Digest, and the lock item is deleted on unlock.
        info = item.get("Info", {}).get("S")
        return str(info) if info is not None else None

    def s3_lockfile(self, bucket: str, key: str) -> bytes | None:
        """The body of the ``use_lockfile`` object ``s3://bucket/key``, or None if absent."""
        try:
            response = self._client("s3").get_object(Bucket=bucket, Key=key)
            body: bytes = response["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise describe_cloud_error(exc, f"reading s3://{bucket}/{key}", self.target) from exc
        except BotoCoreError as exc:
            raise describe_cloud_error(exc, f"reading s3://{bucket}/{key}", self.target) from exc
        return body
