"""Reading a trail's log bucket on a moto server (S3 only, no stacks applied).

The bucket holds what a trail would deliver: two days and two regions of one
account, another account, a digest file, and damaged files in folders outside the
window. A damaged file that is read fails the call, so a passing read proves
those folders were never listed.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from iacdrift.aws.cloudtrail import read_bucket
from iacdrift.aws.session import AwsCredentials, Target, client
from iacdrift.core.attribution import index_audit
from iacdrift.errors import AuditLogError, CloudError
from iacdrift.models.finding import CredentialsSource
from iacdrift.sandbox import server as srv

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
BUCKET = "org-cloudtrail-logs"
PREFIX = "trails/main"
SG = "sg-0a1b2c3d4e5f60718"


@dataclass(frozen=True)
class Cloud:
    credentials: AwsCredentials
    target: Target

    def s3(self) -> Any:
        return client("s3", self.credentials, self.target)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    pid, port = srv.start_server(tmp_path_factory.mktemp("moto"))
    try:
        found = Cloud(
            AwsCredentials(
                srv.ACCESS_KEY_ID, srv.SECRET_ACCESS_KEY, source=CredentialsSource.SANDBOX
            ),
            Target(srv.REGION, f"http://127.0.0.1:{port}"),
        )
        s3 = found.s3()
        s3.create_bucket(Bucket=BUCKET)
        for key, body in delivered().items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        yield found
    finally:
        srv.stop_server(pid, port)


def record(event_id: str, time: str, region: str, account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEID:alice",
            "arn": f"arn:aws:sts::{account}:assumed-role/BreakGlass/alice",
            "accountId": account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLEID",
                    "arn": f"arn:aws:iam::{account}:role/BreakGlass",
                    "accountId": account,
                    "userName": "BreakGlass",
                },
                "attributes": {"creationDate": time, "mfaAuthenticated": "true"},
            },
        },
        "eventTime": time,
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"groupId": SG},
        "responseElements": {"_return": True},
        "requestID": f"req-{event_id}",
        "eventID": event_id,
        "readOnly": False,
        "resources": [
            {
                "accountId": account,
                "type": "AWS::EC2::SecurityGroup",
                "ARN": f"arn:aws:ec2:{region}:{account}:security-group/{SG}",
            }
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
    }


def key(region: str, delivered: str, suffix: str, account: str = ACCOUNT) -> str:
    moment = datetime.fromisoformat(delivered)
    return (
        f"{PREFIX}/AWSLogs/{account}/CloudTrail/{region}/{moment:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{moment:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    )


def gz(*records: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps({"Records": list(records)}).encode())


def delivered() -> dict[str, bytes]:
    east, west = "us-east-1", "eu-west-1"
    return {
        # Outside any window asked for below: damaged, so reading them would fail.
        key(east, "2026-11-20T10:05:00Z", "broken"): b"not a log file",
        key(east, "2026-11-28T10:05:00Z", "broken"): b"not a log file",
        key(east, "2026-11-24T10:05:00Z", "a"): gz(record("east-24", "2026-11-24T10:01:00Z", east)),
        key(east, "2026-11-25T10:05:00Z", "a"): gz(
            record("east-25-early", "2026-11-25T10:00:00Z", east),
            record("east-25", "2026-11-25T10:02:00Z", east),
        ),
        # Delivered again in a later file: one event per eventID.
        key(east, "2026-11-25T10:10:00Z", "b"): gz(record("east-25", "2026-11-25T10:02:00Z", east)),
        # Happened before midnight, delivered into the next day's folder.
        key(east, "2026-11-26T00:03:00Z", "a"): gz(
            record("east-25-late", "2026-11-25T23:58:00Z", east),
            record("east-26", "2026-11-26T00:01:00Z", east),
        ),
        key(west, "2026-11-25T11:05:00Z", "a"): gz(record("west-25", "2026-11-25T11:00:00Z", west)),
        key(east, "2026-11-25T10:05:00Z", "x", OTHER_ACCOUNT): gz(
            record("other-account", "2026-11-25T10:00:00Z", east, OTHER_ACCOUNT)
        ),
        # Not event files: skipped by name.
        f"{PREFIX}/AWSLogs/{ACCOUNT}/CloudTrail/{east}/2026/11/25/README.txt": b"x",
        f"{PREFIX}/AWSLogs/{ACCOUNT}/CloudTrail-Digest/{east}/2026/11/25/"
        f"{ACCOUNT}_CloudTrail-Digest_{east}_main_{east}_20261125T1005Z.json.gz": gzip.compress(
            b'{"digestStartTime": "2026-11-25T09:05:00Z"}'
        ),
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def ids(events: list[Any]) -> list[str]:
    return [event.eventId for event in events]


def read(cloud: Cloud, regions: list[str], since: str, until: str) -> list[Any]:
    return read_bucket(
        BUCKET,
        PREFIX,
        ACCOUNT,
        regions,
        at(since),
        at(until),
        cloud.credentials,
        cloud.target,
    )


def test_reads_one_region_and_only_the_window(cloud: Cloud) -> None:
    events = read(cloud, ["us-east-1"], "2026-11-25T00:00:00Z", "2026-11-25T23:59:59Z")

    assert ids(events) == ["east-25-early", "east-25", "east-25-late"]
    first = events[0]
    assert first.source == f"s3://{BUCKET}/{key('us-east-1', '2026-11-25T10:05:00Z', 'a')}"
    assert first.roleArn == f"arn:aws:iam::{ACCOUNT}:role/BreakGlass"
    assert first.region == "us-east-1"
    assert all(event.eventTime.tzinfo is UTC for event in events)


def test_the_window_bounds_are_inclusive_and_cut_inside_a_file(cloud: Cloud) -> None:
    events = read(cloud, ["us-east-1"], "2026-11-25T10:02:00Z", "2026-11-26T00:01:00Z")
    assert ids(events) == ["east-25", "east-25-late", "east-26"]


def test_two_days_and_two_regions(cloud: Cloud) -> None:
    events = read(cloud, ["us-east-1", "eu-west-1"], "2026-11-24T00:00:00Z", "2026-11-25T12:00:00Z")
    assert ids(events) == ["east-24", "east-25-early", "east-25", "west-25"]
    since = at("2026-11-25T10:01:00Z")
    assert ids([e for e in index_audit(events)[SG] if e.eventTime >= since]) == [
        "east-25",
        "west-25",
    ]


def test_no_region_given_reads_every_region_the_account_has(cloud: Cloud) -> None:
    events = read(cloud, [], "2026-11-25T00:00:00Z", "2026-11-25T12:00:00Z")
    assert ids(events) == ["east-25-early", "east-25", "west-25"]


def test_a_damaged_file_inside_the_window_names_its_key(cloud: Cloud) -> None:
    with pytest.raises(AuditLogError) as caught:
        read(cloud, ["us-east-1"], "2026-11-28T00:00:00Z", "2026-11-28T12:00:00Z")
    assert str(caught.value).startswith(
        f"s3://{BUCKET}/{key('us-east-1', '2026-11-28T10:05:00Z', 'broken')}: not JSON"
    )


def test_an_empty_window_or_prefix_reads_nothing(cloud: Cloud) -> None:
    assert read(cloud, ["ap-south-1"], "2026-11-25T00:00:00Z", "2026-11-25T12:00:00Z") == []
    assert (
        read_bucket(
            BUCKET,
            "elsewhere",
            ACCOUNT,
            [],
            at("2026-11-25T00:00:00Z"),
            at("2026-11-25T12:00:00Z"),
            cloud.credentials,
            cloud.target,
        )
        == []
    )


def test_a_missing_bucket_is_a_cloud_error(cloud: Cloud) -> None:
    with pytest.raises(CloudError) as caught:
        read_bucket(
            "no-such-log-bucket",
            PREFIX,
            ACCOUNT,
            ["us-east-1"],
            at("2026-11-25T00:00:00Z"),
            at("2026-11-25T01:00:00Z"),
            cloud.credentials,
            cloud.target,
        )
    message = str(caught.value)
    assert "reading CloudTrail logs at s3://no-such-log-bucket/" in message
    assert "NoSuchBucket" in message
    assert cloud.target.endpoint_url is not None and cloud.target.endpoint_url in message
