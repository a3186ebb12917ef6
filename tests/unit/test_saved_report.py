"""Saved reports: the one reader (`route`, `explain --report`) and the --out files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from iacdrift.errors import FindingNotFoundError, InputError
from iacdrift.flows.explain import find_finding
from iacdrift.flows.saved_report import write_check_files, write_run_files
from iacdrift.loaders.reports import read_report
from iacdrift.models.finding import Finding, StackResult, StackStatus
from iacdrift.models.run import RunReport, RunSelection
from iacdrift.report.common import render_json
from tests.factories import make_finding

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def finding(finding_id: str) -> Finding:
    return make_finding(finding_id, stack="s1", detectedAt=NOW, owner="team")


def run_report(*findings: Finding) -> RunReport:
    result = StackResult(
        stack="s1", status=StackStatus.DRIFTED, checkedAt=NOW, findings=list(findings)
    )
    return RunReport(
        runId="r1",
        startedAt=NOW,
        finishedAt=NOW,
        registry="registry",
        selection=RunSelection.ALL,
        maxParallel=2,
        results=[result],
    )


def test_reads_back_what_out_wrote(tmp_path: Path) -> None:
    report = run_report(finding("drift-0123456789abcdef0123"))
    written = write_run_files(tmp_path / "out", report)
    assert [path.name for path in written] == ["run.json", "run.md", "run.txt"]
    assert written[0].read_text(encoding="utf-8") == render_json(report)
    assert "aws_security_group.web" in written[2].read_text(encoding="utf-8")
    assert read_report(written[0]) == report
    check = report.as_check_report()
    json_file, _ = write_check_files(tmp_path / "check", check)
    assert read_report(json_file) == check


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"kind": "StatusReport"}, "report.json: kind: expected RunReport or CheckReport, got"),
        ({"results": []}, "report.json: kind: expected RunReport or CheckReport, got None"),
        ([1, 2], "report.json: kind: expected RunReport or CheckReport, got None"),
        ({"kind": "CheckReport"}, "report.json: generatedAt: Field required (and 1 more)"),
    ],
)
def test_anything_else_is_one_line_naming_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: object, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_report(tmp_path / "report.json")
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_explain_reads_the_same_reports(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(render_json(run_report(finding("drift-0123456789abcdef0123"))))
    assert find_finding("drift-0123456789ab", report_file=path).findingId.endswith("0123")
    with pytest.raises(FindingNotFoundError, match="no such finding"):
        find_finding("drift-0123", report_file=path)  # too short to be a prefix
    path.write_text(json.dumps({"kind": "Elsewhere"}), encoding="utf-8")
    with pytest.raises(InputError, match="kind: expected RunReport or CheckReport"):
        find_finding("drift-0123456789abcdef0123", report_file=path)


def test_a_check_report_kind_is_not_guessed(tmp_path: Path) -> None:
    # explain used to read anything that was not a RunReport as a CheckReport.
    body = json.loads(render_json(run_report().as_check_report()))
    del body["kind"]
    path = tmp_path / "check.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    with pytest.raises(InputError, match="kind: expected"):
        read_report(path)
