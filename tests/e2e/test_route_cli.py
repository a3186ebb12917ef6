"""`iacdrift route REPORT.json` as a user runs it: a project directory with policies/,
a saved RunReport or CheckReport built from plain data, a loopback webhook
receiver. Asserts outcomes: the first route sends, the second sends nothing, a
dry run neither sends nor creates the log, a failing receiver exits 1 naming the
target and never the URL, bad input is one line and exit 1."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from iacdrift.cli.common import run_guarded
from iacdrift.cli.route_cmd import route_command

pytestmark = pytest.mark.e2e

TOKEN = "B0SECRET-xoxb-route-cli"
DETECTED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class Guarded(click.Group):
    """The real entry point's error handling (iacdrift.cli.main) around our command."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        code = run_guarded(lambda: super(Guarded, self).main(*args, **kwargs))
        sys.exit(int(code))


cli = Guarded()
cli.add_command(route_command)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]], dict[str, int]]]:
    received: list[dict[str, Any]] = []
    status = {"code": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if status["code"] < 300:
                received.append(body)
            self.send_response(status["code"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook/{TOKEN}", received, status
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


ROUTES = """\
apiVersion: iacdrift.dev/v1
kind: Route
id: controller-owned-quiet
match: {{driftClass: CONTROLLER_OWNED_DRIFT}}
notify: []
---
apiVersion: iacdrift.dev/v1
kind: Route
id: provider-noise-issue
match: {{driftClass: PROVIDER_READ_NOISE}}
notify:
  - {{type: jsonl, path: .iacdrift/routes/noise.jsonl}}
createIssue: true
---
apiVersion: iacdrift.dev/v1
kind: Route
id: prod-oncall
match: {{driftClass: UNAUTHORIZED_RUNTIME_DRIFT, environment: prod, minRisk: HIGH}}
notify:
  - {{type: webhook, url: "{url}"}}
createIncident: true
continueMatching: true
---
apiVersion: iacdrift.dev/v1
kind: Route
id: findings-log
notify:
  - {{type: jsonl, path: .iacdrift/routes/findings.jsonl}}
  - {{type: stdout}}
"""


def finding(
    finding_id: str,
    drift_class: str,
    risk: str,
    alert: bool,
    *,
    stack: str | None = "prod-network",
    resource: str = "aws_security_group.web",
    deadline: str | None = None,
) -> dict[str, Any]:
    return {
        "findingId": finding_id,
        "stack": stack,
        "detectedAt": DETECTED.isoformat(),
        "domain": "network",
        "resourceRef": resource,
        "resourceId": "sg-1",
        "resourceType": "aws_security_group",
        "environment": "prod" if stack else None,
        "owner": "platform-network",
        "sourceOfTruth": None,
        "stateBackend": None,
        "relationship": "desired==recorded!=actual",
        "driftClass": drift_class,
        "risk": risk,
        "alert": alert,
        "recommendedAction": "INCIDENT_AND_REVERT",
        "autoHealAllowed": False,
        "reason": "changed outside Terraform",
        "deadline": deadline,
    }


SSH = finding("f-ssh", "UNAUTHORIZED_RUNTIME_DRIFT", "CRITICAL", True)
NOISE = finding("f-noise", "PROVIDER_READ_NOISE", "INFO", False, resource="aws_iam_role_policy.app")
CONTROLLER = finding(
    "f-asg", "CONTROLLER_OWNED_DRIFT", "INFO", False, resource="aws_autoscaling_group.web"
)
SHADOW = finding(
    "f-shadow", "UNAUTHORIZED_RUNTIME_DRIFT", "HIGH", True, stack=None, resource="s3:shadow"
)


def run_report(
    findings: Sequence[dict[str, Any]], estate: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    checked = DETECTED.isoformat()
    return {
        "schemaVersion": 1,
        "kind": "RunReport",
        "runId": "run-1",
        "startedAt": checked,
        "finishedAt": checked,
        "registry": "registry",
        "selection": "all",
        "maxParallel": 2,
        "results": [
            {
                "stack": "prod-network",
                "status": "DRIFTED" if findings else "CLEAN",
                "checkedAt": checked,
                "findings": list(findings),
            }
        ],
        "estateFindings": list(estate),
    }


@pytest.fixture
def project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: tuple[str, list[dict[str, Any]], dict[str, int]],
) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "routes.yaml").write_text(ROUTES.format(url=receiver[0]))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=2))
    return path


def route(*args: str) -> Result:
    return CliRunner().invoke(cli, ["route", *args])


def jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_route_twice_second_sends_nothing(
    project: Path, receiver: tuple[str, list[dict[str, Any]], dict[str, int]]
) -> None:
    _, received, _ = receiver
    report = write(project / "run.json", run_report([SSH, NOISE, CONTROLLER], [SHADOW]))

    first = route(str(report))

    assert first.exit_code == 0, first.output
    # The unmanaged bucket has no environment, so only the catch-all route takes it.
    assert [body["finding"]["findingId"] for body in received] == ["f-ssh"]
    assert all(body["page"] and body["createIncident"] for body in received)
    findings_log = jsonl(project / ".iacdrift/routes/findings.jsonl")
    assert [line["finding"]["findingId"] for line in findings_log] == ["f-shadow", "f-ssh"]
    [noise] = jsonl(project / ".iacdrift/routes/noise.jsonl")
    assert (noise["page"], noise["priority"], noise["createIssue"]) == (False, "low", True)
    lines = first.output.splitlines()
    assert sum(line.startswith("sent ") for line in lines) == 6
    assert any(line.startswith("iacdrift [new] PAGE CRITICAL") for line in lines)
    assert lines[-1] == (
        "4 findings: 6 sent, 0 failed; 0 already notified, 1 silenced, 0 not alerting, "
        "0 unrouted; 0 marked resolved"
    )
    assert (project / ".iacdrift" / "notifications.sqlite").is_file()

    second = route(str(report))

    assert second.exit_code == 0, second.output
    assert len(received) == 1
    assert len(jsonl(project / ".iacdrift/routes/findings.jsonl")) == 2
    assert second.output.splitlines() == [
        "4 findings: 0 sent, 0 failed; 6 already notified, 1 silenced, 0 not alerting, "
        "0 unrouted; 0 marked resolved"
    ]
    assert TOKEN not in first.output + second.output


def test_check_report_and_resolution(
    project: Path, receiver: tuple[str, list[dict[str, Any]], dict[str, int]]
) -> None:
    _, received, _ = receiver
    check = {
        "schemaVersion": 1,
        "kind": "CheckReport",
        "generatedAt": DETECTED.isoformat(),
        "results": run_report([SSH])["results"],
    }
    assert route(str(write(project / "check.json", check))).exit_code == 0
    assert len(received) == 1
    clean = write(project / "clean.json", run_report([]))
    result = route(str(clean))
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("1 marked resolved")
    # The drift comes back: new again.
    again = route(str(project / "check.json"))
    assert again.exit_code == 0, again.output
    assert len(received) == 2 and received[1]["reason"] == "new"


def test_dry_run_sends_nothing_and_creates_no_log(
    project: Path, receiver: tuple[str, list[dict[str, Any]], dict[str, int]]
) -> None:
    _, received, _ = receiver
    report = write(project / "run.json", run_report([SSH]))
    result = route(str(report), "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:3] == [
        "would send prod-oncall#0:webhook [new] page CRITICAL prod-network: "
        "aws_security_group.web (finding f-ssh)",
        "would send findings-log#0:jsonl [new] page CRITICAL prod-network: "
        "aws_security_group.web (finding f-ssh)",
        "would send findings-log#1:stdout [new] page CRITICAL prod-network: "
        "aws_security_group.web (finding f-ssh)",
    ]
    assert lines[-1].endswith("nothing sent or logged")
    assert received == []
    assert not (project / ".iacdrift").exists()


def test_a_failing_receiver_exits_1_and_is_retried(
    project: Path, receiver: tuple[str, list[dict[str, Any]], dict[str, int]]
) -> None:
    _, received, status = receiver
    status["code"] = 503
    report = write(project / "run.json", run_report([SSH]))
    log = project / "state" / "n.sqlite"

    failed = route(str(report), "--log", str(log))

    assert failed.exit_code == 1, failed.output
    [line] = [line for line in failed.output.splitlines() if line.startswith("failed ")]
    assert line.startswith(
        "failed prod-oncall#0:webhook: webhook delivery of finding f-ssh failed: HTTP 503"
    )
    assert TOKEN not in failed.output and "127.0.0.1" not in failed.output
    assert log.is_file()

    status["code"] = 200
    retried = route(str(report), "--log", str(log))
    assert retried.exit_code == 0, retried.output
    assert [line for line in retried.output.splitlines() if line.startswith("sent ")] == [
        "sent prod-oncall#0:webhook [new] page CRITICAL prod-network: aws_security_group.web "
        "(finding f-ssh)"
    ]
    assert len(received) == 1


def test_deadline_passed_notifies_again(
    project: Path, receiver: tuple[str, list[dict[str, Any]], dict[str, int]]
) -> None:
    _, received, _ = receiver
    soon = datetime.now(UTC) + timedelta(seconds=1)
    emergency = finding(
        "f-break-glass", "UNAUTHORIZED_RUNTIME_DRIFT", "HIGH", True, deadline=soon.isoformat()
    )
    report = write(project / "run.json", run_report([emergency]))
    assert route(str(report)).exit_code == 0
    assert route(str(report)).output.startswith("1 finding: 0 sent")
    time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.05)
    late = route(str(report))
    assert late.exit_code == 0, late.output
    assert [body["reason"] for body in received] == ["new", "deadline-passed"]
    assert route(str(report)).output.startswith("1 finding: 0 sent")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "error: missing.json: not found; write it with `iacdrift run --format json`"),
        ("{not json", "error: missing.json: line 1: not JSON"),
        (
            '{"kind": "StatusReport"}',
            "error: missing.json: kind: expected RunReport or CheckReport",
        ),
        ('{"kind": "RunReport", "runId": 3}', "error: missing.json: runId: Input should be"),
    ],
)
def test_bad_report_is_one_line(project: Path, content: str | None, message: str) -> None:
    if content is not None:
        (project / "missing.json").write_text(content)
    result = route("missing.json")
    assert result.exit_code == 1
    assert result.output.startswith(message), result.output
    assert len(result.output.splitlines()) == 1


def test_help_teaches() -> None:
    result = CliRunner().invoke(route_command, ["--help"])
    assert result.exit_code == 0
    for words in ("REPORT.json", "--dry-run", "--log", "--policies", "Exit codes", "dedupe"):
        assert words.lower() in result.output.lower()
