"""CloudTrail records for the sandbox's own changes, in the real delivery format.

moto implements no CloudTrail ``LookupEvents`` and writes no trail logs, so the
sandbox writes what a real trail would deliver for each change it makes: one
gzipped ``{"Records": [...]}`` object per delivery, in the trail's log bucket,
under ``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` and named
``<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<16 random alnum>.json.gz``.

Each record follows CloudTrail's record contents (eventVersion 1.08): the
``userIdentity`` of the caller (an assumed-role session with its
``sessionContext``, an IAM user or the root user), the event's source, name and
region, ``requestParameters`` and ``responseElements`` in the shapes the
service logs, and ``resources`` only where CloudTrail gives them (S3 bucket
operations). Secret values never appear: CloudTrail logs no ``secretString``
for Secrets Manager, and the records here are built from the identifiers only.

Pure: actors, records, the object key and the body (ids, times and the random
suffix are passed in). Thin: :func:`deliver`, which writes the object through
:func:`iacdrift.aws.cloudtrail.deliver_log`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from iacdrift.aws.cloudtrail import deliver_log
from iacdrift.aws.session import AwsCredentials, Target
from iacdrift.errors import InputError

# moto's account; the example registry's roles live in it too.
ACCOUNT_ID = "123456789012"
# Excluded from unmanaged detection by iacdrift.yaml (`*-cloudtrail-logs`).
LOG_BUCKET = "iacdrift-sandbox-cloudtrail-logs"
EVENT_VERSION = "1.08"
# IAM is a global service: CloudTrail logs its calls in us-east-1.
GLOBAL_REGION = "us-east-1"
SUFFIX_ALPHABET = string.ascii_letters + string.digits
SUFFIX_LENGTH = 16

TERRAFORM_AGENT = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.15.5 (+https://www.terraform.io) "
    "terraform-provider-aws/3.39.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go/1.38.35 (go1.16; linux; amd64)"
)
CLI_AGENT = (
    "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 "
    "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe"
)
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Actor:
    """Who made a call, as CloudTrail's ``userIdentity`` names it.

    ``type`` is ``AssumedRole`` (``arn`` an STS session ARN, ``role_arn`` the
    role), ``IAMUser`` or ``Root``. ``web_identity_provider`` is the OIDC
    provider ARN of a web-identity session (CI pipelines, EKS service accounts).
    """

    arn: str
    type: str
    account: str
    role_arn: str | None
    source_ip: str
    user_agent: str
    mfa: bool = False
    web_identity_provider: str | None = None
    # How long before the call the session was created (sessionContext.creationDate).
    session_age: timedelta = timedelta(minutes=12)

    @property
    def name(self) -> str:
        """The session name (assumed role), user name, or ``root``."""
        return self.arn.rsplit("/", 1)[-1] if "/" in self.arn else "root"

    @property
    def role_name(self) -> str | None:
        return self.role_arn.rsplit("/", 1)[-1] if self.role_arn else None


def _unique_id(prefix: str, seed: str) -> str:
    """An IAM unique id (``AROA...``, ``AIDA...``, ``ASIA...``): 4 + 17 characters
    of [A-Z2-7], derived from ``seed`` so the same actor always has the same id."""
    digest = base64.b32encode(hashlib.sha256(seed.encode()).digest()).decode()
    return prefix + digest[:17]


def principal_id(actor: Actor) -> str:
    if actor.type == "AssumedRole" and actor.role_arn:
        return f"{_unique_id('AROA', actor.role_arn)}:{actor.name}"
    if actor.type == "IAMUser":
        return _unique_id("AIDA", actor.arn)
    return actor.account


def access_key_id(actor: Actor) -> str:
    """Temporary keys start with ASIA, long-term keys with AKIA."""
    return _unique_id("ASIA" if actor.type == "AssumedRole" else "AKIA", actor.arn)[:20]


_SESSION_ARN = re.compile(
    r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/([\w+=,.@-]+)$"
)
_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]+)$")
_USER_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):user/((?:[\w+=,.@-]+/)*)([\w+=,.@-]+)$")
_ROOT_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):root$")


def actor_from_arn(
    arn: str,
    *,
    role_arn: str | None = None,
    source_ip: str = "203.0.113.24",
    user_agent: str = CLI_AGENT,
    mfa: bool = False,
    web_identity_provider: str | None = None,
) -> Actor:
    """The actor an ARN names: an assumed-role session
    (``arn:aws:sts::<account>:assumed-role/<role>/<session>``), a role (a session
    named ``sandbox-drift`` of it), an IAM user or the root user.

    ``role_arn`` gives the session's role when it has a path (the session ARN
    drops the path). Raises InputError naming the accepted forms.
    """
    if match := _SESSION_ARN.match(arn):
        partition, account, role, _ = match.groups()
        issuer = role_arn or f"arn:{partition}:iam::{account}:role/{role}"
        if not issuer.endswith(f"/{role}"):
            raise InputError(f"{arn}: the session's role {issuer} is not role {role}")
        return Actor(
            arn, "AssumedRole", account, issuer, source_ip, user_agent, mfa, web_identity_provider
        )
    if match := _ROLE_ARN.match(arn):
        partition, account, _, role = match.groups()
        session = f"arn:{partition}:sts::{account}:assumed-role/{role}/sandbox-drift"
        return Actor(
            session, "AssumedRole", account, arn, source_ip, user_agent, mfa, web_identity_provider
        )
    if match := _USER_ARN.match(arn):
        return Actor(arn, "IAMUser", match.group(2), None, source_ip, user_agent, mfa)
    if match := _ROOT_ARN.match(arn):
        return Actor(arn, "Root", match.group(2), None, source_ip, user_agent, mfa)
    raise InputError(
        f"--actor {arn!r}: not an actor name or ARN; use human, break-glass, controller, "
        "rotation, pipeline, or an ARN: arn:aws:sts::<account>:assumed-role/<role>/<session>, "
        "arn:aws:iam::<account>:role/<name>, arn:aws:iam::<account>:user/<name>"
    )


SSO_ROLE = (
    f"arn:aws:iam::{ACCOUNT_ID}:role/aws-reserved/sso.amazonaws.com/"
    "AWSReservedSSO_Admin_0123456789abcdef"
)

# The named actors of `sandbox drift --actor NAME` (``pipeline`` is per stack:
# see :func:`pipeline_actor`).
NAMED_ACTORS: dict[str, Actor] = {
    # A person signed in through IAM Identity Center, using the CLI.
    "human": actor_from_arn(
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/"
        "alice@example.com",
        role_arn=SSO_ROLE,
    ),
    # The emergency role, assumed with MFA from the console during an incident.
    "break-glass": actor_from_arn(
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/break-glass-admin/oncall-bob",
        source_ip="198.51.100.77",
        user_agent="AWS Internal",
        mfa=True,
    ),
    # A Kubernetes controller with an EKS service-account role (IRSA).
    "controller": actor_from_arn(
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/cluster-autoscaler/"
        "cluster-autoscaler-6f9c7d8b4-q2xkz",
        source_ip="10.20.31.7",
        user_agent="aws-sdk-go/1.44.324 (go1.21.5; linux; amd64) cluster-autoscaler/v1.29.0",
        web_identity_provider=(
            f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/"
            "5C4E3F0B1D8A2C7E9F6B3A1D0E8C7B6A"
        ),
    ),
    # The database team's rotation function (a Lambda execution role).
    "rotation": actor_from_arn(
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/db-secret-rotation/rotation-lambda",
        source_ip="3.85.112.40",
        user_agent=(
            "Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.205 md/arch#x86_64 "
            "lang/python#3.12.1 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
            "cfg/retry-mode#legacy Botocore/1.34.34"
        ),
    ),
}


def pipeline_actor(role_arn: str, session: str) -> Actor:
    """A stack's CI pipeline: its role, assumed with the GitHub Actions web identity,
    running Terraform."""
    role = actor_from_arn(role_arn)
    account = role.account
    return actor_from_arn(
        f"arn:aws:sts::{account}:assumed-role/{role.role_name}/{session}",
        role_arn=role_arn,
        source_ip="192.0.2.140",
        user_agent=TERRAFORM_AGENT,
        web_identity_provider=f"arn:aws:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}",
    )


@dataclass(frozen=True)
class Resource:
    """One entry of a record's ``resources``."""

    arn: str
    type: str
    account: str = ACCOUNT_ID


def s3_bucket(bucket: str, account: str = ACCOUNT_ID) -> Resource:
    return Resource(f"arn:aws:s3:::{bucket}", "AWS::S3::Bucket", account)


@dataclass(frozen=True)
class ApiCall:
    """One API call as CloudTrail saw it (before it is shaped into a record)."""

    actor: Actor
    at: datetime
    event_source: str
    event_name: str
    request_parameters: Mapping[str, Any] | None
    response_elements: Mapping[str, Any] | None
    event_id: str
    request_id: str
    resources: tuple[Resource, ...] = ()
    read_only: bool = False
    # None: the region the sandbox runs in; IAM calls are logged in us-east-1.
    region: str | None = None


def cloudtrail_time(at: datetime) -> str:
    """CloudTrail's eventTime: UTC, to the second, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_identity(actor: Actor, at: datetime) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "type": actor.type,
        "principalId": principal_id(actor),
        "arn": actor.arn,
        "accountId": actor.account,
    }
    if actor.type == "IAMUser":
        identity["userName"] = actor.name
    identity["accessKeyId"] = access_key_id(actor)
    if actor.type == "AssumedRole" and actor.role_arn:
        context: dict[str, Any] = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": _unique_id("AROA", actor.role_arn),
                "arn": actor.role_arn,
                "accountId": actor.account,
                "userName": actor.role_name,
            },
        }
        if actor.web_identity_provider:
            context["webIdFederationData"] = {
                "federatedProvider": actor.web_identity_provider,
                "attributes": {},
            }
        context["attributes"] = {
            "creationDate": cloudtrail_time(at - actor.session_age),
            "mfaAuthenticated": "true" if actor.mfa else "false",
        }
        identity["sessionContext"] = context
    return identity


def record(call: ApiCall, *, region: str, recipient_account: str = ACCOUNT_ID) -> dict[str, Any]:
    """One CloudTrail record (eventVersion 1.08) for ``call``; keys in CloudTrail's order."""
    body: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(call.actor, call.at),
        "eventTime": cloudtrail_time(call.at),
        "eventSource": call.event_source,
        "eventName": call.event_name,
        "awsRegion": call.region or region,
        "sourceIPAddress": call.actor.source_ip,
        "userAgent": call.actor.user_agent,
        "requestParameters": dict(call.request_parameters)
        if call.request_parameters is not None
        else None,
        "responseElements": dict(call.response_elements)
        if call.response_elements is not None
        else None,
        "requestID": call.request_id,
        "eventID": call.event_id,
        "readOnly": call.read_only,
    }
    if call.resources:
        body["resources"] = [
            {"accountId": item.account, "type": item.type, "ARN": item.arn}
            for item in call.resources
        ]
    body.update(
        {
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": recipient_account,
            "eventCategory": "Management",
        }
    )
    return body


def log_key(account: str, region: str, delivered: datetime, suffix: str) -> str:
    """The object key CloudTrail gives one delivery (prefix-less trail)."""
    at = delivered.astimezone(UTC)
    if len(suffix) != SUFFIX_LENGTH or any(c not in SUFFIX_ALPHABET for c in suffix):
        raise ValueError(f"suffix {suffix!r}: want {SUFFIX_LENGTH} letters or digits")
    return (
        f"AWSLogs/{account}/CloudTrail/{region}/{at:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{at:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    )


def log_body(records: Sequence[Mapping[str, Any]]) -> bytes:
    """The gzipped ``{"Records": [...]}`` of one delivery (byte-stable: no mtime)."""
    text = json.dumps({"Records": list(records)}, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), mtime=0)


# -- request and response shapes of the EC2 calls the scenarios make ------------------


def ec2_permissions(permissions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The EC2 API's ``IpPermissions`` (SDK shape) -> CloudTrail's ``ipPermissions``
    (EC2 query shape: every list is ``{"items": [...]}``, an empty one ``{}``)."""

    def items(values: list[dict[str, Any]]) -> dict[str, Any]:
        return {"items": values} if values else {}

    shaped = []
    for perm in permissions:
        entry: dict[str, Any] = {"ipProtocol": perm["IpProtocol"]}
        if perm.get("FromPort") is not None:
            entry["fromPort"] = perm["FromPort"]
        if perm.get("ToPort") is not None:
            entry["toPort"] = perm["ToPort"]
        entry["groups"] = items(
            [
                {"groupId": pair["GroupId"]}
                | ({"description": pair["Description"]} if pair.get("Description") else {})
                for pair in perm.get("UserIdGroupPairs", [])
            ]
        )
        entry["ipRanges"] = items(
            [
                {"cidrIp": item["CidrIp"]}
                | ({"description": item["Description"]} if item.get("Description") else {})
                for item in perm.get("IpRanges", [])
            ]
        )
        entry["ipv6Ranges"] = items(
            [{"cidrIpv6": item["CidrIpv6"]} for item in perm.get("Ipv6Ranges", [])]
        )
        entry["prefixListIds"] = items(
            [{"prefixListId": item["PrefixListId"]} for item in perm.get("PrefixListIds", [])]
        )
        shaped.append(entry)
    return {"items": shaped}


def ec2_rule_set(rules: Iterable[Mapping[str, Any]], owner: str = ACCOUNT_ID) -> dict[str, Any]:
    """The EC2 API's ``SecurityGroupRules`` (SDK shape) -> the ``securityGroupRuleSet``
    of an Authorize* response."""
    shaped = []
    for rule in rules:
        entry: dict[str, Any] = {
            "groupOwnerId": owner,
            "groupId": rule["GroupId"],
            "securityGroupRuleId": rule["SecurityGroupRuleId"],
            "isEgress": bool(rule.get("IsEgress")),
            "ipProtocol": rule["IpProtocol"],
            "fromPort": rule.get("FromPort", -1),
            "toPort": rule.get("ToPort", -1),
        }
        for source, key in (
            ("CidrIpv4", "cidrIpv4"),
            ("CidrIpv6", "cidrIpv6"),
            ("PrefixListId", "prefixListId"),
            ("Description", "description"),
        ):
            if rule.get(source):
                entry[key] = rule[source]
        referenced = rule.get("ReferencedGroupInfo") or {}
        if referenced.get("GroupId"):
            entry["referencedGroupInfo"] = {"groupId": referenced["GroupId"]}
        shaped.append(entry)
    return {"items": shaped}


def s3_tagging(bucket: str, tags: Mapping[str, str]) -> dict[str, Any]:
    """The ``requestParameters`` of PutBucketTagging."""
    return {
        "bucketName": bucket,
        "Host": "s3.amazonaws.com",
        "tagging": "",
        "Tagging": {
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
            "TagSet": {"Tag": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
        },
    }


# -- delivery (thin) ------------------------------------------------------------------


def random_suffix() -> str:
    return "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))


def deliver(
    calls: Sequence[ApiCall],
    *,
    delivered: datetime,
    credentials: AwsCredentials,
    target: Target,
    account: str = ACCOUNT_ID,
) -> str:
    """Write one delivery holding ``calls`` (sorted by time) to the log bucket; return
    its ``s3://`` URI."""
    records = [
        record(call, region=target.region, recipient_account=account)
        for call in sorted(calls, key=lambda c: c.at)
    ]
    key = log_key(account, target.region, delivered, random_suffix())
    return deliver_log(LOG_BUCKET, key, log_body(records), credentials, target)
