"""The outputs for CI consumers: JUnit XML, SARIF 2.1.0, the GitHub step summary and
the pull-request comment.

JUnit is read back with junitparser and checked for the common JUnit XSD's shape and
consistent counts; SARIF is validated against the official SARIF 2.1.0 JSON schema
(tests/fixtures/sarif/, see its README) and checked for what GitHub code scanning
needs (a file in every result's location, fingerprints); the Markdown is rendered
with markdown-it. Every format is checked for secrets planted in a finding's reason
and in sensitive fields (redacted, and one where redaction failed): none appears.
"""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from markdown_it import MarkdownIt

from iacdrift.loaders.resource_lines import (
    ResourceLocation,
    location_for,
    resource_locations,
)
from iacdrift.models.finding import (
    Action,
    ChangedField,
    CheckReport,
    Counts,
    Domain,
    DriftClass,
    Finding,
    Relationship,
    Risk,
    StackResult,
    StackStatus,
    Timings,
)
from iacdrift.models.outcomes import PlanOutcome
from iacdrift.models.run import RunReport, RunSelection, SkippedStack
from iacdrift.primitives.address import config_address
from iacdrift.report.github import (
    COMMENT_LIMIT,
    PR_COMMENT_MARKER,
    SUMMARY_LIMIT,
    render_pr_comment,
    render_step_summary,
)
from iacdrift.report.junit import render_junit
from iacdrift.report.sarif import FINGERPRINT_KEY, render_sarif
from tests.factories import make_finding

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# Planted where a careless renderer would print them.
PLANTED_IN_REASON = "hunter2-Planted-Reason-7f3a9c"
PLANTED_RAW = "Planted-Unredacted-Value-0b5e1d"  # a sensitive value redaction missed
PLAIN_VALUE = "plain-value-not-shown-4c2e"  # a non-sensitive value: pointers only
MARKER_BEFORE = "(sensitive:0123456789abcdef)"
MARKER_AFTER = "(sensitive:fedcba9876543210)"
SECRETS = (PLANTED_IN_REASON, PLANTED_RAW, PLAIN_VALUE, MARKER_BEFORE, MARKER_AFTER)


def _resource_type(resource: str) -> str:
    """``aws_s3_bucket`` of ``module.m.aws_s3_bucket.b`` or ``aws_s3_bucket:id``."""
    if ":" in resource:
        return resource.split(":")[0]
    return config_address(resource).split(".")[-2]


def _finding(finding_id: str, stack: str | None, resource: str, **fields: Any) -> Finding:
    values: dict[str, Any] = {
        "stack": stack,
        "detectedAt": NOW,
        "resourceRef": resource,
        "resourceType": _resource_type(resource),
        "reason": f"changed outside Terraform; the old password was {PLANTED_IN_REASON}",
        "changedFields": [ChangedField(pointer="/tags/owner", before=PLAIN_VALUE, after="x")],
    }
    return make_finding(finding_id, **{**values, **fields})


def _payments() -> StackResult:
    findings = [
        _finding(
            "drift-00000000000000000001",
            "prod-payments",
            'module.bucket["x"].aws_s3_bucket.this',
            domain=Domain.STORAGE,
        ),
        _finding(
            "drift-00000000000000000002",
            "prod-payments",
            "aws_secretsmanager_secret_version.ledger_dsn",
            domain=Domain.SECRETS,
            relationship=Relationship.RECORDED_NE_ACTUAL,
            driftClass=DriftClass.SECRET_DELIVERY_DRIFT,
            risk=Risk.CRITICAL,
            recommendedAction=Action.REFRESH,
            changedFields=[
                ChangedField(
                    pointer="/secret_string",
                    before=MARKER_BEFORE,
                    after=MARKER_AFTER,
                    sensitive=True,
                ),
                # Redaction failed upstream: the flag is set, the value is raw.
                ChangedField(
                    pointer="/secret_binary", before=None, after=PLANTED_RAW, sensitive=True
                ),
                ChangedField(pointer="/version_stages/0", before=MARKER_BEFORE, after="AWSCURRENT"),
            ],
        ),
        _finding(
            "drift-00000000000000000003",
            "prod-payments",
            "aws_iam_policy.read",
            driftClass=DriftClass.PROVIDER_READ_NOISE,
            relationship=Relationship.NOISE_ONLY,
            risk=Risk.INFO,
            alert=False,
            recommendedAction=Action.IGNORE,
        ),
        _finding(
            "drift-00000000000000000004",
            "prod-payments",
            "aws_s3_bucket_policy.read",
            driftClass=DriftClass.PENDING_APPLY,
            relationship=Relationship.DESIRED_NE_RECORDED,
            risk=Risk.MEDIUM,
            alert=False,
            recommendedAction=Action.APPLY,
        ),
    ]
    return StackResult(
        stack="prod-payments",
        status=StackStatus.DRIFTED,
        checkedAt=NOW,
        planOutcome=PlanOutcome.CHANGES,
        terraformFlavor="terraform",
        terraformVersion="1.15.0",
        owner="team-payments",
        riskTier="tier-1",
        counts=Counts(findings=4, drifted=3, noise=1, resources=9),
        timings=Timings(totalSeconds=4.25),
        findings=findings,
    )


def _legacy() -> StackResult:
    findings = [
        _finding(
            "drift-00000000000000000005",
            "legacy-storage",
            "aws_s3_bucket.archive",
            domain=Domain.STORAGE,
            risk=Risk.MEDIUM,
        ),
        _finding(
            "drift-00000000000000000006",
            "legacy-storage",
            "aws_iam_role.removed_from_code",  # in the state, no longer in the code
            domain=Domain.IAM,
            relationship=Relationship.MISSING_IN_ACTUAL,
            driftClass=DriftClass.STATE_DRIFT,
            risk=Risk.LOW,
            recommendedAction=Action.INVESTIGATE,
        ),
    ]
    return StackResult(
        stack="legacy-storage",
        status=StackStatus.DRIFTED,
        checkedAt=NOW,
        counts=Counts(findings=2, drifted=2, resources=4),
        timings=Timings(totalSeconds=2.5),
        findings=findings,
    )


def _others() -> list[StackResult]:
    return [
        StackResult(
            stack="prod-iam",
            status=StackStatus.LOCKED,
            checkedAt=NOW,
            reason="prod-iam: state is locked by ci@runner (OperationTypeApply); wait for it",
        ),
        StackResult(
            stack="scratch",
            status=StackStatus.ERROR,
            checkedAt=NOW,
            reason="terraform plan failed: \x1b[31mError:\x1b[0m <bad> & `x` | y\x07\nline two",
            timings=Timings(totalSeconds=1.0),
        ),
        StackResult(
            stack="staging-app",
            status=StackStatus.STALE,
            checkedAt=NOW,
            reason="last successful check 3 days ago",
        ),
        StackResult(
            stack="prod-app",
            status=StackStatus.CLEAN,
            checkedAt=NOW,
            counts=Counts(resources=5),
            timings=Timings(totalSeconds=3.0),
        ),
    ]


def _unmanaged() -> Finding:
    return _finding(
        "drift-00000000000000000007",
        None,
        "aws_s3_bucket:shadow-exports",
        relationship=Relationship.UNMANAGED,
        risk=Risk.HIGH,
        changedFields=[],
    )


def check_report() -> CheckReport:
    return CheckReport(
        generatedAt=NOW,
        results=[_payments(), *_others(), _legacy()],
        estateFindings=[_unmanaged()],
        estateProblems=["audit logs: s3://logs/x: AccessDenied"],
        policyVersion="sha256:0123456789ab",
    )


def run_report() -> RunReport:
    borrowed = StackResult(
        stack="prod-network",
        status=StackStatus.DRIFTED,
        checkedAt=NOW,
        counts=Counts(findings=1, drifted=1),
        findings=[
            _finding(
                "drift-00000000000000000008",
                "prod-network",
                "aws_security_group.web",
                risk=Risk.HIGH,
            )
        ],
    )
    return RunReport(
        runId="run-20250601-abc",
        startedAt=NOW,
        finishedAt=NOW + timedelta(seconds=42),
        registry="registry",
        selection=RunSelection.ALL,
        maxParallel=4,
        results=[_payments(), *_others()],
        estateFindings=[_unmanaged()],
        skipped=[
            SkippedStack(
                stack="prod-network",
                reason="another run held its lease; waited 30s",
                holder="host:1:run-x",
                holderRunId="run-x",
                result=borrowed,
            ),
            SkippedStack(
                stack="prod-db",
                reason="another run held its lease",
                holder="host:2:run-y",
                holderRunId="run-y",
            ),
        ],
    )


def _locations(report: CheckReport | RunReport) -> dict[tuple[str, str], ResourceLocation]:
    """What the CLI gives render_sarif: each finding's block in the real stacks/."""
    tables: dict[str, dict[str, ResourceLocation]] = {}
    found: dict[tuple[str, str], ResourceLocation] = {}
    findings = [f for r in report.results for f in r.findings]
    if isinstance(report, RunReport):
        findings += [f for s in report.skipped if s.result for f in s.result.findings]
    for finding in findings:
        if finding.stack is None or not (ROOT / "stacks" / finding.stack).is_dir():
            continue
        if finding.stack not in tables:
            tables[finding.stack] = resource_locations(ROOT / "stacks" / finding.stack, ROOT)
        place = location_for(finding.resourceRef, tables[finding.stack])
        if place is not None:
            found[(finding.stack, finding.resourceRef)] = place
    return found


STACK_DIRS = {
    name: f"stacks/{name}" for name in ("prod-payments", "legacy-storage", "prod-network")
}


def _sarif(report: CheckReport | RunReport, **options: Any) -> dict[str, Any]:
    text = render_sarif(report, _locations(report), tool_version="0.1.0", **options)
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _all_outputs(report: CheckReport | RunReport) -> dict[str, str]:
    return {
        "junit": render_junit(report),
        "sarif": render_sarif(
            report, _locations(report), tool_version="0.1.0", stack_dirs=STACK_DIRS
        ),
        "sarif-no-dirs": render_sarif(report, {}, tool_version="0.1.0"),
        "step-summary": render_step_summary(report),
        "pr-comment": render_pr_comment(
            report, ["prod-payments", "prod-iam", "prod-app", "prod-db", "prod-network", "nope"]
        ),
    }


# --- no secret in any format -------------------------------------------------------


@pytest.mark.parametrize("build", [check_report, run_report], ids=["check", "run"])
def test_no_secret_value_appears_in_any_format(build: Any) -> None:
    report = build()
    # The planted values are in the report itself (so the test can fail) ...
    dumped = report.model_dump_json()
    assert all(secret in dumped for secret in SECRETS)
    for name, text in _all_outputs(report).items():
        # ... and in no output: no reason text, no before/after value of any field.
        leaked = [secret for secret in SECRETS if secret in text]
        assert leaked == [], f"{name} shows {leaked}"
        assert "(sensitive:" not in text, name
    # The sensitive fields are still named, as pointers.
    sarif = _all_outputs(report)["sarif"]
    assert "/secret_string (sensitive)" in sarif
    assert "/secret_binary (sensitive)" in sarif
    assert "/version_stages/0 (sensitive)" in sarif  # a marker in a value marks it


# --- JUnit -------------------------------------------------------------------------

_CASE_CHILDREN = {"skipped", "error", "failure", "system-out", "system-err"}
_SUITE_ATTRIBUTES = {"name", "tests", "failures", "errors", "skipped", "time", "timestamp"}


def _junit_shape(text: str) -> ET.Element:
    """The common JUnit XSD's shape (Jenkins junit-10.xsd): testsuites > testsuite >
    (properties?, testcase*); a testcase holds at most one of skipped/error/failure,
    then system-out/system-err; counts are integers, times decimals."""
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    assert {child.tag for child in root} == {"testsuite"}
    for suite in root:
        assert set(suite.attrib) <= _SUITE_ATTRIBUTES | {"hostname", "id", "package"}
        assert {"name", "tests"} <= set(suite.attrib)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.attrib["timestamp"])
        tags = [child.tag for child in suite]
        assert set(tags) <= {"properties", "testcase", "system-out", "system-err"}
        assert tags.count("properties") <= 1 and (not tags or tags[0] in ("properties", "testcase"))
        for prop in suite.iter("property"):
            assert set(prop.attrib) == {"name", "value"}
        for case in suite.iter("testcase"):
            assert {"name", "classname", "time"} <= set(case.attrib)
            float(case.attrib["time"])
            children = [child.tag for child in case]
            assert set(children) <= _CASE_CHILDREN
            outcomes = [tag for tag in children if tag in ("skipped", "error", "failure")]
            assert len(outcomes) <= 1
            assert children[: len(outcomes)] == outcomes, "outcome before system-out"
        for key in ("tests", "failures", "errors", "skipped"):
            int(suite.attrib[key])
        float(suite.attrib["time"])
    return root


def _outcomes(xml: JUnitXml) -> dict[str, str]:
    outcome = {}
    for suite in xml:
        for case in suite:
            kinds = {type(r).__name__ for r in case.result} or {"passed"}
            assert len(kinds) == 1
            outcome[case.name] = kinds.pop()
    return outcome


def test_junit_check_one_case_per_stack_and_outcomes_by_status() -> None:
    text = render_junit(check_report())
    _junit_shape(text)
    xml = JUnitXml.fromstring(text)
    assert _outcomes(xml) == {
        "estate": "Error",  # estate problems: unmanaged resources could not be judged
        "legacy-storage": "Failure",
        "prod-app": "passed",
        "prod-iam": "Error",
        "prod-payments": "Failure",
        "scratch": "Error",
        "staging-app": "Skipped",
    }
    suite = next(iter(xml))
    names = [case.name for case in suite]
    assert names[:-1] == sorted(names[:-1]) and names[-1] == "estate"  # stacks, then estate
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (7, 2, 3, 1)
    assert suite.time == pytest.approx(4.25 + 2.5 + 1.0 + 3.0)
    props = {p.name: p.value for p in suite.properties()}
    assert props["iacdrift.exitCode"] == "1"
    assert props["iacdrift.policyVersion"] == "sha256:0123456789ab"


def test_junit_counts_agree_with_the_cases() -> None:
    for report in (check_report(), run_report()):
        xml = JUnitXml.fromstring(render_junit(report))
        stated = [(s.tests, s.failures, s.errors, s.skipped) for s in xml]
        totals = (xml.tests, xml.failures, xml.errors, xml.skipped)
        recounted = copy.deepcopy(xml)
        recounted.update_statistics()
        assert [(s.tests, s.failures, s.errors, s.skipped) for s in recounted] == stated
        assert (recounted.tests, recounted.failures, recounted.errors, recounted.skipped) == totals
        assert totals == stated[0]


def test_junit_drifted_failure_lists_findings_by_class_and_risk() -> None:
    xml = JUnitXml.fromstring(render_junit(check_report()))
    case = next(c for s in xml for c in s if c.name == "prod-payments")
    (failure,) = case.result
    assert isinstance(failure, Failure)
    assert failure.type == "DRIFTED"
    # Noise is not drift; the quiet finding is counted, not listed.
    assert failure.message == (
        "3 drift findings: SECRET_DELIVERY_DRIFT/CRITICAL x1, "
        "UNAUTHORIZED_RUNTIME_DRIFT/HIGH x1, PENDING_APPLY/MEDIUM x1"
    )
    lines = (failure.text or "").splitlines()
    assert lines[0].startswith("CRITICAL (alert) SECRET_DELIVERY_DRIFT ")
    assert "iacdrift explain drift-00000000000000000002" in lines[0]
    assert "aws_iam_policy.read" not in failure.text
    assert lines[-1] == "+1 quiet findings (noise, controller-owned or ignored)"
    assert float(case.time) == pytest.approx(4.25)
    assert "team-payments" in (case.system_out or "")


def test_junit_error_and_locked_carry_the_reason_as_valid_xml() -> None:
    xml = JUnitXml.fromstring(render_junit(check_report()))
    cases = {c.name: c for s in xml for c in s}
    (locked,) = cases["prod-iam"].result
    assert isinstance(locked, Error) and locked.type == "LOCKED"
    assert "locked by ci@runner" in (locked.message or "")
    (error,) = cases["scratch"].result
    assert isinstance(error, Error)
    # Colour sequences dropped, another control character (not XML 1.0) replaced,
    # markup characters kept as text.
    assert (error.text or "").startswith("terraform plan failed: Error: <bad> & `x` | y\ufffd\n")
    assert (error.message or "").startswith("ERROR: terraform plan failed: Error: <bad>")
    (stale,) = cases["staging-app"].result
    assert isinstance(stale, Skipped) and "STALE" in (stale.message or "")


def test_junit_run_skipped_stacks() -> None:
    xml = JUnitXml.fromstring(render_junit(run_report()))
    _junit_shape(render_junit(run_report()))
    outcome = _outcomes(xml)
    assert outcome["prod-db"] == "Skipped"  # nobody's answer: unknown
    assert outcome["prod-network"] == "Failure"  # the lease holder's recorded result
    cases = {c.name: c for s in xml for c in s}
    assert "recorded by run run-x" in (cases["prod-network"].system_out or "")
    (skipped,) = cases["prod-db"].result
    assert "not checked" in (skipped.message or "")
    assert outcome["estate"] == "Failure"  # an unmanaged resource, no estate problem
    suite = next(iter(xml))
    assert suite.time == pytest.approx(42.0)
    props = {p.name: p.value for p in suite.properties()}
    assert props["iacdrift.runId"] == "run-20250601-abc"
    assert props["iacdrift.exitCode"] == str(int(run_report().exit_code()))


def test_junit_is_deterministic_whatever_the_order_of_results() -> None:
    report = check_report()
    shuffled = report.model_copy(update={"results": list(reversed(report.results))})
    assert render_junit(report) == render_junit(shuffled) == render_junit(check_report())


def test_junit_clean_check() -> None:
    report = CheckReport(generatedAt=NOW, results=_others()[3:])
    xml = JUnitXml.fromstring(render_junit(report))
    assert _outcomes(xml) == {"prod-app": "passed"}
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (1, 0, 0, 0)


# --- SARIF -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _errors(validator: Any, log: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]


@pytest.mark.parametrize("build", [check_report, run_report], ids=["check", "run"])
@pytest.mark.parametrize("with_dirs", [True, False], ids=["stack-dirs", "no-stack-dirs"])
@pytest.mark.parametrize("base_uri", [None, "file:///work/project"], ids=["relative", "base"])
def test_sarif_is_valid_against_the_sarif_2_1_0_schema(
    validator: Any, build: Any, with_dirs: bool, base_uri: str | None
) -> None:
    log = _sarif(build(), stack_dirs=STACK_DIRS if with_dirs else None, base_uri=base_uri)
    assert _errors(validator, log) == []
    assert log["version"] == "2.1.0"


def test_the_schema_rejects_what_it_should(validator: Any) -> None:
    """The validator really checks: a broken log fails."""
    log = _sarif(check_report(), stack_dirs=STACK_DIRS)
    broken = copy.deepcopy(log)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    del broken["runs"][0]["tool"]["driver"]["name"]
    assert len(_errors(validator, broken)) >= 2


def test_sarif_one_result_per_alerting_finding_with_rules_per_class() -> None:
    log = _sarif(check_report(), stack_dirs=STACK_DIRS)
    (run,) = log["runs"]
    results = run["results"]
    # Alerting: 1, 2 (prod-payments), 5, 6 (legacy-storage); 3 is noise, 4 never pages;
    # 7 (unmanaged) is held by no file: a notification, not a result.
    # Sorted by stack, resource and finding id.
    assert [r["properties"]["findingId"][-1] for r in results] == ["6", "5", "2", "1"]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [
        "SECRET_DELIVERY_DRIFT",
        "STATE_DRIFT",
        "UNAUTHORIZED_RUNTIME_DRIFT",
    ]
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert "iacdrift explain" in rule["help"]["text"]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        finding_id = result["properties"]["findingId"]
        assert result["fingerprints"] == {FINGERPRINT_KEY: finding_id}
        assert result["partialFingerprints"] == {FINGERPRINT_KEY: finding_id}
        assert set(result["properties"]) >= {"stack", "risk", "relationship", "recommendedAction"}
        assert f"iacdrift explain {finding_id}" in result["message"]["text"]
        assert result["properties"]["relationship"] in result["message"]["text"]


@pytest.mark.parametrize(
    ("risk", "level"),
    [
        (Risk.CRITICAL, "error"),
        (Risk.HIGH, "error"),
        (Risk.MEDIUM, "warning"),
        (Risk.LOW, "note"),
        (Risk.INFO, "note"),
    ],
)
def test_sarif_level_from_risk(risk: Risk, level: str) -> None:
    finding = _finding("drift-0000000000000000000f", "legacy-storage", "aws_s3_bucket.archive")
    result = _legacy().model_copy(update={"findings": [finding.model_copy(update={"risk": risk})]})
    log = _sarif(CheckReport(generatedAt=NOW, results=[result]))
    assert [r["level"] for r in log["runs"][0]["results"]] == [level]


def test_sarif_locations_are_the_blocks_in_the_real_stacks() -> None:
    log = _sarif(check_report(), stack_dirs=STACK_DIRS)
    where = {
        r["properties"]["resourceRef"]: r["locations"][0]["physicalLocation"]
        for r in log["runs"][0]["results"]
    }
    assert where["aws_s3_bucket.archive"] == {
        "artifactLocation": {"uri": "stacks/legacy-storage/main.tf"},
        "region": {"startLine": 22},
    }
    # In a module call: the module block's line.
    assert where['module.bucket["x"].aws_s3_bucket.this'] == {
        "artifactLocation": {"uri": "stacks/prod-payments/main.tf"},
        "region": {"startLine": 26},
    }
    # Not in the code any more: the stack's directory, no line.
    assert where["aws_iam_role.removed_from_code"] == {
        "artifactLocation": {"uri": "stacks/legacy-storage/"}
    }
    # GitHub refuses an upload with a result without a file.
    for result in log["runs"][0]["results"]:
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"]
        assert "://" not in location["physicalLocation"]["artifactLocation"]["uri"]
        (logical,) = location["logicalLocations"]
        assert logical["name"] == result["properties"]["resourceRef"]
        assert logical["kind"] == "resource"


def test_sarif_findings_no_file_holds_are_notifications() -> None:
    log = _sarif(check_report())  # no stack directories given
    (run,) = log["runs"]
    assert "aws_iam_role.removed_from_code" not in {
        r["properties"]["resourceRef"] for r in run["results"]
    }
    notes = run["invocations"][0]["toolExecutionNotifications"]
    homeless = [n for n in notes if n["descriptor"]["id"] == "iacdrift/finding-without-file"]
    assert sorted(n["properties"]["findingId"][-1] for n in homeless) == ["6", "7"]
    for note in homeless:
        assert note["locations"][0]["logicalLocations"][0]["kind"] == "resource"
    unmanaged = next(n for n in homeless if n["properties"]["findingId"].endswith("7"))
    assert unmanaged["level"] == "error"
    assert "aws_s3_bucket:shadow-exports" in unmanaged["message"]["text"]


def test_sarif_unchecked_stacks_and_estate_problems_are_error_notifications() -> None:
    log = _sarif(run_report(), stack_dirs=STACK_DIRS)
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 1
    assert invocation["startTimeUtc"] == "2025-06-01T12:00:00Z"
    assert invocation["endTimeUtc"] == "2025-06-01T12:00:42Z"
    unchecked = {
        n["properties"]["stack"]: n["properties"]["status"]
        for n in invocation["toolExecutionNotifications"]
        if n["descriptor"]["id"] == "iacdrift/stack-not-checked"
    }
    assert unchecked == {
        "prod-db": "SKIPPED",
        "prod-iam": "LOCKED",
        "scratch": "ERROR",
        "staging-app": "STALE",
    }
    assert all(
        n["level"] == "error"
        for n in invocation["toolExecutionNotifications"]
        if n["descriptor"]["id"] != "iacdrift/finding-without-file"
    )
    # The borrowed result's finding is a result like the run's own.
    refs = {r["properties"]["resourceRef"] for r in log["runs"][0]["results"]}
    assert "aws_security_group.web" in refs
    assert log["runs"][0]["automationDetails"] == {"id": "iacdrift/drift/run-20250601-abc"}
    descriptors = {d["id"] for d in log["runs"][0]["tool"]["driver"]["notifications"]}
    assert {n["descriptor"]["id"] for n in invocation["toolExecutionNotifications"]} <= descriptors


def test_sarif_base_uri_declares_the_project_root() -> None:
    log = _sarif(check_report(), stack_dirs=STACK_DIRS, base_uri="file:///work/project")
    (run,) = log["runs"]
    assert run["originalUriBaseIds"] == {"PROJECTROOT": {"uri": "file:///work/project/"}}
    for result in run["results"]:
        artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "PROJECTROOT"


def test_sarif_is_deterministic_and_quotes_uris() -> None:
    report = check_report()
    locations = {
        ("legacy-storage", "aws_s3_bucket.archive"): ResourceLocation("stacks/a b#c/main.tf", 3)
    }
    first = render_sarif(report, locations, tool_version="1.2.3")
    assert first == render_sarif(
        report.model_copy(update={"results": list(reversed(report.results))}),
        dict(reversed(list(locations.items()))),
        tool_version="1.2.3",
    )
    log = json.loads(first)
    (result,) = log["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "stacks/a%20b%23c/main.tf"
    )
    assert log["runs"][0]["tool"]["driver"]["version"] == "1.2.3"


def test_sarif_clean_check_has_no_results(validator: Any) -> None:
    log = _sarif(CheckReport(generatedAt=NOW, results=_others()[3:]))
    assert _errors(validator, log) == []
    (run,) = log["runs"]
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["invocations"][0]["exitCode"] == 0


# --- the step summary --------------------------------------------------------------

_MD = MarkdownIt("commonmark").enable("table")


def _tables(markdown: str) -> list[list[list[str]]]:
    """Each table's body rows as cell texts (from the tokens markdown-it makes)."""
    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    in_body = False
    for token in _MD.parse(markdown):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            in_body = False
        elif token.type == "tr_open" and in_body:
            row = []
        elif token.type == "inline" and row is not None:
            row.append("".join(child.content for child in token.children or []))
        elif token.type == "tr_close" and row is not None:
            tables[-1].append(row)
            row = None
    return tables


def test_step_summary_counts_findings_and_unchecked_stacks() -> None:
    text = render_step_summary(check_report())
    assert text.startswith("# iacdrift check\n")
    assert "**Not everything could be checked: drift unknown** (exit 1)" in text
    statuses, findings, drifted = _tables(text)
    assert "6 stacks, 5 alerting findings, 1 unmanaged resource." in text
    # Every DRIFTED stack is named, alerting or not.
    assert [row[0] for row in drifted] == sorted(row[0] for row in drifted)
    assert len(drifted) == 2
    assert statuses == [
        ["DRIFTED", "2"],
        ["ERROR", "1"],
        ["LOCKED", "1"],
        ["STALE", "1"],
        ["CLEAN", "1"],
    ]
    # Highest risk first; the unmanaged resource is in the table too.
    assert findings == [
        [
            "prod-payments",
            "aws_secretsmanager_secret_version.ledger_dsn",
            "SECRET_DELIVERY_DRIFT",
            "CRITICAL",
            "REFRESH",
            "iacdrift explain drift-00000000000000000002",
        ],
        [
            "prod-payments",
            'module.bucket["x"].aws_s3_bucket.this',
            "UNAUTHORIZED_RUNTIME_DRIFT",
            "HIGH",
            "REVERT",
            "iacdrift explain drift-00000000000000000001",
        ],
        [
            "unmanaged",
            "aws_s3_bucket:shadow-exports",
            "UNAUTHORIZED_RUNTIME_DRIFT",
            "HIGH",
            "REVERT",
            "iacdrift explain drift-00000000000000000007",
        ],
        [
            "legacy-storage",
            "aws_s3_bucket.archive",
            "UNAUTHORIZED_RUNTIME_DRIFT",
            "MEDIUM",
            "REVERT",
            "iacdrift explain drift-00000000000000000005",
        ],
        [
            "legacy-storage",
            "aws_iam_role.removed_from_code",
            "STATE_DRIFT",
            "LOW",
            "INVESTIGATE",
            "iacdrift explain drift-00000000000000000006",
        ],
    ]
    assert "## Not checked: drift unknown (3)" in text
    assert "- prod-iam: **LOCKED**" in text and "locked by ci@runner" in text
    assert "- scratch: **ERROR**" in text and "- staging-app: **STALE**" in text
    assert "## Estate problems" in text and "AccessDenied" in text
    assert "\x1b" not in text and "terraform plan failed: Error: <bad>" in text
    assert "policy version `sha256:0123456789ab`" in text


def test_step_summary_of_a_run_names_it_and_its_skipped_stacks() -> None:
    text = render_step_summary(run_report())
    assert text.startswith("# iacdrift run `run-20250601-abc`\n")
    statuses = _tables(text)[0]
    assert ["not checked (lease held elsewhere)", "1"] in statuses
    assert ["DRIFTED", "2"] in statuses  # prod-payments and prod-network (borrowed)
    assert "- prod-db: **not checked (lease held by `host:2:run-y`)**" in text


def test_step_summary_table_survives_hostile_values() -> None:
    finding = _finding("drift-0000000000000000000a", "prod-payments", 'aws_x.y["a|b`c"]')
    result = _payments().model_copy(update={"findings": [finding]})
    text = render_step_summary(CheckReport(generatedAt=NOW, results=[result]))
    rows = _tables(text)[1]
    assert rows[0][1] == 'aws_x.y["a|b`c"]' and len(rows[0]) == 6


def test_step_summary_is_capped_below_one_mebibyte() -> None:
    many = [
        _finding(f"drift-{i:020d}", "prod-payments", f'aws_s3_bucket.b["{"x" * 200}-{i}"]')
        for i in range(6000)
    ]
    result = _payments().model_copy(update={"findings": many})
    text = render_step_summary(CheckReport(generatedAt=NOW, results=[result]))
    assert len(text.encode("utf-8")) <= SUMMARY_LIMIT
    shown = len(_tables(text)[1])
    assert 0 < shown < 6000
    assert f"… and {6000 - shown} more alerting findings" in text
    assert text.rstrip().endswith("says why a finding got its class, risk and action.")


def test_step_summary_of_a_clean_check() -> None:
    text = render_step_summary(CheckReport(generatedAt=NOW, results=_others()[3:]))
    assert "**No drift** (exit 0)" in text and "No alerting findings." in text
    assert "Not checked" not in text


# --- the pull-request comment ------------------------------------------------------


def test_pr_comment_says_what_drifted_in_the_changed_stacks() -> None:
    text = render_pr_comment(check_report(), ["prod-payments", "prod-iam", "prod-app", "nope"])
    assert text.splitlines()[0] == PR_COMMENT_MARKER
    assert "Of the 4 stacks this pull request changes" in text
    assert "1 drifted, 1 could not be checked" in text
    assert "### prod-payments: DRIFTED (3 findings)" in text
    rows = _tables(text)[0]
    assert [row[0] for row in rows] == [
        "aws_secretsmanager_secret_version.ledger_dsn",
        'module.bucket["x"].aws_s3_bucket.this',
        "aws_s3_bucket_policy.read",  # drift that does not page is still drift
    ]
    assert rows[2][3] == "no" and rows[0][3] == "yes"
    assert rows[0][6].split("<br>") == [
        "/secret_string (sensitive)",
        "/secret_binary (sensitive)",
        "/version_stages/0 (sensitive)",
    ]
    assert "aws_iam_policy.read" not in text  # noise is not drift
    assert "### prod-iam: LOCKED" in text and "locked by ci@runner" in text
    assert "No drift: prod-app." in text
    assert "Not in this report (not registered, or not checked by it): nope." in text
    # Stacks the pull request does not change are not mentioned.
    assert "legacy-storage" not in text and "scratch" not in text


def test_pr_comment_is_stable_and_run_aware() -> None:
    report = run_report()
    one = render_pr_comment(report, ["prod-network", "prod-db", "prod-network"])
    assert one == render_pr_comment(report, ["prod-db", "prod-network"])
    assert "### prod-network: DRIFTED (1 finding)" in one
    assert "### prod-db: not checked (its lease was held by another run)" in one


def test_pr_comment_without_changed_stacks() -> None:
    text = render_pr_comment(check_report(), [])
    assert text.startswith(PR_COMMENT_MARKER + "\n")
    assert "changes no registered stack" in text


def test_pr_comment_is_capped() -> None:
    results = [
        _payments().model_copy(
            update={
                "stack": f"stack-{n:03d}",
                "findings": [
                    _finding(f"drift-{n:03d}{i:017d}", f"stack-{n:03d}", f"aws_s3_bucket.b{i}")
                    for i in range(60)
                ],
            }
        )
        for n in range(100)
    ]
    text = render_pr_comment(
        CheckReport(generatedAt=NOW, results=results), [r.stack for r in results]
    )
    assert len(text.encode("utf-8")) <= COMMENT_LIMIT
    assert "more stacks: see the step summary." in text
    assert "… and 10 more findings: see the step summary." in text
