"""Sending for real: a loopback HTTP receiver (http.server on a free port) takes webhook
and Slack payloads; a refused port, a 500, a redirect and a slow receiver fail
without stopping the others and are retried on the next run; JSONL lines land in
the file; the notification log is a real SQLite file in a temp dir."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from iacdrift.flows.notify import route_findings, route_report
from iacdrift.models.finding import (
    Action,
    Finding,
    Risk,
    StackResult,
    StackStatus,
)
from iacdrift.models.notification import DeliveryReason, WebhookPayload
from iacdrift.models.policy import PolicySet, PolicySource, Route
from iacdrift.models.run import RunReport, RunSelection
from iacdrift.store.notifications import (
    SCHEMA_VERSION,
    NotificationLog,
    NotificationLogError,
    default_log_path,
)
from tests.factories import make_finding

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TOKEN = "T0SECRET-B0SECRET-xoxb-1234"


@dataclass
class Received:
    path: str
    content_type: str
    body: dict[str, Any]


@dataclass
class Receiver:
    """A loopback HTTP receiver; ``status`` by path (default 200), ``delay`` seconds."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, prefix: str) -> list[dict[str, Any]]:
        return [r.body for r in self.received if r.path.startswith(prefix)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            time.sleep(state.delay.get(self.path, 0.0))
            code = state.status.get(self.path, 200)
            if code < 300:  # what the receiver accepted
                state.received.append(
                    Received(self.path, self.headers.get("Content-Type", ""), body)
                )
            self.send_response(code)
            if 300 <= code < 400:
                self.send_header("Location", "/elsewhere")
            answer = b"ok" if code < 300 else f"no_service {self.path}".encode()
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def refused_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def finding(
    finding_id: str = "f-1",
    *,
    stack: str | None = "prod-network",
    resource: str = "aws_security_group.web",
    risk: Risk = Risk.HIGH,
    alert: bool = True,
) -> Finding:
    return make_finding(
        finding_id,
        stack=stack,
        detectedAt=NOW,
        resourceRef=resource,
        resourceId="sg-123",
        environment="prod" if stack else None,
        owner="platform-network",
        risk=risk,
        alert=alert,
        recommendedAction=Action.INCIDENT_AND_REVERT,
        reason="ingress opened to the world outside Terraform",
    )


def policies(*routes: dict[str, Any]) -> PolicySet:
    sources = tuple(
        PolicySource(
            name="routes.yaml",
            file="policies/routes.yaml",
            position=i + 1,
            document=Route.model_validate({"kind": "Route", **doc}),
            where=f"policies/routes.yaml (document {i + 1})",
        )
        for i, doc in enumerate(routes)
    )
    return PolicySet(version="sha256:test", sources=sources)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[NotificationLog]:
    with NotificationLog(default_log_path(tmp_path)) as opened:
        yield opened


def every_target(receiver: Receiver) -> PolicySet:
    return policies(
        {
            "id": "oncall",
            "notify": [
                {"type": "webhook", "url": receiver.url(f"/hook/{TOKEN}")},
                {"type": "slack", "url": receiver.url(f"/slack/{TOKEN}")},
                {"type": "jsonl", "path": "out/findings.jsonl"},
                {"type": "stdout"},
            ],
            "createIncident": True,
        }
    )


def test_every_target_type_then_dedupe(
    receiver: Receiver,
    log: NotificationLog,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    routes = every_target(receiver)
    found = [finding("f-1"), finding("f-2", resource="aws_security_group.db", risk=Risk.MEDIUM)]

    report = route_findings(found, routes, log, NOW, tmp_path)

    assert report.exit_code() == 0
    assert [(o.delivery.findingId, o.delivery.target, o.ok) for o in report.outcomes] == [
        ("f-2", "oncall#0:webhook", True),
        ("f-2", "oncall#1:slack", True),
        ("f-2", "oncall#2:jsonl", True),
        ("f-2", "oncall#3:stdout", True),
        ("f-1", "oncall#0:webhook", True),
        ("f-1", "oncall#1:slack", True),
        ("f-1", "oncall#2:jsonl", True),
        ("f-1", "oncall#3:stdout", True),
    ]
    hooks = [WebhookPayload.model_validate(body) for body in receiver.bodies("/hook/")]
    assert [(p.finding.findingId, p.page, p.createIncident, p.priority.value) for p in hooks] == [
        ("f-2", True, True, "normal"),
        ("f-1", True, True, "high"),
    ]
    assert {r.content_type for r in receiver.received} == {"application/json"}
    slack = receiver.bodies("/slack/")
    assert [body["text"].split(" in ")[0] for body in slack] == [
        "iacdrift: PAGE MEDIUM UNAUTHORIZED_RUNTIME_DRIFT",
        "iacdrift: PAGE HIGH UNAUTHORIZED_RUNTIME_DRIFT",
    ]
    assert all(len(body["blocks"]) == 3 for body in slack)
    lines = (tmp_path / "out" / "findings.jsonl").read_text().splitlines()
    assert [WebhookPayload.model_validate_json(line).finding.findingId for line in lines] == [
        "f-2",
        "f-1",
    ]
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2
    assert printed[1].startswith("iacdrift [new] PAGE HIGH UNAUTHORIZED_RUNTIME_DRIFT")

    # Second run: the drift persists, nothing is sent anywhere.
    again = route_findings(found, routes, log, NOW + timedelta(hours=1), tmp_path)
    assert (again.deliveries, again.outcomes, again.skippedDuplicates) == ([], [], 8)
    assert len(receiver.received) == 4
    assert len((tmp_path / "out" / "findings.jsonl").read_text().splitlines()) == 2
    assert capsys.readouterr().out == ""

    # Risk rises: every target hears about it once more, as an escalation.
    worse = [finding("f-1", risk=Risk.CRITICAL), found[1]]
    escalated = route_findings(worse, routes, log, NOW + timedelta(hours=2), tmp_path)
    assert {(o.delivery.findingId, o.delivery.reason, o.ok) for o in escalated.outcomes} == {
        ("f-1", DeliveryReason.ESCALATED, True)
    }
    assert len(escalated.outcomes) == 4
    assert WebhookPayload.model_validate(receiver.bodies("/hook/")[-1]).reason.value == "escalated"


def test_failures_do_not_stop_others_and_are_retried(
    receiver: Receiver, log: NotificationLog, tmp_path: Path
) -> None:
    dead = refused_port()
    routes = policies(
        {
            "id": "mixed",
            "notify": [
                {"type": "webhook", "url": f"http://127.0.0.1:{dead}/hook/{TOKEN}"},
                {"type": "webhook", "url": receiver.url(f"/down/{TOKEN}")},
                {"type": "slack", "url": receiver.url(f"/moved/{TOKEN}")},
                {"type": "webhook", "url": receiver.url(f"/slow/{TOKEN}")},
                {"type": "webhook", "url": receiver.url(f"/fine/{TOKEN}")},
            ],
        }
    )
    receiver.status[f"/down/{TOKEN}"] = 500
    receiver.status[f"/moved/{TOKEN}"] = 302
    receiver.delay[f"/slow/{TOKEN}"] = 1.5
    found = [finding()]

    report = route_findings(found, routes, log, NOW, tmp_path, timeout=0.5)

    assert report.exit_code() == 1
    results = {o.delivery.target: (o.ok, o.error) for o in report.outcomes}
    assert results["mixed#4:webhook"] == (True, None)
    errors = {target: error for target, (ok, error) in results.items() if not ok}
    assert sorted(errors) == [
        "mixed#0:webhook",
        "mixed#1:webhook",
        "mixed#2:slack",
        "mixed#3:webhook",
    ]
    assert "connection refused" in str(errors["mixed#0:webhook"])
    assert "HTTP 500" in str(errors["mixed#1:webhook"])
    assert "HTTP 302" in str(errors["mixed#2:slack"])
    assert "no answer within 0.5s" in str(errors["mixed#3:webhook"])
    for target, error in errors.items():
        assert error is not None
        assert error.startswith(f"{target}: ")
        assert "\n" not in error
        assert TOKEN not in error and "127.0.0.1" not in error and str(dead) not in error
    assert len(receiver.bodies("/fine/")) == 1

    # Next run: only the failed targets are tried again; the 500 has recovered.
    receiver.status.pop(f"/down/{TOKEN}")
    receiver.delay.pop(f"/slow/{TOKEN}")
    retry = route_findings(found, routes, log, NOW + timedelta(hours=1), tmp_path, timeout=2)
    assert sorted((o.delivery.target, o.delivery.reason.value, o.ok) for o in retry.outcomes) == [
        ("mixed#0:webhook", "new", False),
        ("mixed#1:webhook", "new", True),
        ("mixed#2:slack", "new", False),
        ("mixed#3:webhook", "new", True),
    ]
    assert retry.skippedDuplicates == 1
    assert len(receiver.bodies("/fine/")) == 1
    assert len(receiver.bodies("/down/")) == 1

    third = route_findings(found, routes, log, NOW + timedelta(hours=2), tmp_path, timeout=2)
    assert sorted(o.delivery.target for o in third.outcomes) == [
        "mixed#0:webhook",
        "mixed#2:slack",
    ]


def test_unwritable_jsonl_is_a_failed_outcome(log: NotificationLog, tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where a directory should be")
    routes = policies(
        {
            "id": "files",
            "notify": [{"type": "jsonl", "path": "blocked/x.jsonl"}, {"type": "stdout"}],
        }
    )
    report = route_findings([finding()], routes, log, NOW, tmp_path)
    [bad, good] = report.outcomes
    assert (bad.ok, good.ok) == (False, True)
    assert str(bad.error).startswith("files#0:jsonl: jsonl delivery of finding f-1 failed:")


def test_alert_false_is_filed_as_an_issue_only(
    receiver: Receiver, log: NotificationLog, tmp_path: Path
) -> None:
    routes = policies(
        {
            "id": "noise-issue",
            "match": {"driftClass": "UNAUTHORIZED_RUNTIME_DRIFT", "minRisk": "INFO"},
            "notify": [{"type": "webhook", "url": receiver.url("/issues")}],
            "createIssue": True,
            "createIncident": True,
            "continueMatching": True,
        },
        {"id": "pager", "notify": [{"type": "webhook", "url": receiver.url("/pager")}]},
    )
    quiet = finding("quiet", risk=Risk.LOW, alert=False)
    report = route_findings([quiet], routes, log, NOW, tmp_path)
    assert [o.delivery.target for o in report.outcomes] == ["noise-issue#0:webhook"]
    [body] = receiver.bodies("/issues")
    assert (body["page"], body["priority"], body["createIncident"], body["createIssue"]) == (
        False,
        "low",
        False,
        True,
    )
    assert receiver.bodies("/pager") == []

    # It starts alerting: the issue route escalates and the pager hears of it first time.
    loud = finding("quiet", risk=Risk.LOW, alert=True)
    later = route_findings([loud], routes, log, NOW + timedelta(hours=1), tmp_path)
    assert [(o.delivery.target, o.delivery.reason.value) for o in later.outcomes] == [
        ("noise-issue#0:webhook", "escalated"),
        ("pager#0:webhook", "new"),
    ]
    assert receiver.bodies("/pager")[0]["page"] is True


def run_report(selection: RunSelection, *results: StackResult) -> RunReport:
    return RunReport(
        runId="r",
        startedAt=NOW,
        finishedAt=NOW,
        registry="registry",
        selection=selection,
        maxParallel=1,
        results=list(results),
    )


def test_resolved_then_reappears_through_the_store(
    receiver: Receiver, log: NotificationLog, tmp_path: Path
) -> None:
    routes = policies({"id": "hook", "notify": [{"type": "webhook", "url": receiver.url("/h")}]})
    drift = finding("f-1", stack="s")
    drifted = StackResult(stack="s", status=StackStatus.DRIFTED, checkedAt=NOW, findings=[drift])
    clean = StackResult(stack="s", status=StackStatus.CLEAN, checkedAt=NOW)
    error = StackResult(stack="s", status=StackStatus.ERROR, checkedAt=NOW, reason="boom")

    first = route_report(run_report(RunSelection.DUE, drifted), routes, log, NOW, tmp_path)
    assert [o.ok for o in first.outcomes] == [True]
    # An ERROR check tells nothing: the finding stays logged.
    unknown = route_report(run_report(RunSelection.DUE, error), routes, log, NOW, tmp_path)
    assert unknown.resolved == []
    assert set(log.load()) == {("f-1", "hook#0:webhook")}
    # A clean check resolves it.
    gone = route_report(run_report(RunSelection.DUE, clean), routes, log, NOW, tmp_path)
    assert gone.resolved == ["f-1"]
    assert log.load() == {}
    assert log.resolved_count() == 1
    # It comes back: new again, and the log row is reopened.
    back = route_report(run_report(RunSelection.DUE, drifted), routes, log, NOW, tmp_path)
    assert [(o.delivery.reason.value, o.ok) for o in back.outcomes] == [("new", True)]
    assert log.resolved_count() == 0
    assert len(receiver.bodies("/h")) == 2


def test_dry_run_sends_and_logs_nothing(
    receiver: Receiver, log: NotificationLog, tmp_path: Path
) -> None:
    routes = every_target(receiver)
    report = route_findings([finding()], routes, log, NOW, tmp_path, send=False)
    assert report.dryRun is True
    assert len(report.deliveries) == 4
    assert report.outcomes == []
    assert receiver.received == []
    assert not (tmp_path / "out").exists()
    assert log.load() == {}


def test_log_persists_and_never_holds_a_url(receiver: Receiver, tmp_path: Path) -> None:
    path = tmp_path / "state" / "notifications.sqlite"
    routes = every_target(receiver)
    with NotificationLog(path) as first:
        assert first.schema_version() == SCHEMA_VERSION
        route_findings([finding()], routes, first, NOW, tmp_path)
    with NotificationLog(path) as reopened:
        entries = reopened.load(["f-1", "other"])
        assert sorted(target for _, target in entries) == [
            "oncall#0:webhook",
            "oncall#1:slack",
            "oncall#2:jsonl",
            "oncall#3:stdout",
        ]
        assert {e.sentAt for e in entries.values()} == {NOW}
        again = route_findings([finding()], routes, reopened, NOW, tmp_path)
        assert again.deliveries == []
    for file in path.parent.iterdir():
        content = file.read_bytes()
        assert TOKEN.encode() not in content and b"127.0.0.1" not in content, file.name


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(NotificationLogError, match="not an iacdrift notification log"):
        NotificationLog(path)


def test_naive_times_are_refused(log: NotificationLog, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        log.mark_resolved(["f-1"], NOW.replace(tzinfo=None))
