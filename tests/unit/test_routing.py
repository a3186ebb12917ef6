"""Alert routing and dedupe as pure functions: routes + findings + log -> deliveries.

Table-driven: route matching, continueMatching, silencing routes, pages vs
low-priority issues (alert: false never pages), dedupe on a second run,
escalation, deadline-passed, resolution scope, determinism, payload shapes and
the promise that no URL ends up in any record.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iacdrift.core.routing import (
    LogKey,
    ResolutionScope,
    findings_of,
    logged,
    plan,
    plan_deliveries,
    resolved_findings,
    scope_of,
    target_name,
)
from iacdrift.loaders.policy import load_policies
from iacdrift.models.finding import (
    Action,
    CheckReport,
    Domain,
    DriftClass,
    Finding,
    Risk,
    StackResult,
    StackStatus,
)
from iacdrift.models.notification import (
    Delivery,
    DeliveryReason,
    LoggedNotification,
    Priority,
    WebhookPayload,
)
from iacdrift.models.policy import Route
from iacdrift.models.run import RunReport, RunSelection
from iacdrift.report.payloads import payload_for, stdout_line
from tests.factories import make_finding

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SECRET_HOOK = "https://hooks.example.com/services/T0SECRET/B0SECRET/xoxb-token-123"
SECRET_SLACK = "https://chat.example.com/hooks/slack-token-456"


def finding(
    finding_id: str = "f-1",
    *,
    stack: str | None = "prod-network",
    resource: str = "aws_security_group.web",
    drift_class: DriftClass = DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
    domain: Domain = Domain.NETWORK,
    environment: str | None = "prod",
    risk: Risk = Risk.HIGH,
    alert: bool = True,
    suppressed: bool = False,
    deadline: datetime | None = None,
    reason: str = "ingress opened to 0.0.0.0/0 outside Terraform",
) -> Finding:
    return make_finding(
        finding_id,
        stack=stack,
        detectedAt=NOW,
        domain=domain,
        resourceRef=resource,
        resourceId="sg-123",
        resourceType=resource.split(".")[0] if stack else resource.split(":")[0],
        environment=environment,
        owner="platform-network",
        sourceOfTruth="git://github.com/acme/infra-live//stacks/prod-network",
        stateBackend="s3://iacdrift-sandbox-tfstate/prod/network.tfstate",
        driftClass=drift_class,
        risk=risk,
        alert=alert,
        suppressed=suppressed,
        recommendedAction=Action.INCIDENT_AND_REVERT,
        reason=reason,
        deadline=deadline,
    )


def route(route_id: str, notify: Sequence[str] = ("webhook",), **fields: Any) -> Route:
    targets: list[dict[str, str]] = []
    for kind in notify:
        if kind == "webhook":
            targets.append({"type": "webhook", "url": SECRET_HOOK})
        elif kind == "slack":
            targets.append({"type": "slack", "url": SECRET_SLACK})
        elif kind == "jsonl":
            targets.append({"type": "jsonl", "path": f".iacdrift/routes/{route_id}.jsonl"})
        else:
            targets.append({"type": kind})
    return Route.model_validate({"kind": "Route", "id": route_id, "notify": targets, **fields})


def targets(deliveries: Sequence[Delivery]) -> list[str]:
    return [d.target for d in deliveries]


def log_of(
    deliveries: Sequence[Delivery], findings: Sequence[Finding], at: datetime = NOW
) -> dict[LogKey, LoggedNotification]:
    """The log after every delivery succeeded at ``at``."""
    by_id = {f.findingId: f for f in findings}
    entries = [logged(d, by_id[d.findingId], at) for d in deliveries]
    return {(e.findingId, e.target): e for e in entries}


# --- matching ----------------------------------------------------------------------

PROD_NET = {"driftClass": "UNAUTHORIZED_RUNTIME_DRIFT", "domain": "network", "environment": "prod"}


@pytest.mark.parametrize(
    ("routes", "subject", "expected"),
    [
        pytest.param(
            [route("net", match={**PROD_NET, "minRisk": "HIGH"})],
            finding(),
            ["net#0:webhook"],
            id="all fields match",
        ),
        pytest.param(
            [route("net", match={**PROD_NET, "minRisk": "CRITICAL"})],
            finding(risk=Risk.HIGH),
            [],
            id="risk below minRisk",
        ),
        pytest.param(
            [route("net", match={**PROD_NET, "minRisk": "MEDIUM"})],
            finding(risk=Risk.CRITICAL),
            ["net#0:webhook"],
            id="risk above minRisk",
        ),
        pytest.param(
            [route("iam", match={"domain": "iam"})], finding(domain=Domain.NETWORK), [], id="domain"
        ),
        pytest.param(
            [route("emergency", match={"driftClass": "EMERGENCY_DRIFT"})],
            finding(),
            [],
            id="drift class",
        ),
        pytest.param(
            [route("prods", match={"environment": "prod*"})],
            finding(environment="production"),
            ["prods#0:webhook"],
            id="environment glob",
        ),
        pytest.param(
            [route("prod", match={"environment": "prod"})],
            finding(stack=None, environment=None, resource="aws_s3_bucket:shadow"),
            [],
            id="environment pattern never matches an unmanaged finding",
        ),
        pytest.param(
            [route("first", ["webhook", "slack"]), route("second", ["stdout"])],
            finding(),
            ["first#0:webhook", "first#1:slack"],
            id="first match decides",
        ),
        pytest.param(
            [route("first", ["webhook"], continueMatching=True), route("second", ["stdout"])],
            finding(),
            ["first#0:webhook", "second#0:stdout"],
            id="continueMatching tries later routes",
        ),
        pytest.param(
            [
                route("first", ["webhook"], continueMatching=True),
                route("other", ["slack"], match={"domain": "iam"}),
                route("last", ["jsonl", "stdout"]),
            ],
            finding(),
            ["first#0:webhook", "last#0:jsonl", "last#1:stdout"],
            id="continueMatching skips routes that do not match",
        ),
        pytest.param(
            [route("quiet", [], match={"domain": "network"}), route("all", ["stdout"])],
            finding(),
            [],
            id="a route with no targets silences",
        ),
        pytest.param(
            [route("quiet", [], continueMatching=True), route("all", ["stdout"])],
            finding(),
            ["all#0:stdout"],
            id="a silencing route that continues lets later routes send",
        ),
    ],
)
def test_route_matching(routes: list[Route], subject: Finding, expected: list[str]) -> None:
    assert targets(plan_deliveries([subject], routes, {}, NOW)) == expected


def test_counts_of_silenced_unrouted_and_not_alerting() -> None:
    routes = [
        route("quiet", [], match={"driftClass": "CONTROLLER_OWNED_DRIFT"}),
        route("iam", ["webhook"], match={"domain": "iam"}),
    ]
    findings = [
        finding("controller", drift_class=DriftClass.CONTROLLER_OWNED_DRIFT, alert=False),
        finding("net", domain=Domain.NETWORK),
        finding("iam-quiet", domain=Domain.IAM, alert=False),
        finding("iam-page", domain=Domain.IAM),
    ]
    result = plan(findings, routes, {}, NOW)
    assert [d.findingId for d in result.deliveries] == ["iam-page"]
    assert (result.silenced, result.unrouted, result.not_alerting) == (1, 1, 1)


# --- page or issue ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "create_issue", "expected"),
    [
        pytest.param(finding(risk=Risk.HIGH), False, (True, True, Priority.HIGH), id="page high"),
        pytest.param(
            finding(risk=Risk.MEDIUM), False, (True, True, Priority.NORMAL), id="page normal"
        ),
        pytest.param(finding(alert=False), False, None, id="alert false never pages"),
        pytest.param(
            finding(alert=True, suppressed=True), False, None, id="suppressed never pages"
        ),
        pytest.param(
            finding(alert=False), True, (False, False, Priority.LOW), id="alert false: low issue"
        ),
        pytest.param(
            finding(suppressed=True, risk=Risk.CRITICAL),
            True,
            (False, False, Priority.LOW),
            id="suppressed: low issue, incident forced off",
        ),
    ],
)
def test_page_or_issue(
    subject: Finding, create_issue: bool, expected: tuple[bool, bool, Priority] | None
) -> None:
    routes = [route("r", ["webhook"], createIncident=True, createIssue=create_issue)]
    deliveries = plan_deliveries([subject], routes, {}, NOW)
    if expected is None:
        assert deliveries == []
        return
    [delivery] = deliveries
    assert (delivery.page, delivery.createIncident, delivery.priority) == expected
    assert delivery.createIssue is create_issue
    payload = payload_for(delivery, subject)
    assert (payload["page"], payload["createIncident"], payload["priority"]) == (
        expected[0],
        expected[1],
        expected[2].value,
    )


def test_example_routes_file() -> None:
    """policies/routes.yaml as shipped: noise is a low issue, prod IAM pages everywhere."""
    routes = load_policies(ROOT / "policies").routes
    noise = finding(
        "noise", drift_class=DriftClass.PROVIDER_READ_NOISE, risk=Risk.INFO, alert=False
    )
    controller = finding("ctl", drift_class=DriftClass.CONTROLLER_OWNED_DRIFT, alert=False)
    iam = finding("iam", domain=Domain.IAM, risk=Risk.CRITICAL, resource="aws_iam_role.app")
    tag = finding("tag", domain=Domain.STORAGE, risk=Risk.LOW, alert=False)
    result = plan([noise, controller, iam, tag], routes, {}, NOW)
    got = [(d.findingId, d.target, d.page, d.priority.value) for d in result.deliveries]
    assert got == [
        ("iam", "prod-iam-unauthorized#0:jsonl", True, "high"),
        ("iam", "prod-iam-unauthorized#1:jsonl", True, "high"),
        ("iam", "findings-log#0:jsonl", True, "high"),
        ("iam", "findings-log#1:stdout", True, "high"),
        ("noise", "provider-noise-issue#0:jsonl", False, "low"),
    ]
    incident = {d.target: d.createIncident for d in result.deliveries}
    assert incident["prod-iam-unauthorized#0:jsonl"] is True
    assert incident["findings-log#0:jsonl"] is False
    assert (result.silenced, result.not_alerting) == (1, 1)


# --- dedupe, escalation, deadlines -------------------------------------------------------


def test_second_run_sends_nothing() -> None:
    routes = [route("a", ["webhook", "slack"], continueMatching=True), route("b", ["stdout"])]
    findings = [finding("f-1"), finding("f-2", resource="aws_security_group.db")]
    first = plan(findings, routes, {}, NOW)
    assert len(first.deliveries) == 6
    assert {d.reason for d in first.deliveries} == {DeliveryReason.NEW}
    second = plan(findings, routes, log_of(first.deliveries, findings), NOW + timedelta(hours=1))
    assert second.deliveries == ()
    assert second.skipped_duplicates == 6


def test_a_failed_target_is_retried_alone() -> None:
    routes = [route("a", ["webhook", "slack"])]
    findings = [finding()]
    first = plan_deliveries(findings, routes, {}, NOW)
    succeeded = [d for d in first if d.target != "a#1:slack"]
    again = plan_deliveries(findings, routes, log_of(succeeded, findings), NOW)
    assert [(d.target, d.reason) for d in again] == [("a#1:slack", DeliveryReason.NEW)]


def entry(
    subject: Finding, target: str, *, risk: Risk, page: bool, sent_at: datetime = NOW
) -> dict[LogKey, LoggedNotification]:
    return {
        (subject.findingId, target): LoggedNotification(
            findingId=subject.findingId,
            target=target,
            routeId=target.split("#")[0],
            stack=subject.stack,
            risk=risk,
            page=page,
            reason=DeliveryReason.NEW,
            sentAt=sent_at,
            afterDeadline=False,
        )
    }


DEADLINE = NOW + timedelta(hours=4)


@pytest.mark.parametrize(
    ("subject", "logged_risk", "logged_page", "sent_at", "now", "expected"),
    [
        pytest.param(finding(risk=Risk.HIGH), Risk.HIGH, True, NOW, NOW, None, id="unchanged"),
        pytest.param(
            finding(risk=Risk.CRITICAL),
            Risk.HIGH,
            True,
            NOW,
            NOW,
            DeliveryReason.ESCALATED,
            id="risk rose",
        ),
        pytest.param(finding(risk=Risk.LOW), Risk.HIGH, True, NOW, NOW, None, id="risk fell"),
        pytest.param(
            finding(risk=Risk.LOW),
            Risk.LOW,
            False,
            NOW,
            NOW,
            DeliveryReason.ESCALATED,
            id="alert false -> true",
        ),
        pytest.param(
            finding(risk=Risk.LOW, alert=False), Risk.LOW, True, NOW, NOW, None, id="true -> false"
        ),
        pytest.param(
            finding(drift_class=DriftClass.EMERGENCY_DRIFT, deadline=DEADLINE),
            Risk.HIGH,
            True,
            NOW,
            DEADLINE - timedelta(seconds=1),
            None,
            id="deadline ahead",
        ),
        pytest.param(
            finding(drift_class=DriftClass.EMERGENCY_DRIFT, deadline=DEADLINE),
            Risk.HIGH,
            True,
            NOW,
            DEADLINE,
            DeliveryReason.DEADLINE_PASSED,
            id="deadline reached",
        ),
        pytest.param(
            finding(drift_class=DriftClass.EMERGENCY_DRIFT, deadline=DEADLINE),
            Risk.HIGH,
            True,
            DEADLINE + timedelta(minutes=5),
            DEADLINE + timedelta(hours=1),
            None,
            id="already sent after the deadline",
        ),
        pytest.param(
            finding(drift_class=DriftClass.EMERGENCY_DRIFT, deadline=DEADLINE, risk=Risk.CRITICAL),
            Risk.HIGH,
            True,
            NOW,
            DEADLINE + timedelta(hours=1),
            DeliveryReason.ESCALATED,
            id="escalation wins over the deadline",
        ),
    ],
)
def test_when_a_logged_finding_is_sent_again(
    subject: Finding,
    logged_risk: Risk,
    logged_page: bool,
    sent_at: datetime,
    now: datetime,
    expected: DeliveryReason | None,
) -> None:
    routes = [route("r", ["webhook"], createIssue=True)]
    log = entry(subject, "r#0:webhook", risk=logged_risk, page=logged_page, sent_at=sent_at)
    deliveries = plan_deliveries([subject], routes, log, now)
    assert [d.reason for d in deliveries] == ([expected] if expected else [])


def test_deadline_passed_is_sent_once() -> None:
    routes = [route("r", ["slack"])]
    emergency = finding(drift_class=DriftClass.EMERGENCY_DRIFT, deadline=DEADLINE)
    [first] = plan_deliveries([emergency], routes, {}, NOW)
    assert first.reason is DeliveryReason.NEW
    log = log_of([first], [emergency], NOW)
    late = DEADLINE + timedelta(minutes=1)
    [second] = plan_deliveries([emergency], routes, log, late)
    assert second.reason is DeliveryReason.DEADLINE_PASSED
    log = log_of([second], [emergency], late)
    assert next(iter(log.values())).afterDeadline is True
    assert plan_deliveries([emergency], routes, log, late + timedelta(days=1)) == []


def test_new_finding_past_its_deadline_is_new() -> None:
    late = finding(deadline=NOW - timedelta(days=1))
    [delivery] = plan_deliveries([late], [route("r")], {}, NOW)
    assert delivery.reason is DeliveryReason.NEW
    assert logged(delivery, late, NOW).afterDeadline is True


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_deliveries([finding()], [route("r")], {}, NOW.replace(tzinfo=None))


# --- resolution --------------------------------------------------------------------


def stack_result(stack: str, status: StackStatus, *found: Finding) -> StackResult:
    return StackResult(stack=stack, status=status, checkedAt=NOW, findings=list(found))


def run_report(
    selection: RunSelection,
    results: list[StackResult],
    estate: Sequence[Finding] = (),
    problems: Sequence[str] = (),
) -> RunReport:
    return RunReport(
        runId="run-1",
        startedAt=NOW,
        finishedAt=NOW,
        registry="registry",
        selection=selection,
        maxParallel=2,
        results=results,
        estateFindings=list(estate),
        estateProblems=list(problems),
    )


SHADOW = finding("shadow", stack=None, environment=None, resource="aws_s3_bucket:shadow")


@pytest.mark.parametrize(
    ("report", "stacks", "estate"),
    [
        pytest.param(
            run_report(
                RunSelection.ALL,
                [
                    stack_result("a", StackStatus.CLEAN),
                    stack_result("b", StackStatus.DRIFTED),
                    stack_result("c", StackStatus.ERROR),
                    stack_result("d", StackStatus.LOCKED),
                ],
            ),
            {"a", "b"},
            True,
            id="full run: answered stacks and the estate",
        ),
        pytest.param(
            run_report(RunSelection.ALL, [stack_result("a", StackStatus.CLEAN)], problems=["x"]),
            {"a"},
            False,
            id="estate problems: the estate is unknown",
        ),
        pytest.param(
            run_report(RunSelection.DUE, [stack_result("a", StackStatus.CLEAN)]),
            {"a"},
            False,
            id="due run: only what it checked",
        ),
        pytest.param(
            CheckReport(generatedAt=NOW, results=[stack_result("a", StackStatus.DRIFTED)]),
            {"a"},
            False,
            id="check report",
        ),
    ],
)
def test_scope_of(report: RunReport | CheckReport, stacks: set[str], estate: bool) -> None:
    assert scope_of(report) == ResolutionScope(stacks=frozenset(stacks), estate=estate)


def test_resolved_then_reappears_is_new() -> None:
    routes = [route("r", ["webhook"])]
    kept = finding("kept", stack="a")
    gone = finding("gone", stack="a", resource="aws_security_group.old")
    unchecked = finding("unchecked", stack="c")
    first = [kept, gone, unchecked, SHADOW]
    log = log_of(plan_deliveries(first, routes, {}, NOW), first)

    report = run_report(
        RunSelection.ALL,
        [stack_result("a", StackStatus.DRIFTED, kept), stack_result("c", StackStatus.ERROR)],
    )
    now_present = findings_of(report)
    assert resolved_findings(log, now_present, scope_of(report)) == ["gone", "shadow"]
    due = run_report(RunSelection.DUE, [stack_result("a", StackStatus.DRIFTED, kept)])
    assert resolved_findings(log, findings_of(due), scope_of(due)) == ["gone"]

    # The store stops loading resolved entries; the finding that comes back is new.
    open_log = {key: e for key, e in log.items() if e.findingId not in {"gone", "shadow"}}
    again = plan([kept, gone, unchecked, SHADOW], routes, open_log, NOW + timedelta(days=1))
    assert [(d.findingId, d.reason) for d in again.deliveries] == [
        ("shadow", DeliveryReason.NEW),
        ("gone", DeliveryReason.NEW),
    ]
    assert again.skipped_duplicates == 2


# --- determinism and payloads ---------------------------------------------------------


def many_findings() -> list[Finding]:
    return [
        finding("z", stack="b", resource="aws_security_group.a"),
        finding("y", stack="a", resource="aws_security_group.b", risk=Risk.CRITICAL),
        finding("x", stack="a", resource="aws_security_group.a", alert=False),
        finding("w", stack="a", resource="aws_security_group.a"),
        SHADOW,
    ]


def test_same_inputs_same_deliveries_in_order() -> None:
    routes = [
        route("a", ["webhook", "slack"], continueMatching=True, createIssue=True),
        route("b", ["jsonl", "stdout"]),
    ]
    reference = plan_deliveries(many_findings(), routes, {}, NOW)
    order = [(d.stack, d.resourceRef, d.findingId, d.target) for d in reference]
    assert order[:4] == [
        (None, "aws_s3_bucket:shadow", "shadow", "a#0:webhook"),
        (None, "aws_s3_bucket:shadow", "shadow", "a#1:slack"),
        (None, "aws_s3_bucket:shadow", "shadow", "b#0:jsonl"),
        (None, "aws_s3_bucket:shadow", "shadow", "b#1:stdout"),
    ]
    assert [o[2] for o in order[4:]] == ["w"] * 4 + ["x"] * 2 + ["y"] * 4 + ["z"] * 4
    shuffled = many_findings()
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        again = plan_deliveries(shuffled + shuffled[:2], routes, {}, NOW)
        assert again == reference
        by_id = {f.findingId: f for f in shuffled}
        assert [json.dumps(payload_for(d, by_id[d.findingId])) for d in again] == [
            json.dumps(payload_for(d, by_id[d.findingId])) for d in reference
        ]


def test_webhook_payload() -> None:
    subject = finding(deadline=DEADLINE)
    [delivery] = plan_deliveries([subject], [route("r", ["webhook"], createIncident=True)], {}, NOW)
    payload = payload_for(delivery, subject)
    parsed = WebhookPayload.model_validate(payload)
    assert parsed.kind == "iacdrift.finding"
    assert parsed.finding == subject
    assert (payload["reason"], payload["routeId"], payload["target"]) == ("new", "r", "r#0:webhook")
    assert payload["createIncident"] is True


def test_slack_payload_is_one_headline_and_link_free() -> None:
    subject = finding(reason="opened <http://evil.example|click> & more")
    [delivery] = plan_deliveries([subject], [route("r", ["slack"])], {}, NOW)
    payload = payload_for(delivery, subject)
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == (
        "iacdrift: PAGE HIGH UNAUTHORIZED_RUNTIME_DRIFT in prod-network: "
        "aws_security_group.web; action INCIDENT_AND_REVERT"
    )
    texts = [block["text"] for block in payload["blocks"] if "text" in block]
    texts += [element for block in payload["blocks"] for element in block.get("elements", [])]
    assert all(text["type"] == "mrkdwn" and text["verbatim"] is True for text in texts)
    assert texts[1]["text"] == "opened &lt;http://evil.example|click&gt; &amp; more"
    assert "<" not in json.dumps(payload)


def test_payload_refuses_the_wrong_finding() -> None:
    [delivery] = plan_deliveries([finding("a")], [route("r")], {}, NOW)
    with pytest.raises(ValueError, match="r#0:webhook"):
        payload_for(delivery, finding("b"))


def test_target_names() -> None:
    r = route("prod-iam", ["webhook", "slack", "jsonl", "stdout"])
    assert [target_name(r, i) for i in range(4)] == [
        "prod-iam#0:webhook",
        "prod-iam#1:slack",
        "prod-iam#2:jsonl",
        "prod-iam#3:stdout",
    ]


def test_no_url_in_any_record() -> None:
    routes = [route("a", ["webhook", "slack", "jsonl", "stdout"], createIssue=True)]
    findings = many_findings()
    result = plan(findings, routes, {}, NOW)
    by_id: Mapping[str, Finding] = {f.findingId: f for f in findings}
    records: list[str] = []
    for delivery in result.deliveries:
        subject = by_id[delivery.findingId]
        records.append(delivery.model_dump_json())
        records.append(json.dumps(payload_for(delivery, subject)))
        records.append(logged(delivery, subject, NOW).model_dump_json())
        records.append(stdout_line(delivery, subject))
    assert len(records) == 4 * 4 * 5
    for record in records:
        for secret in ("hooks.example.com", "T0SECRET", "xoxb-token", "slack-token", "https:"):
            assert secret not in record
