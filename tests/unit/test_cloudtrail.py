"""CloudTrail records as CloudTrail delivers them: parsing, identifiers, secrets,
malformed files, directory reading, the resource index and role globs."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from iacdrift.core.attribution import index_audit
from iacdrift.core.cloudtrail import (
    actor_matches,
    arn_names,
    day_prefixes,
    file_time,
    parse_records,
    unique_events,
)
from iacdrift.errors import AuditLogError, InputError
from iacdrift.loaders.cloudtrail import read_directory
from iacdrift.models.context import AuditEvent

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ops/BreakGlass"
SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/BreakGlass/alice@example.com"
SG = "sg-0a1b2c3d4e5f60718"


def assumed_role(role: str = "BreakGlass", session: str = "alice@example.com") -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLEID:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEKEY",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEID",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/ops/{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": "2026-11-25T09:58:00Z", "mfaAuthenticated": "true"},
        },
    }


def record(
    event_id: str = "ev-1",
    time: str = "2026-11-25T10:00:00Z",
    name: str = "AuthorizeSecurityGroupIngress",
    source: str = "ec2.amazonaws.com",
    **fields: Any,
) -> dict[str, Any]:
    """One record with every field a real management event carries."""
    base: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": assumed_role(),
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {
            "groupId": SG,
            "ipPermissions": {
                "items": [
                    {
                        "ipProtocol": "tcp",
                        "fromPort": 22,
                        "toPort": 22,
                        "groups": {},
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                    }
                ]
            },
        },
        "responseElements": {"requestId": "req-1", "_return": True},
        "requestID": "req-1",
        "eventID": event_id,
        "readOnly": False,
        "resources": [
            {
                "accountId": ACCOUNT,
                "type": "AWS::EC2::SecurityGroup",
                "ARN": f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{SG}",
            }
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    base.update(fields)
    return base


def log_file(*records: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps({"Records": list(records)}).encode())


def file_name(delivered: datetime, region: str = "us-east-1", suffix: str = "AbCdEf") -> str:
    return f"{ACCOUNT}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{suffix}.json.gz"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- parsing ---------------------------------------------------------------------------


def test_a_gzipped_log_file_parses_into_events() -> None:
    (event,) = parse_records(log_file(record()), "logs/a.json.gz")

    assert event.eventId == "ev-1"
    assert event.eventTime == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert (event.eventName, event.eventSource, event.region) == (
        "AuthorizeSecurityGroupIngress",
        "ec2.amazonaws.com",
        "us-east-1",
    )
    assert event.actorType == "AssumedRole"
    assert event.actorArn == SESSION_ARN
    assert event.roleArn == ROLE_ARN
    assert event.resourceIds == [f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{SG}", SG]
    assert event.readOnly is False
    assert event.errorCode is None
    assert event.mutating
    assert event.source == "logs/a.json.gz"


def test_plain_json_reads_like_gzip() -> None:
    plain = json.dumps({"Records": [record()]}).encode()
    assert parse_records(plain, "x") == parse_records(log_file(record()), "x")


def test_events_come_sorted_by_time_whatever_the_file_order() -> None:
    events = parse_records(
        log_file(
            record("b", "2026-11-25T10:02:00Z"),
            record("a", "2026-11-25T10:01:00Z"),
            record("c", "2026-11-25T10:00:30+00:00"),
        ),
        "x",
    )
    assert [event.eventId for event in events] == ["c", "a", "b"]


def test_an_offset_time_is_kept_in_utc() -> None:
    (event,) = parse_records(log_file(record(time="2026-11-25T12:00:00+02:00")), "x")
    assert event.eventTime == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert event.eventTime.tzinfo is UTC


def test_an_empty_log_file_has_no_events() -> None:
    assert parse_records(log_file(), "x") == []


# --- identities ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "actor", "actor_type", "role"),
    [
        (
            {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLE",
                "arn": f"arn:aws:iam::{ACCOUNT}:user/Alice",
                "accountId": ACCOUNT,
                "accessKeyId": "AKIAEXAMPLE",
                "userName": "Alice",
            },
            f"arn:aws:iam::{ACCOUNT}:user/Alice",
            "IAMUser",
            None,
        ),
        (
            {
                "type": "Root",
                "principalId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:root",
                "accountId": ACCOUNT,
            },
            f"arn:aws:iam::{ACCOUNT}:root",
            "Root",
            None,
        ),
        (
            {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"},
            "autoscaling.amazonaws.com",
            "AWSService",
            None,
        ),
        (
            {
                "type": "FederatedUser",
                "principalId": f"{ACCOUNT}:bob",
                "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/bob",
                "accountId": ACCOUNT,
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "IAMUser",
                        "arn": f"arn:aws:iam::{ACCOUNT}:user/federator",
                    }
                },
            },
            f"arn:aws:sts::{ACCOUNT}:federated-user/bob",
            "FederatedUser",
            None,
        ),
        (
            # Some records carry no session issuer: the role comes from the session ARN.
            {
                "type": "AssumedRole",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/karpenter/i-0abc",
                "accountId": ACCOUNT,
            },
            f"arn:aws:sts::{ACCOUNT}:assumed-role/karpenter/i-0abc",
            "AssumedRole",
            f"arn:aws:iam::{ACCOUNT}:role/karpenter",
        ),
    ],
    ids=["iam-user", "root", "aws-service", "federated-user", "assumed-role-no-issuer"],
)
def test_identity_types(
    identity: dict[str, Any], actor: str, actor_type: str, role: str | None
) -> None:
    (event,) = parse_records(log_file(record(userIdentity=identity)), "x")
    assert (event.actorArn, event.actorType, event.roleArn) == (actor, actor_type, role)


# --- identifiers ------------------------------------------------------------------------


def ids_of(**fields: Any) -> list[str]:
    (event,) = parse_records(log_file(record(**fields)), "x")
    return event.resourceIds


def test_iam_attach_names_the_role_and_the_policy() -> None:
    policy = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert ids_of(
        name="AttachRolePolicy",
        source="iam.amazonaws.com",
        requestParameters={"roleName": "prod-app", "policyArn": policy},
        responseElements=None,
        resources=None,
    ) == ["AdministratorAccess", policy, "prod-app"]


def test_identifiers_are_found_nested_in_responses() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/service/prod-app"
    got = ids_of(
        name="CreateRole",
        source="iam.amazonaws.com",
        requestParameters={
            "roleName": "prod-app",
            "path": "/service/",
            "assumeRolePolicyDocument": json.dumps({"Statement": [{"Effect": "Allow"}]}),
        },
        responseElements={
            "role": {
                "path": "/service/",
                "roleName": "prod-app",
                "roleId": "AROAEXAMPLE",
                "arn": role,
                "createDate": "Nov 25, 2026 10:00:00 AM",
            }
        },
        resources=[],
    )
    assert got == [role, "prod-app"]


def test_run_instances_names_every_instance() -> None:
    got = ids_of(
        name="RunInstances",
        requestParameters={"instancesSet": {"items": [{"imageId": "ami-1", "minCount": 2}]}},
        responseElements={
            "instancesSet": {"items": [{"instanceId": "i-0aaa"}, {"instanceId": "i-0bbb"}]}
        },
        resources=[],
    )
    assert got == ["i-0aaa", "i-0bbb"]


def test_arns_contribute_their_final_name() -> None:
    assert arn_names(f"arn:aws:iam::{ACCOUNT}:role/path/to/app") == ["app"]
    assert arn_names(f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{SG}") == [SG]
    assert arn_names("arn:aws:s3:::my-bucket") == ["my-bucket"]
    assert arn_names("arn:aws:s3:::my-bucket/some/key.txt") == ["my-bucket"]
    assert arn_names(f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ledger") == ["ledger"]
    assert arn_names(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:resize:PROD") == ["resize"]
    assert arn_names(
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-password-AbCdEf"
    ) == ["db-password-AbCdEf"]
    assert arn_names(f"arn:aws:iam::{ACCOUNT}:role/*") == []
    assert arn_names("sg-123") == []
    assert arn_names("arn:aws:iam") == []


def test_dynamodb_and_s3_identifiers() -> None:
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/ledger"
    assert ids_of(
        name="UpdateTable",
        source="dynamodb.amazonaws.com",
        requestParameters={"tableName": "ledger", "billingMode": "PAY_PER_REQUEST"},
        responseElements={"tableDescription": {"tableName": "ledger", "tableArn": table}},
        resources=None,
    ) == [table, "ledger"]
    assert ids_of(
        name="PutBucketTagging",
        source="s3.amazonaws.com",
        requestParameters={
            "bucketName": "prod-ledger",
            "Host": "prod-ledger.s3.amazonaws.com",
            "tagging": "",
            "Tagging": {"TagSet": {"Tag": [{"Key": "name", "Value": "other-bucket"}]}},
        },
        responseElements=None,
        resources=[
            {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::prod-ledger", "accountId": ACCOUNT}
        ],
    ) == ["arn:aws:s3:::prod-ledger", "prod-ledger"]


# --- secrets ------------------------------------------------------------------------------


SECRETS = ("hunter2-db-password", "AKIA-EMBEDDED-KEY", "#!/bin/sh echo token=abc123")


def test_request_values_other_than_identifiers_are_never_kept() -> None:
    secret_arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-AbCdEf"
    events = parse_records(
        log_file(
            record(
                "put-secret",
                name="PutSecretValue",
                source="secretsmanager.amazonaws.com",
                requestParameters={"secretId": "prod/db", "secretString": SECRETS[0]},
                responseElements={"arn": secret_arn, "name": "prod/db", "versionId": "v-1"},
                resources=None,
            ),
            record(
                "lambda",
                name="UpdateFunctionConfiguration20150331v2",
                source="lambda.amazonaws.com",
                requestParameters={
                    "functionName": "resize",
                    # A variable called `name` is still user data, not an identifier.
                    "environment": {"variables": {"name": SECRETS[0], "KEY": SECRETS[1]}},
                },
                responseElements=None,
                resources=None,
            ),
            record(
                "run",
                name="RunInstances",
                requestParameters={
                    "userData": SECRETS[2],
                    "tagSpecificationSet": {
                        "items": [{"tags": [{"key": "name", "value": SECRETS[1]}]}]
                    },
                    "parameters": [{"name": SECRETS[1]}],
                },
                responseElements=None,
                resources=None,
            ),
        ),
        "x",
    )
    dumped = json.dumps([event.model_dump(mode="json") for event in events])
    for secret in SECRETS:
        assert secret not in dumped
    by_id = {event.eventId: event.resourceIds for event in events}
    assert by_id == {
        "put-secret": [secret_arn, "db-AbCdEf", "prod/db"],
        "lambda": ["resize"],
        "run": [],
    }
    # The model has no field where a payload could hide.
    assert "requestParameters" not in AuditEvent.model_fields
    assert "responseElements" not in AuditEvent.model_fields


def test_identifier_values_that_are_not_plain_names_are_dropped() -> None:
    assert (
        ids_of(
            requestParameters={"groupId": "sg-1\nsecret", "name": " padded ", "roleName": 7},
            resources=None,
        )
        == []
    )


# --- readOnly and failures ---------------------------------------------------------------


def test_read_only_as_bool_string_or_inferred() -> None:
    def read_only(**fields: Any) -> bool:
        (event,) = parse_records(log_file(record(**fields)), "x")
        return event.readOnly

    assert read_only(readOnly=True) is True
    assert read_only(readOnly="true") is True
    assert read_only(readOnly="false") is False
    base = record(name="DescribeSecurityGroups")
    del base["readOnly"]
    (described,) = parse_records(log_file(base), "x")
    assert described.readOnly is True
    base = record(name="ModifyInstanceAttribute")
    del base["readOnly"]
    (modified,) = parse_records(log_file(base), "x")
    assert modified.readOnly is False


def test_a_failed_call_is_not_mutating() -> None:
    (event,) = parse_records(
        log_file(record(errorCode="Client.UnauthorizedOperation", errorMessage="denied")), "x"
    )
    assert event.errorCode == "Client.UnauthorizedOperation"
    assert not event.readOnly and not event.mutating


# --- malformed input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\x1f\x8b\x08\x00garbage", "damaged gzip data"),
        (gzip.compress(b"{not json"), "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (json.dumps({"records": []}).encode(), "not a CloudTrail log file"),
        (json.dumps([{"eventID": "x"}]).encode(), "not a CloudTrail log file"),
        (json.dumps({"Records": {"eventID": "x"}}).encode(), "not a CloudTrail log file"),
        (json.dumps({"Records": ["x"]}).encode(), "Records[0]: a record must be a JSON object"),
        (log_file(record(), {**record("b"), "eventTime": None}), "Records[1].eventTime: missing"),
        (log_file({**record(), "eventID": ""}), "Records[0].eventID: missing"),
        (log_file(record(time="25/11/2026 10:00")), "'25/11/2026 10:00' is not an ISO 8601"),
        (log_file(record(userIdentity="root")), "Records[0].userIdentity: must be a JSON"),
    ],
    ids=[
        "bad-gzip",
        "bad-json",
        "not-utf8",
        "no-records",
        "top-level-list",
        "records-not-list",
        "record-not-object",
        "missing-time",
        "empty-id",
        "bad-time",
        "identity-not-object",
    ],
)
def test_a_malformed_file_is_one_line_naming_the_source(data: bytes, says: str) -> None:
    with pytest.raises(AuditLogError) as caught:
        parse_records(data, "s3://logs/AWSLogs/x.json.gz")
    message = str(caught.value)
    assert isinstance(caught.value, InputError)
    assert message.startswith("s3://logs/AWSLogs/x.json.gz: ")
    assert says in message
    assert "\n" not in message
    assert "remove it" in message


def test_an_audit_event_refuses_a_time_without_a_zone() -> None:
    with pytest.raises(ValidationError, match="no time zone"):
        AuditEvent(
            eventId="e",
            eventTime=datetime(2026, 11, 25, 10, 0),
            eventName="X",
            eventSource="ec2.amazonaws.com",
            actorArn="a",
            actorType="IAMUser",
            readOnly=False,
            source="x",
        )


# --- file names and day folders -------------------------------------------------------------


def test_file_time_reads_the_delivery_time() -> None:
    name = file_name(datetime(2026, 11, 25, 10, 5, tzinfo=UTC))
    assert file_time(name) == datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
    assert file_time("notes.json") is None
    assert file_time(f"{ACCOUNT}_CloudTrail_us-east-1_20261399T9999Z_x.json.gz") is None


def test_day_prefixes_cover_the_window_and_the_late_delivery() -> None:
    days = day_prefixes(
        "logs/", ACCOUNT, "eu-west-1", at("2026-11-29T08:00:00Z"), at("2026-12-01T12:00:00Z")
    )
    base = f"logs/AWSLogs/{ACCOUNT}/CloudTrail/eu-west-1/"
    assert days == [f"{base}2026/11/29/", f"{base}2026/11/30/", f"{base}2026/12/01/"]
    # An event just before midnight may be delivered into the next day's folder.
    late = day_prefixes(
        "", ACCOUNT, "us-east-1", at("2026-11-25T00:00:00Z"), at("2026-11-25T23:30:00Z")
    )
    assert late == [
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/25/",
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/26/",
    ]
    # Offsets are folded into UTC days: 01:00+02:00 is 23:00 the day before.
    shifted = day_prefixes(
        "",
        ACCOUNT,
        "us-east-1",
        datetime.fromisoformat("2026-11-25T01:00:00+02:00"),
        datetime.fromisoformat("2026-11-25T02:00:00+02:00"),
    )
    assert shifted == [
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/24/",
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/25/",
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        day_prefixes("", ACCOUNT, "us-east-1", datetime(2026, 11, 25), at("2026-11-26T00:00:00Z"))


# --- reading a directory -------------------------------------------------------------------------


def test_read_directory_is_recursive_filters_by_time_and_dedupes(tmp_path: Path) -> None:
    day = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / "2026" / "11" / "25"
    day.mkdir(parents=True)
    (day / file_name(at("2026-11-25T10:05:00Z"), suffix="a")).write_bytes(
        log_file(record("old", "2026-11-25T09:00:00Z"), record("new", "2026-11-25T10:01:00Z"))
    )
    # CloudTrail may deliver an event twice.
    (day / file_name(at("2026-11-25T10:10:00Z"), suffix="b")).write_bytes(
        log_file(record("new", "2026-11-25T10:01:00Z"), record("newer", "2026-11-25T10:07:00Z"))
    )
    (tmp_path / "extra.json").write_text(json.dumps({"Records": [record("plain")]}))
    (tmp_path / "README.txt").write_text("not a log")
    digest = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail-Digest" / "us-east-1"
    digest.mkdir(parents=True)
    (digest / f"{ACCOUNT}_CloudTrail-Digest_us-east-1_x_20261125T1000Z.json.gz").write_bytes(
        gzip.compress(json.dumps({"digestStartTime": "2026-11-25T09:00:00Z"}).encode())
    )

    everything = read_directory(tmp_path, None)
    assert [event.eventId for event in everything] == ["old", "plain", "new", "newer"]
    assert {event.source for event in everything} >= {str(tmp_path / "extra.json")}

    recent = read_directory(tmp_path, at("2026-11-25T10:00:00Z"))
    assert [event.eventId for event in recent] == ["plain", "new", "newer"]


def test_read_directory_skips_files_delivered_long_before_since(tmp_path: Path) -> None:
    # Delivered two days earlier: not even opened (it would not parse).
    (tmp_path / file_name(at("2026-11-23T10:00:00Z"), suffix="old")).write_bytes(b"{broken")
    assert read_directory(tmp_path, at("2026-11-25T00:00:00Z")) == []
    # Delivered inside the window: read, and its damage reported.
    broken = tmp_path / file_name(at("2026-11-25T10:00:00Z"), suffix="new")
    broken.write_bytes(b"{broken")
    with pytest.raises(AuditLogError, match=f"^{broken}: not JSON"):
        read_directory(tmp_path, at("2026-11-25T00:00:00Z"))


def test_read_directory_that_is_missing(tmp_path: Path) -> None:
    with pytest.raises(AuditLogError, match="audit log directory not found; create it"):
        read_directory(tmp_path / "nowhere", None)
    (tmp_path / "file").write_text("")
    with pytest.raises(AuditLogError, match="is not a directory"):
        read_directory(tmp_path / "file", None)


# --- the index ---------------------------------------------------------------------------------


def event(
    event_id: str,
    minute: int,
    ids: list[str],
    *,
    read_only: bool = False,
    error: str | None = None,
    actor: str = SESSION_ARN,
    role: str | None = ROLE_ARN,
    actor_type: str = "AssumedRole",
) -> AuditEvent:
    return AuditEvent(
        eventId=event_id,
        eventTime=datetime(2026, 11, 25, 10, minute, tzinfo=UTC),
        eventName="Describe" if read_only else "Modify",
        eventSource="ec2.amazonaws.com",
        region="us-east-1",
        actorArn=actor,
        actorType=actor_type,
        roleArn=role,
        resourceIds=ids,
        readOnly=read_only,
        errorCode=error,
        source="x",
    )


def test_the_index_holds_successful_writes_under_every_identifier_they_name() -> None:
    arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{SG}"
    index = index_audit(
        [
            event("arn", 10, [arn, SG]),
            event("read", 15, [SG], read_only=True),
            event("denied", 16, [SG], error="AccessDenied"),
            event("other", 20, ["sg-other"]),
            event("late", 30, [SG]),
        ]
    )
    assert sorted(index) == sorted([arn, SG, "sg-other"])
    assert [e.eventId for e in index[SG]] == ["arn", "late"]
    assert [e.eventId for e in index[arn]] == ["arn"]
    assert [e.eventId for e in index["sg-other"]] == ["other"]


def test_unique_events_keeps_one_per_id() -> None:
    first, again = event("e", 1, ["a"]), event("e", 1, ["a"])
    assert unique_events([again, first, event("d", 0, [])]) == [event("d", 0, []), first]


def test_role_globs_match_the_session_or_the_role() -> None:
    glass = event("g", 1, [])
    assert actor_matches(glass, ["arn:aws:iam::*:role/ops/BreakGlass"])
    assert actor_matches(glass, ["arn:aws:iam::*:role/*/Break*"])
    assert actor_matches(glass, ["arn:aws:sts::*:assumed-role/BreakGlass/*"])
    assert not actor_matches(glass, ["arn:aws:iam::*:role/BreakGlass"])  # the path matters
    assert not actor_matches(glass, [])
    assert actor_matches(glass, ["*BreakGlass"])
    assert actor_matches(glass, iter(["nobody", "*BreakGlass"]))  # globs read once

    user = event("u", 1, [], actor=f"arn:aws:iam::{ACCOUNT}:user/alice", role=None)
    assert not actor_matches(user, ["arn:aws:iam::*:role/*"])
    assert actor_matches(user, ["arn:aws:iam::*:user/alice"])

    service = event(
        "s", 1, [], actor="autoscaling.amazonaws.com", role=None, actor_type="AWSService"
    )
    assert actor_matches(service, ["autoscaling.amazonaws.com"])
    assert not actor_matches(service, ["arn:aws:iam::*:role/*"])
