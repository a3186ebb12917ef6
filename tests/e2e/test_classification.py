"""Classification end to end: real drift scenarios in the sandbox, the CloudTrail
records and change records they deliver, the example policies, one `iacdrift run`,
then `explain`, routing with dedupe, and code changes checked with extra policies.

Table-driven: each scenario's resource must come out with its class and action.
Before any drift, one check of prod-iam: the reporting role's policies, attached by
resources of their own, are noise naming those resources (not drift).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iacdrift.aws.session import Target, client
from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project, load_project
from iacdrift.sandbox.identity import sandbox_credentials
from iacdrift.sandbox.scenarios import LEDGER_DB_SECRET
from tests.conftest import start_sandbox_project
from tests.e2e.test_check import check_json, run_cli

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RUN_SCHEMA = json.loads((ROOT / "schemas" / "run-report.schema.json").read_text())
WEB_SG = 'module.tier["web"].aws_security_group.this'
DB_SG = "module.db.aws_security_group.this"
APP_SG = "module.app_sg.aws_security_group.this"
RECEIPTS = 'module.bucket["receipts"].aws_s3_bucket.this'
LEDGER = 'module.bucket["ledger"].aws_s3_bucket.this'
SECRET = "aws_secretsmanager_secret_version.ledger_dsn"
REPORTING = "aws_iam_role.reporting"
ATTACHMENT = "aws_iam_role_policy_attachment.reporting_ledger_read"
INLINE = "aws_iam_role_policy.reporting_exports"
ALICE = "alice@example.com"

# Injected in this order: remote-state-change applies prod-network for real, which
# would revert drift injected there before it.
SCENARIOS = (
    "remote-state-change",
    "break-glass",
    "sg-open-ssh",
    "secret-rotation",
    "approved-change",
    "bucket-tag",
    "role-policy-attached",
    "reporting-policy-attached",
    "unmanaged-resource",
)

# (stack, resource, class, action)
EXPECTED = [
    ("prod-app", APP_SG, "DEPENDENCY_DRIFT", "APPLY"),
    ("prod-network", DB_SG, "EMERGENCY_DRIFT", "RECONCILE_AFTER_INCIDENT"),
    ("prod-network", WEB_SG, "UNAUTHORIZED_RUNTIME_DRIFT", "INCIDENT_AND_REVERT"),
    ("prod-payments", SECRET, "SECRET_DELIVERY_DRIFT", "REFRESH"),
    ("prod-payments", LEDGER, "STALE_DESIRED_STATE", "UPDATE_CODE"),
    ("prod-payments", RECEIPTS, "UNAUTHORIZED_RUNTIME_DRIFT", "REVERT"),
    ("prod-iam", "aws_iam_role.service[0]", "UNAUTHORIZED_RUNTIME_DRIFT", "INCIDENT_AND_REVERT"),
    ("prod-iam", REPORTING, "UNAUTHORIZED_RUNTIME_DRIFT", "INCIDENT_AND_REVERT"),
    ("prod-iam", "aws_iam_policy.ledger_read", "PROVIDER_READ_NOISE", "IGNORE"),
]


UNTOUCHED: dict[str, Any] = {}


@pytest.fixture(scope="module")
def drifted(
    tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path
) -> Iterator[tuple[Project, dict[str, Any]]]:
    directory = tmp_path_factory.mktemp("classified")
    project = start_sandbox_project(directory, plugin_cache)
    try:
        _, UNTOUCHED["prod-iam"] = check_json(project, "prod-iam")
        for name in SCENARIOS:
            sandbox.drift(project, name)
        code, out, err = run_cli(project, "run", "--all", "--format", "json")
        assert code == 2, err
        report = json.loads(out)
        jsonschema.validate(report, RUN_SCHEMA)
        yield project, report
    finally:
        sandbox.down(load_project(cwd=directory))


def findings_of(report: dict[str, Any]) -> dict[tuple[str | None, str], dict[str, Any]]:
    found = {(r["stack"], f["resourceRef"]): f for r in report["results"] for f in r["findings"]}
    found.update({(None, f["resourceRef"]): f for f in report["estateFindings"]})
    return found


@pytest.mark.parametrize(
    ("stack", "resource", "drift_class", "action"),
    EXPECTED,
    ids=[f"{e[2]}:{e[1]}" for e in EXPECTED],
)
def test_scenario_classes(
    drifted: tuple[Project, dict[str, Any]],
    stack: str,
    resource: str,
    drift_class: str,
    action: str,
) -> None:
    _, report = drifted
    finding = findings_of(report)[(stack, resource)]
    assert finding["driftClass"] == drift_class, finding["reason"]
    assert finding["recommendedAction"] == action, finding["reason"]
    assert finding["policyVersion"] == report["policyVersion"]
    assert finding["policyVersion"].startswith("sha256:")


def test_context_is_joined(drifted: tuple[Project, dict[str, Any]]) -> None:
    _, report = drifted
    found = findings_of(report)
    emergency = found[("prod-network", DB_SG)]
    assert emergency["deadline"] and emergency["alert"] is True
    assert emergency["changeRecords"][0].startswith("INC-")
    assert any("break-glass-admin" in a["actorArn"] for a in emergency["actors"])
    ssh = found[("prod-network", WEB_SG)]
    assert [a["eventName"] for a in ssh["actors"]] == ["AuthorizeSecurityGroupIngress"]
    assert "alice@example.com" in ssh["actors"][0]["actorArn"]
    assert ssh["risk"] in ("HIGH", "CRITICAL")  # it also breaks the world-SSH guardrail
    assert any(e["ref"] == "sg-no-world-ssh" for e in ssh["evidence"])
    stale = found[("prod-payments", LEDGER)]
    assert stale["changeRecords"][0].startswith("CHG-") and stale["alert"] is False
    unmanaged = [f for (stack, _), f in found.items() if stack is None]
    assert [f["driftClass"] for f in unmanaged] == ["UNAUTHORIZED_RUNTIME_DRIFT"]
    assert [f["recommendedAction"] for f in unmanaged] == ["INVESTIGATE"]
    # Nothing could be joined wrongly: the audit logs were read.
    assert report["estateProblems"] == []


def test_explain_names_rules_events_and_records(drifted: tuple[Project, dict[str, Any]]) -> None:
    project, report = drifted
    emergency = findings_of(report)[("prod-network", DB_SG)]
    code, out, err = run_cli(project, "explain", emergency["findingId"][:16])
    assert code == 0, err
    assert "EMERGENCY_DRIFT" in out
    assert emergency["changeRecords"][0] in out
    assert "break-glass-admin" in out
    assert "default-decisions#" in out  # the decision table row
    code, out, err = run_cli(project, "explain", "drift-doesnotexist")
    assert code == 1 and "no such finding" in err


def test_routing_pages_once_then_dedupes(drifted: tuple[Project, dict[str, Any]]) -> None:
    project, _ = drifted
    oncall = project.root / ".iacdrift" / "routes" / "network-oncall.jsonl"
    lines = oncall.read_text().splitlines()
    pages = [json.loads(line) for line in lines]
    assert pages and all(p["page"] for p in pages)
    assert {p["finding"]["resourceRef"] for p in pages} == {WEB_SG}
    code, _, err = run_cli(project, "run", "--stack", "prod-network", "--format", "json")
    assert code == 2, err
    assert "0 sent" in err and "already sent" in err
    assert oncall.read_text().splitlines() == lines


def test_same_inputs_same_findings(drifted: tuple[Project, dict[str, Any]]) -> None:
    project, report = drifted
    _, first = check_json(project, "prod-payments")
    _, second = check_json(project, "prod-payments")

    def stable(result: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in f.items() if k != "detectedAt"}
            for f in result["results"][0]["findings"]
        ]

    assert stable(first) == stable(second)
    assert first["policyVersion"] == second["policyVersion"] == report["policyVersion"]


EXTRA_POLICIES = """
apiVersion: iacdrift.dev/v1
kind: FieldOwnership
id: bucket-data-class-runtime
resourceType: aws_s3_bucket
runtimeOwned: [/tags/data-class]
---
apiVersion: iacdrift.dev/v1
kind: Guardrail
id: sg-no-world-egress
resourceType: aws_security_group
description: No all-protocol egress to the whole internet.
effectiveDate: 2026-01-01
rule:
  path: /egress
  operator: any-element-matches
  where:
    - {path: /cidr_blocks, operator: contains, value: 0.0.0.0/0}
    - {path: /protocol, operator: equals, value: "-1"}
"""


def test_ownership_and_guardrail_policies(
    drifted: tuple[Project, dict[str, Any]], tmp_path: Path
) -> None:
    project, _ = drifted
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "extra.yaml").write_text(EXTRA_POLICIES)
    _, report = check_json(
        project, "prod-payments", "prod-app", extra=("--policies", str(policies))
    )
    found = findings_of(report)
    for bucket in (LEDGER, RECEIPTS):
        owned = found[("prod-payments", bucket)]
        assert owned["driftClass"] == "CONTROLLER_OWNED_DRIFT" and owned["alert"] is False
        assert owned["changedFields"][0]["ownedBy"] == "runtime"
    policy = [
        f for r in report["results"] for f in r["findings"] if f["driftClass"] == "POLICY_DRIFT"
    ]
    assert policy and {f["relationship"] for f in policy} == {"actual!=policy"}
    assert any(e["ref"] == "sg-no-world-egress" for e in policy[0]["evidence"])
    # Another policy set, another version, recorded in every finding.
    assert {f["policyVersion"] for f in found.values()} == {report["policyVersion"]}


def test_code_changes_pending_refactor_and_failed_apply(
    drifted: tuple[Project, dict[str, Any]],
) -> None:
    project, _ = drifted
    main = project.root / "stacks" / "prod-iam" / "main.tf"
    original = main.read_text()
    changes = project.root / "changes"
    try:
        # A rename without a moved block, and a description the code now sets.
        edited = original.replace(
            'resource "aws_iam_policy" "ledger_read"', 'resource "aws_iam_policy" "ledger_reader"'
        ).replace("aws_iam_policy.ledger_read.", "aws_iam_policy.ledger_reader.")
        assert edited != original
        main.write_text(edited)
        _, report = check_json(project, "prod-iam")
        found = findings_of(report)
        old = found[("prod-iam", "aws_iam_policy.ledger_read")]
        new = found[("prod-iam", "aws_iam_policy.ledger_reader")]
        assert old["driftClass"] == new["driftClass"] == "STATE_DRIFT"
        # The example decision table says INVESTIGATE for STATE_DRIFT, but a rename is a
        # fact of the plan: MOVE stands (the evidence says so), and the reason names the
        # missing moved block.
        assert old["recommendedAction"] == new["recommendedAction"] == "MOVE"
        assert any(e["ref"] == "rename" for e in old["evidence"])
        assert "without a moved block" in old["reason"]

        # Only a code change: pending apply; then a failed apply recorded for the stack.
        main.write_text(
            original.replace(
                'resource "aws_iam_policy" "ledger_read" {',
                'resource "aws_iam_policy" "ledger_read" {\n  tags = { reviewed = "yes" }',
            )
        )
        _, report = check_json(project, "prod-iam")
        pending = findings_of(report)[("prod-iam", "aws_iam_policy.ledger_read")]
        assert pending["driftClass"] == "PENDING_APPLY", pending["reason"]
        now = datetime.now(UTC)
        start = (now - timedelta(minutes=30)).isoformat()
        end = (now - timedelta(minutes=20)).isoformat()
        record = textwrap.dedent(
            f"""\
            apiVersion: iacdrift.dev/v1
            kind: ChangeRecord
            id: APPLY-77
            type: apply
            stack: prod-iam
            outcome: failed
            window: {{start: "{start}", end: "{end}"}}
            summary: apply timed out half-way
            """
        )
        changes.mkdir(exist_ok=True)
        (changes / "APPLY-77.yaml").write_text(record)
        _, report = check_json(project, "prod-iam")
        failed = findings_of(report)[("prod-iam", "aws_iam_policy.ledger_read")]
        assert failed["driftClass"] == "FAILED_RECONCILIATION_DRIFT", failed["reason"]
        assert failed["changeRecords"] == ["APPLY-77"]
    finally:
        main.write_text(original)
        (changes / "APPLY-77.yaml").unlink(missing_ok=True)


def test_attached_by_their_own_resources_is_noise_and_by_hand_stays_drift(
    drifted: tuple[Project, dict[str, Any]],
) -> None:
    _, report = drifted
    # Untouched: the role's aggregates changed on the first refresh, and the
    # attachment and inline policy resources explain every element.
    [untouched] = UNTOUCHED["prod-iam"]["results"]
    assert untouched["status"] == "CLEAN", untouched
    noise = {f["resourceRef"]: f for f in untouched["findings"]}[REPORTING]
    assert (noise["driftClass"], noise["alert"], noise["changedFields"]) == (
        "PROVIDER_READ_NOISE",
        False,
        [],
    )
    assert f"/managed_policy_arns/0 by {ATTACHMENT}" in noise["reason"]
    assert f"/inline_policy/0 by {INLINE}" in noise["reason"]
    assert {e["ref"] for e in noise["evidence"]} >= {ATTACHMENT, INLINE}
    # ReadOnlyAccess attached by hand beside them: real drift on the same pointer, the
    # explained elements noise on the same finding.
    found = findings_of(report)
    role = found[("prod-iam", REPORTING)]
    assert role["alert"] is True and role["relationship"] == "recorded!=actual"
    assert [(f["pointer"], f["after"]) for f in role["changedFields"]] == [
        ("/managed_policy_arns/1", "arn:aws:iam::aws:policy/ReadOnlyAccess")
    ]
    noise_pointers = [f["pointer"] for f in role["noiseFields"]]
    assert noise_pointers == ["/inline_policy/0", "/managed_policy_arns/0"]
    assert f"/managed_policy_arns/0 by {ATTACHMENT}" in role["reason"]
    assert [a["eventName"] for a in role["actors"]] == ["AttachRolePolicy"]
    assert ALICE in role["actors"][0]["actorArn"]
    # The exclusive role (managed_policy_arns in its code) is unchanged: its one
    # element nothing explains.
    admin = found[("prod-iam", "aws_iam_role.service[0]")]
    assert [(f["pointer"], f["after"]) for f in admin["changedFields"]] == [
        ("/managed_policy_arns/1", "arn:aws:iam::aws:policy/AdministratorAccess")
    ]
    assert admin["noiseFields"] == []


def test_a_person_rotating_the_secret_is_alerted_a_controller_is_not(
    drifted: tuple[Project, dict[str, Any]],
) -> None:
    project, report = drifted
    rotation = findings_of(report)[("prod-payments", SECRET)]
    assert rotation["driftClass"] == "SECRET_DELIVERY_DRIFT" and rotation["alert"] is False
    assert "registered controller" in rotation["reason"]
    assert "db-secret-rotation" in rotation["reason"]

    sandbox.drift(project, "secret-rotation", actor="human")
    code, out, err = run_cli(project, "check", "prod-payments", "--format", "json")
    assert code == 2, err
    found = findings_of(json.loads(out))
    person = found[("prod-payments", SECRET)]
    assert person["driftClass"] == "SECRET_DELIVERY_DRIFT"
    assert person["alert"] is True
    assert ALICE in person["reason"] and "not a registered controller" in person["reason"]
    assert ALICE in {a["actorArn"].rsplit("/", 1)[-1] for a in person["actors"]}
    # Version ids and fingerprints only: the value the person put is nowhere.
    state, _ = sandbox.status(project)
    assert state is not None
    manager = client(
        "secretsmanager", sandbox_credentials(), Target(state.region, state.endpoint_url)
    )
    value = manager.get_secret_value(SecretId=LEDGER_DB_SECRET)["SecretString"]
    _, table, table_err = run_cli(project, "check", "prod-payments")
    assert all(value not in text for text in (out, err, table, table_err))
    assert all(f["sensitive"] for f in person["changedFields"] if f["pointer"] == "/secret_string")
