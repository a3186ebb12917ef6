"""Realistic changes to the example estate, made outside Terraform through
:class:`iacdrift.aws.out_of_band.OutOfBand` (or with a real apply), with the
CloudTrail records and change records that would come with them; or, for a
refactoring, made to a stack's code the way a commit would (no API call, so no
CloudTrail record).

Each scenario says which stack and which Terraform addresses it disturbs, so
tests (and users) know what a check should then report; which actor makes the
change unless ``--actor`` says otherwise; and which change record, if any, it
files in the project's change-record directory.

Every call a scenario makes is logged as CloudTrail would log it (see
:mod:`iacdrift.sandbox.cloudtrail`); object-level S3 calls are data events,
which a default (management-events) trail does not deliver, so they are not
logged. Change records are built here (pure, from ``now``); the flow writes them.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from iacdrift.aws.out_of_band import OutOfBand
from iacdrift.clock import Clock
from iacdrift.sandbox.cloudtrail import (
    ACCOUNT_ID,
    GLOBAL_REGION,
    NAMED_ACTORS,
    Actor,
    ApiCall,
    Resource,
    ec2_permissions,
    ec2_rule_set,
    s3_bucket,
    s3_tagging,
)

# Issued by "the database team" outside Terraform; prod-payments reads it.
LEDGER_DB_SECRET = "iacdrift-sandbox/ledger-db-password"
# Published by "corporate IT" outside Terraform (`sandbox up` creates it);
# prod-network reads it and exports the office networks to prod-app.
OFFICE_PREFIX_LIST = "corp-office-networks"
OFFICE_NETWORKS: tuple[tuple[str, str], ...] = (("10.20.0.0/16", "headquarters"),)
NEW_OFFICE_NETWORK = ("10.21.0.0/16", "branch office")
OFFICE_PREFIX_LIST_MAX_ENTRIES = 10

WEB_SG = 'module.tier["web"].aws_security_group.this'
DB_SG = "module.db.aws_security_group.this"
APP_SG = "module.app_sg.aws_security_group.this"
RECEIPTS = 'module.bucket["receipts"].aws_s3_bucket.this'
LEDGER = 'module.bucket["ledger"].aws_s3_bucket.this'
LEDGER_BUCKET = "iacdrift-demo-prod-ledger"
SHADOW_BUCKET = "iacdrift-demo-prod-shadow-exports"

# staging-app (OpenTofu), the stack registered with `autoHeal: true`.
STAGING_ASSETS = "module.assets.aws_s3_bucket.this"
STAGING_ASSETS_BUCKET = "iacdrift-demo-staging-assets"
# What `resource-renamed` renames it to, in the stack's main.tf, without `moved`.
RENAMED_ASSETS = "module.static_assets.aws_s3_bucket.this"
# Made by hand for staging-app and tagged for it, in no state: an import candidate.
IMPORTABLE_BUCKET = "iacdrift-demo-staging-uploads"
STACK_TAG = "iacdrift:stack"

API_VERSION = "iacdrift.dev/v1"


@dataclass
class ScenarioRun:
    """What a scenario works with (the cloud, actor, clock, a way to apply a stack
    through its pipeline) and what it collects (the calls, for CloudTrail)."""

    cloud: OutOfBand
    actor: Actor
    clock: Clock
    region: str
    # Applies a registered stack with the real engine, as its CI pipeline would.
    apply_stack: Callable[[str], None]
    # The directory of a registered stack's code in the project (what Git holds),
    # for a scenario that changes the code the way a commit would.
    stack_dir: Callable[[str], Path]
    account: str = ACCOUNT_ID
    calls: list[ApiCall] = field(default_factory=list)

    def log(
        self,
        event_source: str,
        event_name: str,
        request: Mapping[str, Any] | None,
        response: Mapping[str, Any] | None = None,
        *,
        resources: Sequence[Resource] = (),
        actor: Actor | None = None,
        region: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Record one mutating call as CloudTrail would see it, at this moment.

        EC2 repeats the request id in its response: a top-level response of an
        EC2 call gets ``requestId`` first, the record's ``requestID``."""
        rid = request_id or _request_id(event_source)
        wrapped = response is not None and any(key.endswith("Response") for key in response)
        if event_source == "ec2.amazonaws.com" and response is not None and not wrapped:
            response = {"requestId": rid, **response}
        self.calls.append(
            ApiCall(
                actor=actor or self.actor,
                at=self.clock(),
                event_source=event_source,
                event_name=event_name,
                request_parameters=request,
                response_elements=response,
                event_id=str(uuid.uuid4()),
                request_id=rid,
                resources=tuple(resources),
                region=region,
            )
        )


def _request_id(event_source: str) -> str:
    # S3 request ids are 16 upper-case hex characters; the other services use UUIDs.
    if event_source == "s3.amazonaws.com":
        return secrets.token_hex(8).upper()
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    stack: str | None  # None: the change belongs to no stack (unmanaged)
    addresses: tuple[str, ...]
    inject: Callable[[ScenarioRun], str]
    # The actor making the change unless --actor says otherwise: a name of
    # cloudtrail.NAMED_ACTORS, or "pipeline" (the CI role of `pipeline_stack`).
    actor: str = "human"
    # The CloudTrail events it writes, in order (for the listing).
    events: tuple[str, ...] = ()
    # The change record it files, built from `now`; None: it files none.
    change_record: Callable[[datetime], dict[str, Any]] | None = None
    # A stack this scenario applies through its pipeline (beside `stack`).
    applies: str | None = None
    # The file of `stack` (relative to its directory) it edits as a commit would;
    # None: it changes no code.
    edits: str | None = None

    @property
    def pipeline_stack(self) -> str | None:
        """The stack whose CI role `--actor pipeline` names."""
        return self.applies or self.stack

    @property
    def needs(self) -> tuple[str, ...]:
        """Stacks that must be applied before this scenario can run."""
        return tuple(sorted({s for s in (self.stack, self.applies) if s}))

    def writes(self) -> str:
        """What it writes, in one phrase (for the listing)."""
        parts = [f"CloudTrail {', '.join(self.events)}"] if self.events else []
        if self.edits is not None:
            parts.append(f"stacks/{self.stack}/{self.edits} (a commit: no CloudTrail event)")
        if self.change_record is not None:
            kind = self.change_record(datetime(2000, 1, 1, tzinfo=UTC))["type"]
            parts.append(f"changes/<id>.yaml ({kind})")
        return "; ".join(parts)


# -- helpers ---------------------------------------------------------------------------


def _security_group(cloud: OutOfBand, name: str) -> dict[str, Any]:
    found = cloud.security_groups(name)
    if not found:
        raise LookupError(f"security group {name!r} not found: is the estate applied?")
    return found[0]


def _authorize_ingress(run: ScenarioRun, group_name: str, permission: dict[str, Any]) -> str:
    group = _security_group(run.cloud, group_name)
    group_id = str(group["GroupId"])
    created = run.cloud.authorize_ingress(group_id, permission)
    run.log(
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        {"groupId": group_id, "ipPermissions": ec2_permissions([permission])},
        {
            "_return": True,
            "securityGroupRuleSet": ec2_rule_set(created, str(group.get("OwnerId") or run.account)),
        },
    )
    return group_id


def _put_bucket_tags(run: ScenarioRun, bucket: str, tags: Mapping[str, str]) -> None:
    run.cloud.put_bucket_tags(bucket, tags)
    run.log(
        "s3.amazonaws.com",
        "PutBucketTagging",
        s3_tagging(bucket, tags),
        None,
        resources=[s3_bucket(bucket, run.account)],
    )


def iso(at: datetime) -> str:
    """ISO 8601 UTC to the second, ``Z`` (the form change records use)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minute(now: datetime) -> datetime:
    # Ids and windows to the minute: a re-run within the same minute files the
    # identical record again instead of a near-duplicate.
    return now.astimezone(UTC).replace(second=0, microsecond=0)


# -- the scenarios ----------------------------------------------------------------------


def _open_ssh(run: ScenarioRun) -> str:
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "debug"}],
    }
    group_id = _authorize_ingress(run, "prod-web", permission)
    return f"opened tcp/22 to 0.0.0.0/0 on {group_id} (prod-web)"


def _retag_bucket(run: ScenarioRun) -> str:
    bucket = "iacdrift-demo-prod-receipts"
    tags = run.cloud.bucket_tags(bucket)
    tags["data-class"] = "public"
    _put_bucket_tags(run, bucket, tags)
    return f"set tag data-class=public on {bucket} (was internal)"


def _delete_bucket(run: ScenarioRun) -> str:
    bucket = LEDGER_BUCKET
    # Object deletions are S3 data events: a management-events trail logs only
    # the DeleteBucket.
    run.cloud.delete_bucket(bucket)
    run.log(
        "s3.amazonaws.com",
        "DeleteBucket",
        {"bucketName": bucket, "Host": "s3.amazonaws.com"},
        None,
        resources=[s3_bucket(bucket, run.account)],
    )
    return f"deleted bucket {bucket}"


def _create_bucket(run: ScenarioRun, bucket: str, tags: Mapping[str, str]) -> None:
    run.cloud.create_bucket(bucket)
    run.log(
        "s3.amazonaws.com",
        "CreateBucket",
        {"bucketName": bucket, "Host": "s3.amazonaws.com"},
        None,
        resources=[s3_bucket(bucket, run.account)],
    )
    _put_bucket_tags(run, bucket, tags)


def _unmanaged_bucket(run: ScenarioRun) -> str:
    _create_bucket(run, SHADOW_BUCKET, {"created-by": "console"})
    return f"created bucket {SHADOW_BUCKET}, recorded in no state"


def _importable_bucket(run: ScenarioRun) -> str:
    # Tagged the way a team tags what it means to own: the stack and its owner
    # (staging-app's registry entry), so a rule by tag can name the stack to import into.
    tags = {
        STACK_TAG: "staging-app",
        "owner": "team-storefront",
        "environment": "staging",
        "data-class": "internal",
    }
    _create_bucket(run, IMPORTABLE_BUCKET, tags)
    return (
        f"created bucket {IMPORTABLE_BUCKET} tagged {STACK_TAG}=staging-app, "
        "owner=team-storefront, recorded in no state"
    )


def _retag_staging_bucket(run: ScenarioRun) -> str:
    # environment is under /tags but neither /tags/data-class nor /tags/owner: the
    # storage-tags AutoHealPolicy lets a bounded auto-heal put it back.
    bucket = STAGING_ASSETS_BUCKET
    tags = run.cloud.bucket_tags(bucket)
    was = tags.get("environment")
    tags["environment"] = "qa"
    _put_bucket_tags(run, bucket, tags)
    return f"set tag environment=qa on {bucket} (was {was})"


# `module "assets" {` at the start of a line, and every `module.assets` reference.
_ASSETS_BLOCK = re.compile(r'^([ \t]*module[ \t]+)"assets"([ \t]*\{)', re.MULTILINE)
_ASSETS_REFERENCE = re.compile(r"\bmodule\.assets\b")


def _rename_module(run: ScenarioRun) -> str:
    """Rename staging-app's `module "assets"` to `static_assets` in its main.tf, with
    no `moved` block, as a refactoring commit would: the next plan destroys
    module.assets' bucket and creates module.static_assets' bucket of the same name."""
    path = run.stack_dir("staging-app") / "main.tf"
    text = path.read_text(encoding="utf-8")
    found = len(_ASSETS_BLOCK.findall(text))
    if found != 1:
        raise LookupError(
            f'{path}: expected one `module "assets"` block, found {found} '
            "(renamed already? restore the file, e.g. `git checkout -- stacks/staging-app`)"
        )
    text = _ASSETS_REFERENCE.sub("module.static_assets", text)
    text = _ASSETS_BLOCK.sub(r'\1"static_assets"\2', text)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(path.stat().st_mode & 0o777)
    tmp.replace(path)
    return (
        f'renamed module "assets" to "static_assets" in {path}, with no moved block '
        "(a commit, not an API call: no CloudTrail event; undo by restoring the file)"
    )


# legacy-storage: applied with hashicorp/aws 2.70.0; `provider-upgraded` moves it to 3.39.0.
LEGACY_STACK = "legacy-storage"
LEGACY_FROM = "2.70.0"
LEGACY_TO = "3.39.0"
LEGACY_BUCKET = "iacdrift-demo-legacy-archive"
_AWS_CONSTRAINT = re.compile(
    r'(source[ \t]*=[ \t]*"hashicorp/aws"[ \t]*\n[ \t]*version[ \t]*=[ \t]*)"([^"]*)"'
)


def _upgrade_provider(run: ScenarioRun) -> str:
    """Move legacy-storage's hashicorp/aws constraint from 2.70.0 to 3.39.0 in its
    main.tf, as a Renovate PR would (the state stays as 2.70.0 wrote it)."""
    path = run.stack_dir(LEGACY_STACK) / "main.tf"
    text = path.read_text(encoding="utf-8")
    found = _AWS_CONSTRAINT.findall(text)
    if len(found) != 1 or found[0][1] != LEGACY_FROM:
        versions = ", ".join(version for _, version in found) or "none"
        raise LookupError(
            f'{path}: expected one hashicorp/aws constraint "{LEGACY_FROM}", found {versions} '
            f"(upgraded already? restore the file, e.g. `git checkout -- stacks/{LEGACY_STACK}`)"
        )
    text = _AWS_CONSTRAINT.sub(rf'\1"{LEGACY_TO}"', text)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(path.stat().st_mode & 0o777)
    tmp.replace(path)
    return (
        f"moved hashicorp/aws from {LEGACY_FROM} to {LEGACY_TO} in {path} (a Renovate-style "
        "commit, not an API call: no CloudTrail event; the state is still as "
        f"{LEGACY_FROM} wrote it; undo by restoring the file)"
    )


def _attach_role_policy(run: ScenarioRun, role: str, policy: str) -> str:
    run.cloud.attach_role_policy(role, policy)
    run.log(
        "iam.amazonaws.com",
        "AttachRolePolicy",
        {"roleName": role, "policyArn": policy},
        None,
        region=GLOBAL_REGION,
    )
    return f"attached {policy} to role {role}"


def _attach_admin(run: ScenarioRun) -> str:
    return _attach_role_policy(
        run, "prod-payments-api", "arn:aws:iam::aws:policy/AdministratorAccess"
    )


REPORTING_ROLE = "prod-payments-reporting"


def _attach_beside_attachments(run: ScenarioRun) -> str:
    said = _attach_role_policy(run, REPORTING_ROLE, "arn:aws:iam::aws:policy/ReadOnlyAccess")
    return f"{said} (beside its managed attachment)"


BREAK_GLASS_CIDR = "10.250.0.0/16"


def _break_glass(run: ScenarioRun) -> str:
    permission = {
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "IpRanges": [{"CidrIp": BREAK_GLASS_CIDR, "Description": "break-glass: ops VPN psql"}],
    }
    group_id = _authorize_ingress(run, "prod-db", permission)
    return f"opened tcp/5432 to {BREAK_GLASS_CIDR} on {group_id} (prod-db) under an incident"


def incident_record(now: datetime) -> dict[str, Any]:
    """The incident the break-glass change is made under (window: 10 minutes
    before now to 4 hours after; Git must catch up within 24 hours)."""
    minute = _minute(now)
    return {
        "apiVersion": API_VERSION,
        "kind": "ChangeRecord",
        "id": f"INC-{minute:%Y%m%d-%H%M}",
        "type": "incident",
        "stack": "prod-network",
        "resources": [DB_SG],
        "window": {
            "start": iso(minute - timedelta(minutes=10)),
            "end": iso(minute + timedelta(hours=4)),
        },
        "breakGlass": True,
        "approvers": ["incident-commander"],
        "reconcileBy": iso(minute + timedelta(hours=24)),
        "summary": (
            "ledger replica lag: on-call opened postgres on prod-db to the ops VPN "
            f"({BREAK_GLASS_CIDR}) with the break-glass role"
        ),
    }


def _rotate_secret(run: ScenarioRun) -> str:
    version = str(uuid.uuid4())
    # A fresh random value: nothing real, and it is never logged (CloudTrail logs
    # no secretString for PutSecretValue; neither do we).
    answer = run.cloud.put_secret_value(LEDGER_DB_SECRET, secrets.token_urlsafe(24), version)
    run.log(
        "secretsmanager.amazonaws.com",
        "PutSecretValue",
        {"secretId": LEDGER_DB_SECRET, "clientRequestToken": version},
        {
            "arn": answer["ARN"],
            "name": answer["Name"],
            "versionId": answer["VersionId"],
            "versionStages": list(answer.get("VersionStages", [])),
        },
    )
    return f"put version {answer['VersionId']} of secret {LEDGER_DB_SECRET} (rotation)"


def _approved_change(run: ScenarioRun) -> str:
    tags = run.cloud.bucket_tags(LEDGER_BUCKET)
    was = tags.get("data-class")
    tags["data-class"] = "restricted"
    _put_bucket_tags(run, LEDGER_BUCKET, tags)
    return f"set tag data-class=restricted on {LEDGER_BUCKET} (was {was}) under an approved change"


def approved_change_record(now: datetime) -> dict[str, Any]:
    """The approved change that accepts the ledger's new classification as desired
    (window: 30 minutes before now to 2 days after)."""
    minute = _minute(now)
    return {
        "apiVersion": API_VERSION,
        "kind": "ChangeRecord",
        "id": f"CHG-{minute:%Y%m%d-%H%M}",
        "type": "change",
        "stack": "prod-payments",
        "resources": [LEDGER],
        "window": {
            "start": iso(minute - timedelta(minutes=30)),
            "end": iso(minute + timedelta(days=2)),
        },
        "approvers": ["carol@example.com", "dave@example.com"],
        "acceptsRuntime": True,
        "summary": "accepted as new desired state; code update pending",
    }


def _office_prefix_list(cloud: OutOfBand) -> dict[str, Any]:
    found = cloud.prefix_lists(OFFICE_PREFIX_LIST)
    if not found:
        raise LookupError(
            f"managed prefix list {OFFICE_PREFIX_LIST!r} not found: run `iacdrift sandbox up`"
        )
    return found[0]


def _security_groups(cloud: OutOfBand) -> dict[str, dict[str, Any]]:
    return {str(g["GroupId"]): g for g in cloud.security_groups()}


def _remote_state_change(run: ScenarioRun) -> str:
    """Corporate IT adds a branch office to the office prefix list; prod-network's
    pipeline applies (its admin tier and its `office_cidr_blocks` output follow);
    prod-app, which reads that output, now plans a change its code did not make."""
    plist = _office_prefix_list(run.cloud)
    plist_id = str(plist["PrefixListId"])
    entries = run.cloud.prefix_list_entries(plist_id)
    cidr, description = NEW_OFFICE_NETWORK
    said = []
    if cidr not in {e["Cidr"] for e in entries}:
        changed = run.cloud.add_prefix_list_entry(
            plist_id, plist.get("Version"), OFFICE_PREFIX_LIST, cidr, description
        )
        request_id = str(uuid.uuid4())
        run.log(
            "ec2.amazonaws.com",
            "ModifyManagedPrefixList",
            {
                "ModifyManagedPrefixListRequest": {
                    "PrefixListId": plist_id,
                    "CurrentVersion": plist.get("Version"),
                    "PrefixListName": OFFICE_PREFIX_LIST,
                    "AddEntry": {"Cidr": cidr, "Description": description, "tag": 1},
                }
            },
            {
                "ModifyManagedPrefixListResponse": {
                    "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/",
                    "requestId": request_id,
                    "prefixList": {
                        "prefixListId": plist_id,
                        "prefixListName": OFFICE_PREFIX_LIST,
                        "state": changed.get("State", "modify-in-progress"),
                        "version": changed.get("Version"),
                    },
                }
            },
            actor=NAMED_ACTORS["human"],
            request_id=request_id,
        )
        said.append(f"added {cidr} to prefix list {OFFICE_PREFIX_LIST}")
    before = _security_groups(run.cloud)
    run.apply_stack("prod-network")
    after = _security_groups(run.cloud)
    changed_groups = sorted(
        g for g in set(before) | set(after) if before.get(g) != after.get(g) and g in after
    )
    rules = run.cloud.security_group_rules(changed_groups) if changed_groups else []
    for name, request, response in security_group_calls(before, after, rules, run.account):
        run.log("ec2.amazonaws.com", name, request, response)
    said.append("applied prod-network through its pipeline")
    return "; ".join(said)


# -- reconstructing the security-group calls of an apply (pure) -------------------------

RuleKey = tuple[str, int | None, int | None, str]
Source = tuple[str, str]
_SOURCES = (
    ("cidr", "IpRanges", "CidrIp"),
    ("ipv6", "Ipv6Ranges", "CidrIpv6"),
    ("prefix", "PrefixListIds", "PrefixListId"),
    ("group", "UserIdGroupPairs", "GroupId"),
)


def _rules(permissions: Iterable[Mapping[str, Any]]) -> dict[RuleKey, frozenset[Source]]:
    """AWS's permissions regrouped the way the aws provider (3.x) keeps inline
    rules: one rule per protocol, port range and description, with its sources."""
    rules: dict[RuleKey, set[Source]] = {}
    for perm in permissions:
        for kind, list_key, value_key in _SOURCES:
            for item in perm.get(list_key, []):
                key = (
                    str(perm["IpProtocol"]),
                    perm.get("FromPort"),
                    perm.get("ToPort"),
                    str(item.get("Description") or ""),
                )
                rules.setdefault(key, set()).add((kind, str(item[value_key])))
    return {key: frozenset(sources) for key, sources in rules.items()}


def _permission(key: RuleKey, sources: Iterable[Source]) -> dict[str, Any]:
    protocol, low, high, description = key
    perm: dict[str, Any] = {"IpProtocol": protocol}
    if low is not None:
        perm["FromPort"] = low
    if high is not None:
        perm["ToPort"] = high
    described = {"Description": description} if description else {}
    for kind, list_key, value_key in _SOURCES:
        values = sorted(value for k, value in sources if k == kind)
        if values:
            perm[list_key] = [{value_key: value, **described} for value in values]
    return perm


def _rule_matches(rule: Mapping[str, Any], key: RuleKey, sources: frozenset[Source]) -> bool:
    protocol, low, high, description = key
    source: Source | None = None
    if rule.get("CidrIpv4"):
        source = ("cidr", str(rule["CidrIpv4"]))
    elif rule.get("CidrIpv6"):
        source = ("ipv6", str(rule["CidrIpv6"]))
    elif rule.get("PrefixListId"):
        source = ("prefix", str(rule["PrefixListId"]))
    elif (rule.get("ReferencedGroupInfo") or {}).get("GroupId"):
        source = ("group", str(rule["ReferencedGroupInfo"]["GroupId"]))
    return (
        str(rule.get("IpProtocol")) == protocol
        and _port(rule.get("FromPort")) == _port(low)
        and _port(rule.get("ToPort")) == _port(high)
        and str(rule.get("Description") or "") == description
        and source in sources
    )


def _port(value: Any) -> int:
    # "All traffic" has no ports in a permission and -1 in a rule.
    return -1 if value is None else int(value)


def security_group_calls(
    before: Mapping[str, Mapping[str, Any]],
    after: Mapping[str, Mapping[str, Any]],
    rules_after: Sequence[Mapping[str, Any]],
    owner: str = ACCOUNT_ID,
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(eventName, requestParameters, responseElements) of the EC2 calls that turn
    the security groups ``before`` into ``after`` (the SDK's ``SecurityGroups`` by id),
    in the order the aws provider makes them: per group, sorted by id, a created
    group first, then revokes of the rules that changed or went, then authorizes
    of the new versions; a deleted group last. ``rules_after`` (the SDK's
    ``SecurityGroupRules``) gives the authorized rules their ids."""
    calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for group_id in sorted(set(before) | set(after)):
        old, new = before.get(group_id), after.get(group_id)
        if new is None:
            calls.append(("DeleteSecurityGroup", {"groupId": group_id}, {"_return": True}))
            continue
        if old is None:
            request = {
                "groupName": new.get("GroupName"),
                "groupDescription": new.get("Description"),
            }
            if new.get("VpcId"):
                request["vpcId"] = new["VpcId"]
            calls.append(("CreateSecurityGroup", request, {"_return": True, "groupId": group_id}))
        for direction, field_name in (
            ("Ingress", "IpPermissions"),
            ("Egress", "IpPermissionsEgress"),
        ):
            was = _rules((old or {}).get(field_name, []))
            now = _rules(new.get(field_name, []))
            gone = {k: v for k, v in was.items() if now.get(k) != v}
            came = {k: v for k, v in now.items() if was.get(k) != v}
            if gone:
                perms = [_permission(k, v) for k, v in sorted(gone.items(), key=_order)]
                calls.append(
                    (
                        f"RevokeSecurityGroup{direction}",
                        {"groupId": group_id, "ipPermissions": ec2_permissions(perms)},
                        {"_return": True},
                    )
                )
            if came:
                perms = [_permission(k, v) for k, v in sorted(came.items(), key=_order)]
                matched = [
                    rule
                    for rule in rules_after
                    if rule.get("GroupId") == group_id
                    and bool(rule.get("IsEgress")) == (direction == "Egress")
                    and any(_rule_matches(rule, k, v) for k, v in came.items())
                ]
                calls.append(
                    (
                        f"AuthorizeSecurityGroup{direction}",
                        {"groupId": group_id, "ipPermissions": ec2_permissions(perms)},
                        {
                            "_return": True,
                            "securityGroupRuleSet": ec2_rule_set(matched, owner),
                        },
                    )
                )
    return calls


def _order(item: tuple[RuleKey, frozenset[Source]]) -> tuple[str, int, int, str]:
    (protocol, low, high, description), _ = item
    return (protocol, _port(low), _port(high), description)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "sg-open-ssh",
            "SSH (tcp/22) opened to 0.0.0.0/0 on the prod web security group",
            "prod-network",
            (WEB_SG,),
            _open_ssh,
            events=("AuthorizeSecurityGroupIngress",),
        ),
        Scenario(
            "bucket-tag",
            "the receipts bucket's data-class tag changed from internal to public",
            "prod-payments",
            (RECEIPTS,),
            _retag_bucket,
            events=("PutBucketTagging",),
        ),
        Scenario(
            "resource-deleted",
            "the prod ledger bucket deleted outside Terraform",
            "prod-payments",
            (LEDGER,),
            _delete_bucket,
            events=("DeleteBucket",),
        ),
        Scenario(
            "unmanaged-resource",
            "a bucket created from the console next to managed ones, in no state",
            None,
            (),
            _unmanaged_bucket,
            events=("CreateBucket", "PutBucketTagging"),
        ),
        Scenario(
            "unmanaged-importable",
            f"a bucket ({IMPORTABLE_BUCKET}) created by hand for staging-app and tagged "
            f"{STACK_TAG}=staging-app with its owner, in no state: an import candidate",
            None,
            (),
            _importable_bucket,
            events=("CreateBucket", "PutBucketTagging"),
        ),
        Scenario(
            "staging-bucket-tag",
            "the staging assets bucket's environment tag changed by hand from staging to "
            "qa: a tag the auto-heal policy may put back (staging-app has autoHeal: true)",
            "staging-app",
            (STAGING_ASSETS,),
            _retag_staging_bucket,
            events=("PutBucketTagging",),
        ),
        Scenario(
            "resource-renamed",
            'module "assets" renamed to "static_assets" in stacks/staging-app/main.tf '
            "without a moved block (a refactoring commit): the plan destroys and "
            "recreates the same bucket",
            "staging-app",
            (STAGING_ASSETS, RENAMED_ASSETS),
            _rename_module,
            edits="main.tf",
        ),
        Scenario(
            "provider-upgraded",
            f"hashicorp/aws moved from {LEGACY_FROM} to {LEGACY_TO} in "
            f"stacks/{LEGACY_STACK}/main.tf (a Renovate PR): the first refresh reads the "
            "attributes the 3.x schemas added; nothing changed in the cloud",
            LEGACY_STACK,
            ("aws_s3_bucket.archive", "aws_iam_role.archiver", "aws_security_group.archive"),
            _upgrade_provider,
            edits="main.tf",
        ),
        Scenario(
            "role-policy-attached",
            "AdministratorAccess attached by hand to the prod payments-api role",
            "prod-iam",
            ("aws_iam_role.service[0]",),
            _attach_admin,
            events=("AttachRolePolicy",),
        ),
        Scenario(
            "reporting-policy-attached",
            "ReadOnlyAccess attached by hand to the prod payments-reporting role, whose "
            "other policies its own Terraform resources attach",
            "prod-iam",
            ("aws_iam_role.reporting",),
            _attach_beside_attachments,
            events=("AttachRolePolicy",),
        ),
        Scenario(
            "break-glass",
            "the break-glass role opens tcp/5432 on the prod db security group during "
            "an incident, and files the incident",
            "prod-network",
            (DB_SG,),
            _break_glass,
            actor="break-glass",
            events=("AuthorizeSecurityGroupIngress",),
            change_record=incident_record,
        ),
        Scenario(
            "secret-rotation",
            "the database team's rotation puts a new version of the ledger db password "
            "that prod-payments reads",
            "prod-payments",
            ("aws_secretsmanager_secret_version.ledger_dsn",),
            _rotate_secret,
            actor="rotation",
            events=("PutSecretValue",),
        ),
        Scenario(
            "remote-state-change",
            "a branch office joins the office prefix list and prod-network's pipeline "
            "applies: its office_cidr_blocks output, which prod-app reads, changes",
            "prod-app",
            (APP_SG,),
            _remote_state_change,
            actor="pipeline",
            events=(
                "ModifyManagedPrefixList",
                "RevokeSecurityGroupIngress",
                "AuthorizeSecurityGroupIngress",
            ),
            applies="prod-network",
        ),
        Scenario(
            "approved-change",
            "the ledger bucket's data-class tag set to restricted by hand under an "
            "approved change that accepts it",
            "prod-payments",
            (LEDGER,),
            _approved_change,
            events=("PutBucketTagging",),
            change_record=approved_change_record,
        ),
    )
}
