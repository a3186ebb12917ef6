"""A trail's S3 log bucket: reading the day folders of a window, and (for the
sandbox, where no trail runs) writing one delivery as a trail would.

The log format, its parsing and the folder layout are pure and live in
:mod:`iacdrift.core.cloudtrail`; botocore errors become :class:`CloudError`
here, while a damaged log file stays the :class:`AuditLogError` the parser raised.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws.provisioning import ensure_bucket
from iacdrift.aws.session import AwsCredentials, Target, client, describe_cloud_error
from iacdrift.core.cloudtrail import (
    day_prefixes,
    delivered_before,
    is_log_name,
    log_prefix,
    parse_records,
    unique_events,
)
from iacdrift.models.context import AuditEvent
from iacdrift.primitives.moments import require_aware


def read_bucket(
    bucket: str,
    prefix: str,
    account: str,
    regions: Sequence[str],
    since: datetime,
    until: datetime,
    credentials: AwsCredentials,
    target: Target,
) -> list[AuditEvent]:
    """Every event from ``since`` to ``until`` (inclusive) a trail delivered to ``bucket``.

    Lists only the day folders of the window for each region (no region given:
    the regions found under the account's ``CloudTrail/`` folder), never the
    whole bucket. One event per eventId, sorted by time.
    """
    since, until = require_aware(since, "since"), require_aware(until, "until")
    s3 = client("s3", credentials, target)
    where = f"s3://{bucket}/{log_prefix(prefix, account)}"
    try:
        chosen = list(regions) or _regions(s3, bucket, log_prefix(prefix, account))
        events: list[AuditEvent] = []
        for region in sorted(set(chosen)):
            for day in day_prefixes(prefix, account, region, since, until):
                where = f"s3://{bucket}/{day}"
                for key in _keys(s3, bucket, day):
                    if not is_log_name(key) or delivered_before(key, since):
                        continue
                    where = f"s3://{bucket}/{key}"
                    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                    events.extend(parse_records(body, where))
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(exc, f"reading CloudTrail logs at {where}", target) from exc
    return unique_events(event for event in events if since <= event.eventTime <= until)


def _keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield str(item["Key"])


def _regions(s3: Any, bucket: str, prefix: str) -> list[str]:
    found: list[str] = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    )
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            found.append(str(common["Prefix"])[len(prefix) :].strip("/"))
    return sorted(region for region in found if region)


def deliver_log(
    bucket: str, key: str, body: bytes, credentials: AwsCredentials, target: Target
) -> str:
    """Write one delivery (a gzipped log body) to ``bucket`` under ``key``, creating the
    bucket when it is missing; return the object's ``s3://`` URI."""
    try:
        s3 = client("s3", credentials, target)
        ensure_bucket(s3, bucket)
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
        )
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(
            exc, f"delivering CloudTrail records to {bucket}", target
        ) from exc
    return f"s3://{bucket}/{key}"
