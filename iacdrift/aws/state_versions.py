"""A state object and its version history in S3 (read-only, with the stack's own role).

What a check reads (and the IAM a stack's role needs for it, besides ``s3:GetObject``
on its state key):

* ``ListObjectVersions`` with ``Prefix=<state key>``: ``s3:ListBucketVersions`` on
  ``arn:aws:s3:::<bucket>`` (condition ``s3:prefix`` = the key, where supported);
* ``GetObject`` with ``VersionId`` (the first bytes of each earlier version, the whole
  body of the one a regression is measured against): ``s3:GetObjectVersion`` on
  ``arn:aws:s3:::<bucket>/<key>``.

botocore errors become :class:`~iacdrift.errors.CloudError` naming the object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws.session import AwsCredentials, Target, client, describe_cloud_error

# S3's version id of an object written while the bucket's versioning was off.
NULL_VERSION = "null"


@dataclass(frozen=True)
class StateObject:
    """The current state object: its body (secrets in cleartext: memory only) and the
    version id S3 gave it (None when the bucket keeps no versions)."""

    body: bytes
    version_id: str | None

    def __repr__(self) -> str:
        return f"StateObject(version_id={self.version_id!r}, {len(self.body)} bytes)"


@dataclass(frozen=True)
class ListedVersion:
    version_id: str
    last_modified: datetime | None


def _version(value: Any) -> str | None:
    text = str(value) if value else ""
    return text if text and text != NULL_VERSION else None


def read_current(
    bucket: str, key: str, credentials: AwsCredentials, target: Target
) -> StateObject | None:
    """The state object as it is now, with its version id; None when it does not exist."""
    s3 = client("s3", credentials, target)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        body: bytes = response["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise describe_cloud_error(exc, f"reading state s3://{bucket}/{key}", target) from exc
    except BotoCoreError as exc:
        raise describe_cloud_error(exc, f"reading state s3://{bucket}/{key}", target) from exc
    return StateObject(body, _version(response.get("VersionId")))


def earlier_versions(
    bucket: str,
    key: str,
    current_version: str,
    credentials: AwsCredentials,
    target: Target,
    *,
    limit: int,
) -> list[ListedVersion]:
    """Up to ``limit`` versions of exactly ``key`` written before ``current_version``,
    newest first (delete markers and other keys under the prefix skipped). Empty when
    ``current_version`` is not listed."""
    s3 = client("s3", credentials, target)
    seen_current = False
    found: list[ListedVersion] = []
    try:
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=key, PaginationConfig={"PageSize": min(1000, limit + 20)}
        )
        for page in pages:
            for item in page.get("Versions", []):
                # Keys are listed in order, each key's versions newest first; the lock
                # file (<key>.tflock) and other keys under the prefix come after ours.
                if item.get("Key") != key:
                    if str(item.get("Key", "")) > key:
                        return found
                    continue
                version = _version(item.get("VersionId"))
                if version is None:
                    continue
                if not seen_current:
                    seen_current = version == current_version
                    continue
                found.append(ListedVersion(version, item.get("LastModified")))
                if len(found) >= limit:
                    return found
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(
            exc, f"listing the versions of s3://{bucket}/{key}", target
        ) from exc
    return found


def read_version(
    bucket: str,
    key: str,
    version_id: str,
    credentials: AwsCredentials,
    target: Target,
    *,
    first_bytes: int | None = None,
) -> bytes:
    """One version's body, or only its ``first_bytes`` (a ranged read)."""
    s3 = client("s3", credentials, target)
    extra = {"Range": f"bytes=0-{first_bytes - 1}"} if first_bytes else {}
    try:
        body: bytes = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id, **extra)[
            "Body"
        ].read()
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(
            exc, f"reading version {version_id} of s3://{bucket}/{key}", target
        ) from exc
    return body
