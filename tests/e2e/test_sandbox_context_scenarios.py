"""`sandbox drift` with context: each scenario really changes the moto cloud, delivers
the CloudTrail records of its change in the real delivery format (as the chosen
actor), and files its change record where the correlator reads them.

The first tests need no sandbox (plain data); the rest share one sandbox per
module and heal what they changed."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from iacdrift.aws.session import Target, client
from iacdrift.core.cloudtrail import parse_records
from iacdrift.errors import InputError, RefusedError
from iacdrift.flows import sandbox
from iacdrift.flows.workbench import Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.changes import load_change_records
from iacdrift.loaders.registry import Project, load_project
from iacdrift.models.context import ChangeType
from iacdrift.sandbox import cloudtrail, scenarios
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.identity import sandbox_credentials
from tests.e2e.test_check import check_json

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
HUMAN = (
    "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice@example.com"
)
HUMAN_ROLE = (
    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/"
    "AWSReservedSSO_Admin_0123456789abcdef"
)
BREAK_GLASS = "arn:aws:sts::123456789012:assumed-role/break-glass-admin/oncall-bob"
BREAK_GLASS_ROLE = "arn:aws:iam::123456789012:role/break-glass-admin"
ROTATION = "arn:aws:sts::123456789012:assumed-role/db-secret-rotation/rotation-lambda"
KEY = re.compile(
    r"^AWSLogs/123456789012/CloudTrail/us-east-1/(\d{4})/(\d{2})/(\d{2})/"
    r"123456789012_CloudTrail_us-east-1_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


# -- plain data ---------------------------------------------------------------------------


def test_actors_from_arns_and_names() -> None:
    human = cloudtrail.NAMED_ACTORS["human"]
    assert (human.arn, human.type, human.role_arn) == (HUMAN, "AssumedRole", HUMAN_ROLE)
    glass = cloudtrail.NAMED_ACTORS["break-glass"]
    assert (glass.arn, glass.role_arn, glass.mfa) == (BREAK_GLASS, BREAK_GLASS_ROLE, True)
    controller = cloudtrail.NAMED_ACTORS["controller"]
    assert controller.arn.startswith("arn:aws:sts::123456789012:assumed-role/cluster-autoscaler/")
    role = cloudtrail.actor_from_arn("arn:aws:iam::123456789012:role/ops/deployer")
    assert role.arn == "arn:aws:sts::123456789012:assumed-role/deployer/sandbox-drift"
    assert role.role_arn == "arn:aws:iam::123456789012:role/ops/deployer"
    user = cloudtrail.actor_from_arn("arn:aws:iam::123456789012:user/carol")
    identity = cloudtrail.user_identity(user, datetime(2026, 1, 1, tzinfo=UTC))
    assert identity["type"] == "IAMUser" and identity["userName"] == "carol"
    assert identity["principalId"].startswith("AIDA") and "sessionContext" not in identity
    with pytest.raises(InputError, match="--actor 'alice': not an actor name or ARN"):
        cloudtrail.actor_from_arn("alice")


def test_record_and_delivery_format() -> None:
    at = datetime(2026, 11, 25, 23, 59, 30, 900000, tzinfo=UTC)
    call = cloudtrail.ApiCall(
        actor=cloudtrail.NAMED_ACTORS["break-glass"],
        at=at,
        event_source="s3.amazonaws.com",
        event_name="PutBucketTagging",
        request_parameters=cloudtrail.s3_tagging("b-1", {"k": "v"}),
        response_elements=None,
        event_id="e-1",
        request_id="R-1",
        resources=(cloudtrail.s3_bucket("b-1"),),
    )
    body = cloudtrail.record(call, region="us-east-1")
    assert body["eventTime"] == "2026-11-25T23:59:30Z"
    context = body["userIdentity"]["sessionContext"]
    assert context["sessionIssuer"] == {
        "type": "Role",
        "principalId": body["userIdentity"]["principalId"].split(":")[0],
        "arn": BREAK_GLASS_ROLE,
        "accountId": ACCOUNT,
        "userName": "break-glass-admin",
    }
    assert context["attributes"] == {
        "creationDate": "2026-11-25T23:47:30Z",
        "mfaAuthenticated": "true",
    }
    assert body["resources"] == [
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::b-1"}
    ]
    key = cloudtrail.log_key(ACCOUNT, "us-east-1", at, "Ab3" * 5 + "x")
    assert KEY.match(key) and key.endswith("_20261125T2359Z_Ab3Ab3Ab3Ab3Ab3x.json.gz")
    assert json.loads(gzip.decompress(cloudtrail.log_body([body]))) == {"Records": [body]}
    with pytest.raises(ValueError, match="16 letters or digits"):
        cloudtrail.log_key(ACCOUNT, "us-east-1", at, "short")


def _group(group_id: str, *permissions: dict[str, Any]) -> dict[str, Any]:
    return {"GroupId": group_id, "GroupName": group_id, "IpPermissions": list(permissions)}


def test_security_group_calls_of_an_apply() -> None:
    """A rule whose sources change is revoked and authorized again (as the aws
    provider does); an untouched rule makes no call; a new group is created."""
    http = {
        "IpProtocol": "tcp",
        "FromPort": 80,
        "ToPort": 80,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
    }
    admin_old = {
        "IpProtocol": "tcp",
        "FromPort": 8443,
        "ToPort": 8443,
        "IpRanges": [{"CidrIp": "10.20.0.0/16", "Description": "admin"}],
    }
    admin_new = {
        **admin_old,
        "IpRanges": [
            {"CidrIp": "10.20.0.0/16", "Description": "admin"},
            {"CidrIp": "10.21.0.0/16", "Description": "admin"},
        ],
    }
    before = {"sg-1": _group("sg-1", http, admin_old)}
    after = {"sg-1": _group("sg-1", http, admin_new), "sg-2": _group("sg-2", http)}
    rules = [
        {
            "SecurityGroupRuleId": "sgr-new",
            "GroupId": "sg-1",
            "IsEgress": False,
            "IpProtocol": "tcp",
            "FromPort": 8443,
            "ToPort": 8443,
            "CidrIpv4": "10.21.0.0/16",
            "Description": "admin",
        }
    ]
    calls = scenarios.security_group_calls(before, after, rules)
    assert [(name, request.get("groupId")) for name, request, _ in calls] == [
        ("RevokeSecurityGroupIngress", "sg-1"),
        ("AuthorizeSecurityGroupIngress", "sg-1"),
        ("CreateSecurityGroup", None),
        ("AuthorizeSecurityGroupIngress", "sg-2"),
    ]
    revoked = calls[0][1]["ipPermissions"]["items"]
    assert [r["fromPort"] for r in revoked] == [8443]
    assert revoked[0]["ipRanges"]["items"] == [{"cidrIp": "10.20.0.0/16", "description": "admin"}]
    authorized = calls[1][1]["ipPermissions"]["items"][0]["ipRanges"]["items"]
    assert [item["cidrIp"] for item in authorized] == ["10.20.0.0/16", "10.21.0.0/16"]
    assert [r["securityGroupRuleId"] for r in calls[1][2]["securityGroupRuleSet"]["items"]] == [
        "sgr-new"
    ]
    assert calls[2][2] == {"_return": True, "groupId": "sg-2"}
    assert scenarios.security_group_calls(before, before, []) == []


def test_listing_names_every_scenario_with_its_actor_and_what_it_writes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "iacdrift", "sandbox", "drift", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name, item in scenarios.SCENARIOS.items():
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"{name} ")]
        detail = lines[index + 1]
        assert f"actor {item.actor}" in detail, detail
        assert "CloudTrail" in detail
        assert ("changes/<id>.yaml" in detail) == (item.change_record is not None)
    assert "changes/<id>.yaml (incident)" in proc.stdout
    assert "pipeline (the prod-network CI role)" in proc.stdout


def test_unknown_actor_is_refused_before_any_change() -> None:
    project = load_project(cwd=ROOT)
    with pytest.raises(InputError, match="not an actor name or ARN"):
        sandbox.drift(project, "sg-open-ssh", actor="mallory")
    with pytest.raises(InputError, match="changes no stack, so it has no pipeline"):
        sandbox.drift(project, "unmanaged-resource", actor="pipeline")


# -- on the sandbox -----------------------------------------------------------------------


def target(project: Project) -> Target:
    state, _ = sandbox.status(project)
    assert state is not None
    return Target(state.region, state.endpoint_url)


def aws(project: Project, service: str) -> Any:
    return client(service, sandbox_credentials(), target(project))


def delivered(project: Project, uri: str | None) -> tuple[str, bytes, list[dict[str, Any]]]:
    """(key, raw gzip bytes, records) of one delivery, its key checked."""
    assert uri is not None
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    assert bucket == cloudtrail.LOG_BUCKET
    match = KEY.match(key)
    assert match, key
    raw = aws(project, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert raw[:2] == b"\x1f\x8b"  # gzip
    document = json.loads(gzip.decompress(raw))
    assert list(document) == ["Records"]
    records: list[dict[str, Any]] = document["Records"]
    # The day folder and file time are the delivery's; every event is not later.
    day = "".join(match.group(1, 2, 3))
    assert match.group(4).startswith(day)
    stamp = datetime.strptime(match.group(4), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    for item in records:
        assert_record_shape(item)
        assert parse_time(item["eventTime"]) < stamp + timedelta(minutes=1)
    return key, raw, records


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def assert_record_shape(item: dict[str, Any]) -> None:
    assert item["eventVersion"] == "1.08"
    assert TIME.match(item["eventTime"])
    assert item["eventType"] == "AwsApiCall" and item["managementEvent"] is True
    assert item["recipientAccountId"] == ACCOUNT and item["awsRegion"] == "us-east-1"
    assert item["readOnly"] is False
    assert str(uuid.UUID(item["eventID"])) == item["eventID"]
    assert item["eventSource"].endswith(".amazonaws.com")
    assert item["sourceIPAddress"] and item["userAgent"] and item["requestID"]
    identity = item["userIdentity"]
    assert identity["accountId"] == ACCOUNT
    if identity["type"] == "AssumedRole":
        session_role = identity["arn"].split("/")[1]
        issuer = identity["sessionContext"]["sessionIssuer"]
        assert issuer["type"] == "Role" and issuer["userName"] == session_role
        assert issuer["arn"].endswith(f"/{session_role}")
        assert identity["principalId"] == f"{issuer['principalId']}:{identity['arn'].split('/')[2]}"
        attributes = identity["sessionContext"]["attributes"]
        assert TIME.match(attributes["creationDate"])
        assert attributes["mfaAuthenticated"] in {"true", "false"}


def heal(project: Project, stack: str) -> None:
    bench = Workbench.open(project)
    with prepared(bench, bench.stack(stack)) as ready:
        ready.engine.apply(ready.call)


def group(project: Project, name: str) -> dict[str, Any]:
    found = aws(project, "ec2").describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    assert len(found) == 1
    return dict(found[0])


def has_ingress(sg: dict[str, Any], port: int, cidr: str) -> bool:
    return any(
        perm.get("FromPort") == port and cidr in {r["CidrIp"] for r in perm.get("IpRanges", [])}
        for perm in sg["IpPermissions"]
    )


def change_records_dir(project: Project) -> Path:
    return project.root / "changes"


@pytest.fixture
def healed(sandbox_project: Project) -> Iterator[list[str]]:
    """Stacks to re-apply after the test."""
    stacks: list[str] = []
    yield stacks
    for stack in stacks:
        heal(sandbox_project, stack)


def test_break_glass_opens_the_db_and_files_the_incident(
    sandbox_project: Project, healed: list[str]
) -> None:
    healed.append("prod-network")
    before = datetime.now(UTC).replace(microsecond=0)
    report = sandbox.drift(sandbox_project, "break-glass")
    after = datetime.now(UTC)
    db = group(sandbox_project, "prod-db")
    assert has_ingress(db, 5432, scenarios.BREAK_GLASS_CIDR)
    assert not has_ingress(group(sandbox_project, "prod-web"), 5432, scenarios.BREAK_GLASS_CIDR)

    _, raw, records = delivered(sandbox_project, report.cloudtrail)
    (item,) = records
    assert item["eventName"] == "AuthorizeSecurityGroupIngress"
    assert item["eventSource"] == "ec2.amazonaws.com"
    assert item["userIdentity"]["arn"] == BREAK_GLASS == report.actor
    assert item["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == BREAK_GLASS_ROLE
    assert item["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"] == "true"
    assert item["requestParameters"]["groupId"] == db["GroupId"]
    (perm,) = item["requestParameters"]["ipPermissions"]["items"]
    assert (perm["ipProtocol"], perm["fromPort"], perm["toPort"]) == ("tcp", 5432, 5432)
    assert perm["ipRanges"]["items"][0]["cidrIp"] == scenarios.BREAK_GLASS_CIDR
    (rule,) = item["responseElements"]["securityGroupRuleSet"]["items"]
    live = aws(sandbox_project, "ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [db["GroupId"]]}]
    )["SecurityGroupRules"]
    assert rule["securityGroupRuleId"] in {r["SecurityGroupRuleId"] for r in live}
    assert item["responseElements"]["requestId"] == item["requestID"]
    at = parse_time(item["eventTime"])
    assert before <= at <= after

    # What the correlator reads of it.
    (event,) = parse_records(raw, report.cloudtrail or "")
    assert (event.actorArn, event.roleArn) == (BREAK_GLASS, BREAK_GLASS_ROLE)
    assert db["GroupId"] in event.resourceIds

    # The incident record: one file, named by its id, valid for the loader.
    (path,) = report.change_records
    assert path.parent == change_records_dir(sandbox_project)
    document = yaml.safe_load(path.read_text())
    assert path.name == f"{document['id']}.yaml" and document["id"].startswith("INC-")
    (incident,) = [r for r in load_change_records(path.parent) if r.id == document["id"]]
    assert incident.type is ChangeType.INCIDENT and incident.breakGlass is True
    assert incident.stack == "prod-network"
    assert incident.resources == [scenarios.DB_SG]
    assert incident.approvers == ["incident-commander"]
    assert incident.window.end is not None and incident.reconcileBy is not None
    assert incident.window.start <= at - timedelta(minutes=9)
    assert incident.window.end >= at + timedelta(hours=3, minutes=59)
    assert timedelta(hours=23) < incident.reconcileBy - at <= timedelta(hours=24)
    assert incident.covers(stack="prod-network", address=scenarios.DB_SG, resource_id=None, at=at)

    # The record names the address the check reports for the change.
    code, check = check_json(sandbox_project, "prod-network")
    assert code == 2
    (result,) = check["results"]
    assert [f["resourceRef"] for f in result["findings"]] == [scenarios.DB_SG]


def test_a_different_record_is_never_overwritten(sandbox_project: Project) -> None:
    fixed = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    directory = change_records_dir(sandbox_project)
    directory.mkdir(exist_ok=True)
    theirs = directory / "INC-20310504-0302.yaml"
    theirs.write_text("# someone else's incident\n")
    try:
        with pytest.raises(RefusedError, match="a different change record INC-20310504-0302"):
            sandbox.drift(sandbox_project, "break-glass", clock=lambda: fixed)
        assert theirs.read_text() == "# someone else's incident\n"
        # Refused before any change was made.
        assert not has_ingress(group(sandbox_project, "prod-db"), 5432, scenarios.BREAK_GLASS_CIDR)
    finally:
        theirs.unlink()


def test_old_scenario_as_the_break_glass_role(sandbox_project: Project, healed: list[str]) -> None:
    healed.append("prod-network")
    listed_before = set(change_records_dir(sandbox_project).glob("*.yaml"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "iacdrift",
            "sandbox",
            "drift",
            "sg-open-ssh",
            "--actor",
            "break-glass",
        ],
        cwd=sandbox_project.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"actor: {BREAK_GLASS}" in proc.stdout
    (uri,) = re.findall(r"cloudtrail: (s3://\S+)", proc.stdout)
    web = group(sandbox_project, "prod-web")
    assert has_ingress(web, 22, "0.0.0.0/0")
    _, _, records = delivered(sandbox_project, uri)
    (item,) = records
    assert item["eventName"] == "AuthorizeSecurityGroupIngress"
    assert item["userIdentity"]["arn"] == BREAK_GLASS
    assert item["requestParameters"]["groupId"] == web["GroupId"]
    # sg-open-ssh is made under no record.
    assert set(change_records_dir(sandbox_project).glob("*.yaml")) == listed_before


def test_secret_rotation_logs_the_version_never_the_value(
    sandbox_project: Project, healed: list[str]
) -> None:
    healed.append("prod-payments")
    sm = aws(sandbox_project, "secretsmanager")
    old = sm.get_secret_value(SecretId=srv.BOOTSTRAP_SECRET)
    report = sandbox.drift(sandbox_project, "secret-rotation")
    new = sm.get_secret_value(SecretId=srv.BOOTSTRAP_SECRET)
    assert new["VersionId"] != old["VersionId"] and new["SecretString"] != old["SecretString"]
    assert "AWSCURRENT" in new["VersionStages"]

    _, raw, records = delivered(sandbox_project, report.cloudtrail)
    (item,) = records
    assert (item["eventSource"], item["eventName"]) == (
        "secretsmanager.amazonaws.com",
        "PutSecretValue",
    )
    assert item["userIdentity"]["arn"] == ROTATION == report.actor
    assert item["requestParameters"]["secretId"] == srv.BOOTSTRAP_SECRET
    assert item["responseElements"]["versionId"] == new["VersionId"]
    assert item["responseElements"]["arn"] == new["ARN"]
    assert item["responseElements"]["name"] == srv.BOOTSTRAP_SECRET
    assert item["responseElements"]["versionStages"] == ["AWSCURRENT"]
    text = gzip.decompress(raw).decode()
    for value in (new["SecretString"], old["SecretString"]):
        assert value not in text and value.encode() not in raw
    # Like CloudTrail: no secretString field at all, not even an empty one.
    assert '"secretString"' not in text and '"SecretString"' not in text
    assert report.change_records == ()

    # prod-payments composes its DSN from the secret: the plan shows the change.
    code, check = check_json(sandbox_project, "prod-payments")
    assert code == 2
    refs = [f["resourceRef"] for f in check["results"][0]["findings"]]
    assert refs == ["aws_secretsmanager_secret_version.ledger_dsn"]


def test_approved_change_retags_and_files_the_change(
    sandbox_project: Project, healed: list[str]
) -> None:
    healed.append("prod-payments")
    report = sandbox.drift(sandbox_project, "approved-change")
    tags = aws(sandbox_project, "s3").get_bucket_tagging(Bucket=scenarios.LEDGER_BUCKET)
    assert {t["Key"]: t["Value"] for t in tags["TagSet"]}["data-class"] == "restricted"

    _, _, records = delivered(sandbox_project, report.cloudtrail)
    (item,) = records
    assert (item["eventSource"], item["eventName"]) == ("s3.amazonaws.com", "PutBucketTagging")
    assert item["userIdentity"]["arn"] == HUMAN
    assert item["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == HUMAN_ROLE
    assert item["requestParameters"]["bucketName"] == scenarios.LEDGER_BUCKET
    assert item["resources"] == [
        {
            "accountId": ACCOUNT,
            "type": "AWS::S3::Bucket",
            "ARN": f"arn:aws:s3:::{scenarios.LEDGER_BUCKET}",
        }
    ]
    at = parse_time(item["eventTime"])

    (path,) = report.change_records
    (change,) = [r for r in load_change_records(path.parent) if path.name == f"{r.id}.yaml"]
    assert change.type is ChangeType.CHANGE and change.id.startswith("CHG-")
    assert change.acceptsRuntime is True and change.breakGlass is False
    assert len(set(change.approvers)) == 2
    assert change.stack == "prod-payments" and change.resources == [scenarios.LEDGER]
    assert change.summary == "accepted as new desired state; code update pending"
    assert change.window.contains(at)

    code, check = check_json(sandbox_project, "prod-payments")
    assert code == 2
    (finding,) = check["results"][0]["findings"]
    assert finding["resourceRef"] == scenarios.LEDGER
    fields = {(f["pointer"], f["before"], f["after"]) for f in finding["changedFields"]}
    assert ("/tags/data-class", "confidential", "restricted") in fields


def test_remote_state_change_drifts_prod_app_through_prod_networks_pipeline(
    sandbox_project: Project, healed: list[str]
) -> None:
    healed.append("prod-app")
    report = sandbox.drift(sandbox_project, "remote-state-change")
    new_cidr, _ = scenarios.NEW_OFFICE_NETWORK
    ec2 = aws(sandbox_project, "ec2")
    (plist,) = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [scenarios.OFFICE_PREFIX_LIST]}]
    )["PrefixLists"]
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=plist["PrefixListId"])["Entries"]
    assert new_cidr in {e["Cidr"] for e in entries}
    admin = group(sandbox_project, "prod-admin")
    assert has_ingress(admin, 8443, new_cidr) and has_ingress(admin, 8443, "10.20.0.0/16")
    # prod-app itself is untouched: only its plan changes.
    assert not has_ingress(group(sandbox_project, "prod-app"), 8081, new_cidr)

    _, _, records = delivered(sandbox_project, report.cloudtrail)
    names = [(r["eventName"], r["userIdentity"]["arn"]) for r in records]
    pipeline_role = sandbox_project.get("prod-network").unit.spec.credentials.oidcRole
    assert report.actor.startswith(
        "arn:aws:sts::123456789012:assumed-role/iacdrift-prod-network/iacdrift-prod-network-"
    )
    assert names == [
        ("ModifyManagedPrefixList", HUMAN),
        ("RevokeSecurityGroupIngress", report.actor),
        ("AuthorizeSecurityGroupIngress", report.actor),
    ]
    modify, revoke, authorize = records
    request = modify["requestParameters"]["ModifyManagedPrefixListRequest"]
    assert request["PrefixListId"] == plist["PrefixListId"]
    assert request["AddEntry"]["Cidr"] == new_cidr
    for item in (revoke, authorize):
        context = item["userIdentity"]["sessionContext"]
        assert context["sessionIssuer"]["arn"] == pipeline_role
        assert context["webIdFederationData"]["federatedProvider"].endswith(
            ":oidc-provider/token.actions.githubusercontent.com"
        )
        assert "Terraform/" in item["userAgent"]
        assert item["requestParameters"]["groupId"] == admin["GroupId"]
    cidrs = [
        r["cidrIp"]
        for perm in authorize["requestParameters"]["ipPermissions"]["items"]
        for r in perm["ipRanges"]["items"]
    ]
    assert cidrs == ["10.20.0.0/16", new_cidr]
    assert parse_time(modify["eventTime"]) <= parse_time(revoke["eventTime"])

    code, check = check_json(sandbox_project, "prod-app", "prod-network")
    assert code == 2
    by_stack = {r["stack"]: r for r in check["results"]}
    assert by_stack["prod-network"]["status"] == "CLEAN"
    assert by_stack["prod-network"]["findings"] == []
    app = by_stack["prod-app"]
    assert app["status"] == "DRIFTED"
    (finding,) = app["findings"]
    assert finding["resourceRef"] == scenarios.APP_SG
    assert finding["relationship"] == "desired!=recorded"
    desired = [f for f in finding["changedFields"] if f["after"] is not None]
    assert desired, finding["changedFields"]
    office = [
        f["after"] for f in desired if f["after"].get("description") == "app admin from office"
    ]
    assert office == [
        {
            "cidr_blocks": ["10.20.0.0/16", new_cidr],
            "description": "app admin from office",
            "from_port": 8081,
            "protocol": "tcp",
            "to_port": 8081,
        }
    ]
    # What it replaces is what prod-network exported before: the recorded value.
    recorded = [f["before"] for f in finding["changedFields"] if f["before"] is not None]
    assert [r["cidr_blocks"] for r in recorded if r.get("from_port") == 8081] == [["10.20.0.0/16"]]
