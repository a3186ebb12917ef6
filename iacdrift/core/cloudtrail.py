"""CloudTrail audit events: parsed from log files and indexed by the resources they
name (pure: the bytes come in, events go out).

CloudTrail delivers one gzipped JSON object ``{"Records": [...]}`` every few
minutes per account and region, under
``<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` and named
``<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<random>.json.gz``. The day
folder and the time in the name are the *delivery* time (UTC): every event in a
file happened before it, and an event may land in the next day's folder.

Only identifiers are kept from ``requestParameters`` and ``responseElements``
(see :data:`IDENTIFIER_KEYS`); any other value may be a secret. Subtrees that
carry user data (tags, environment variables, policy documents, secret
values) are not even searched for identifiers.

Reading the files is elsewhere: :func:`iacdrift.loaders.cloudtrail.read_directory`
(a local directory) and :func:`iacdrift.aws.cloudtrail.read_bucket` (a trail's log
bucket, only the day folders of the window: :func:`day_prefixes`).
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any, TypeGuard

from iacdrift.errors import AuditLogError
from iacdrift.models.context import AuditEvent
from iacdrift.primitives.moments import as_utc, require_aware

LOG_SUFFIXES: tuple[str, ...] = (".json.gz", ".json")

# Keys of requestParameters/responseElements whose (string) values name a
# resource, in CloudTrail's own spelling. A value is kept only under one of these.
IDENTIFIER_KEYS: frozenset[str] = frozenset(
    {
        "allocationId",
        "arn",
        "bucketName",
        "certificateArn",
        "clusterName",
        "dBClusterIdentifier",
        "dBInstanceIdentifier",
        "functionArn",
        "functionName",
        "groupId",
        "groupName",
        "hostedZoneId",
        "instanceId",
        "instanceProfileName",
        "internetGatewayId",
        "keyId",
        "keyName",
        "loadBalancerArn",
        "loadBalancerName",
        "logGroupName",
        "name",
        "natGatewayId",
        "networkAclId",
        "networkInterfaceId",
        "policyArn",
        "policyName",
        "queueName",
        "queueUrl",
        "repositoryName",
        "roleArn",
        "roleName",
        "routeTableId",
        "ruleName",
        "secretId",
        "snapshotId",
        "stackName",
        "streamName",
        "subnetId",
        "tableArn",
        "tableName",
        "targetGroupArn",
        "topicArn",
        "userName",
        "volumeId",
        "vpcId",
    }
)

# Subtrees that hold user data, never resource identifiers: a Lambda environment
# variable called `name` must not end up in an audit record.
_PAYLOAD_KEYS: frozenset[str] = frozenset(
    {
        "assumerolepolicydocument",
        "body",
        "content",
        "environment",
        "parameters",
        "policydocument",
        "secretbinary",
        "secretstring",
        "tagging",
        "tags",
        "tagset",
        "tagspecificationset",
        "userdata",
        "value",
        "values",
        "variables",
    }
)
_MAX_DEPTH = 8
_MAX_IDENTIFIER = 2048
# Read-only API verbs, for the few records (service events) that carry no readOnly.
_READ_PREFIXES = ("Get", "Describe", "List", "Head", "Lookup", "BatchGet", "Search")
_FILE_TIME = re.compile(r"_(\d{8}T\d{4}Z)_")
_ASSUMED_ROLE = re.compile(
    r"^arn:(?P<partition>[^:]+):sts::(?P<account>\d+):assumed-role/(?P<role>[^/]+)/"
)
# Delivery lags the event by minutes (AWS states "about 5", not a bound): an event
# near midnight is in the next day's folder.
DELIVERY_LAG = timedelta(hours=1)
_RECOVER = "remove it from the audit log location or fetch it again from the trail's bucket"


# --- parsing ------------------------------------------------------------------


def parse_records(data: bytes, source: str) -> list[AuditEvent]:
    """The events of one CloudTrail log file (gzipped or plain JSON), sorted by time.

    Raises :class:`AuditLogError` naming ``source`` when the file is not a
    CloudTrail log (``{"Records": [...]}``) or a record lacks what every record has.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise AuditLogError(f"{source}: damaged gzip data ({exc}); {_RECOVER}") from exc
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise AuditLogError(f"{source}: not JSON ({_first_line(exc)}); {_RECOVER}") from exc
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise AuditLogError(
            f'{source}: not a CloudTrail log file (expected {{"Records": [...]}}); {_RECOVER}'
        )
    events = [
        _event(record, f"{source}: Records[{index}]", source)
        for index, record in enumerate(records)
    ]
    return sorted(events, key=_order)


def _event(record: object, where: str, source: str) -> AuditEvent:
    if not isinstance(record, dict):
        raise AuditLogError(f"{where}: a record must be a JSON object; {_RECOVER}")
    identity = record.get("userIdentity") or {}
    if not isinstance(identity, dict):
        raise AuditLogError(f"{where}.userIdentity: must be a JSON object; {_RECOVER}")
    actor_type = _text(identity.get("type")) or "Unknown"
    actor_arn = _actor_arn(identity)
    name = _required(record, "eventName", where)
    return AuditEvent(
        eventId=_required(record, "eventID", where),
        eventTime=_event_time(_required(record, "eventTime", where), f"{where}.eventTime"),
        eventName=name,
        eventSource=_required(record, "eventSource", where),
        region=_text(record.get("awsRegion")),
        actorArn=actor_arn,
        actorType=actor_type,
        roleArn=_role_arn(identity, actor_type, actor_arn),
        resourceIds=sorted(_resource_ids(record)),
        readOnly=_read_only(record.get("readOnly"), name),
        errorCode=_text(record.get("errorCode")),
        source=source,
    )


def _required(record: Mapping[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise AuditLogError(f"{where}.{key}: missing or not a string; {_RECOVER}")
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _event_time(value: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise AuditLogError(f"{where}: {value!r} is not an ISO 8601 time; {_RECOVER}") from exc
    # CloudTrail writes UTC with a Z; a time without a zone is UTC too.
    return as_utc(moment)


def _actor_arn(identity: Mapping[str, Any]) -> str:
    # AWSService identities have no ARN, only the service that acted (invokedBy).
    for key in ("arn", "invokedBy", "principalId", "accountId"):
        value = _text(identity.get(key))
        if value:
            return value
    return "unknown"


def _role_arn(identity: Mapping[str, Any], actor_type: str, actor_arn: str) -> str | None:
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, dict) else None
    if isinstance(issuer, dict) and issuer.get("type") == "Role":
        arn = _text(issuer.get("arn"))
        if arn:
            return arn
    if actor_type != "AssumedRole":
        return None
    # Some records omit the session issuer; the session ARN still names the role
    # (its IAM path is lost: arn:aws:iam::<account>:role/<name>).
    match = _ASSUMED_ROLE.match(actor_arn)
    if match is None:
        return None
    return f"arn:{match['partition']}:iam::{match['account']}:role/{match['role']}"


def _read_only(value: object, event_name: str) -> bool:
    if isinstance(value, bool):
        return value
    # LookupEvents spells it as a string.
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return event_name.startswith(_READ_PREFIXES)


def _resource_ids(record: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    resources = record.get("resources")
    if isinstance(resources, list):
        for resource in resources:
            if isinstance(resource, dict):
                arn = resource.get("ARN")
                if _is_identifier(arn):
                    found.add(arn)
    for key in ("requestParameters", "responseElements"):
        found.update(_identifiers(record.get(key), 0))
    for value in list(found):
        found.update(arn_names(value))
    return found


def _identifiers(value: object, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.lower() in _PAYLOAD_KEYS:
                continue
            if key in IDENTIFIER_KEYS and _is_identifier(item):
                yield item
            else:
                yield from _identifiers(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _identifiers(item, depth + 1)


def _is_identifier(value: object) -> TypeGuard[str]:
    return (
        isinstance(value, str)
        and 0 < len(value) <= _MAX_IDENTIFIER
        and value.isprintable()
        and value == value.strip()
    )


def arn_names(value: str) -> list[str]:
    """The final name/id of an ARN (``[]`` for anything else).

    ``arn:aws:iam::1:role/path/app`` -> ``app``; ``...:security-group/sg-1`` -> ``sg-1``;
    S3 names the bucket (``arn:aws:s3:::bucket/key`` -> ``bucket``); Lambda the
    function, without a version or alias qualifier.
    """
    parts = value.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return []
    service, resource = parts[2], parts[5]
    if service == "s3":
        segments = [resource.split("/", 1)[0]]
    elif service == "lambda" and resource.startswith("function:"):
        segments = resource.split(":")[1:2]
    else:
        segments = [segment for segment in re.split(r"[:/]", resource) if segment][-1:]
    return [segment for segment in segments if segment and segment != "*"]


def _order(event: AuditEvent) -> tuple[datetime, str, str]:
    return event.eventTime, event.eventId, event.source


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__


def unique_events(events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """One event per eventId (CloudTrail may deliver an event twice), sorted by time."""
    seen: set[str] = set()
    unique: list[AuditEvent] = []
    for event in sorted(events, key=_order):
        if event.eventId not in seen:
            seen.add(event.eventId)
            unique.append(event)
    return unique


def file_time(name: str) -> datetime | None:
    """The delivery time in a CloudTrail file name (every event in it is earlier)."""
    match = _FILE_TIME.search(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def delivered_before(name: str, since: datetime | None) -> bool:
    """The file was delivered well before ``since``: none of its events can be wanted."""
    delivered = file_time(name)
    # The name's time is minute-truncated and AWS does not define it to the second:
    # keep a margin rather than drop an event at the edge of the window.
    return since is not None and delivered is not None and delivered + DELIVERY_LAG < since


def is_log_name(name: str) -> bool:
    """A CloudTrail log file's name (``.json.gz`` or ``.json``), not a digest file's."""
    # Digest files (integrity validation) are JSON too, but hold no events.
    return name.endswith(LOG_SUFFIXES) and "CloudTrail-Digest" not in name


def day_prefixes(
    prefix: str, account: str, region: str, since: datetime, until: datetime
) -> list[str]:
    """The day folders that can hold events from ``since`` to ``until``, oldest first."""
    base = log_prefix(prefix, account) + f"{region}/"
    first = require_aware(since, "since").date()
    last = (require_aware(until, "until") + DELIVERY_LAG).date()
    days: list[str] = []
    day = first
    while day <= last:
        days.append(f"{base}{day:%Y/%m/%d}/")
        day += timedelta(days=1)
    return days


def log_prefix(prefix: str, account: str) -> str:
    """``<prefix>/AWSLogs/<account>/CloudTrail/`` (no leading slash; prefix optional).

    For an organization trail pass ``<org id>/<account>`` as the account.
    """
    head = prefix.strip("/")
    return f"{head}/AWSLogs/{account}/CloudTrail/" if head else f"AWSLogs/{account}/CloudTrail/"


# --- index ------------------------------------------------------------------------


def actor_matches(event: AuditEvent, globs: Iterable[str]) -> bool:
    """The event's actor matches one of the ARN globs (``fnmatch``, case-sensitive).

    Both the actor's ARN (for an assumed role, the session ARN) and, when the event
    names one, the role's ARN are tried: ``arn:aws:iam::*:role/ops/BreakGlass``
    matches every session of that role, ``arn:aws:sts::*:assumed-role/BreakGlass/*``
    too (the session ARN drops the role's path). No globs: no match.
    """
    arns = [event.actorArn] + ([event.roleArn] if event.roleArn else [])
    return any(fnmatchcase(arn, pattern) for pattern in globs for arn in arns)
