"""What a delivery sends: the stdout line, the Slack-compatible body and our webhook
body (also the jsonl line). Data in, data out.

:mod:`iacdrift.core.routing` decides which deliveries to make;
:mod:`iacdrift.flows.notify` sends these bodies. A payload names its target as
``<route id>#<index>:<type>``, never by URL.
"""

from __future__ import annotations

from typing import Any

from iacdrift.models.finding import Finding
from iacdrift.models.notification import Delivery, WebhookPayload
from iacdrift.models.policy import NotifyType
from iacdrift.primitives.moments import as_utc

SLACK_TEXT_LIMIT = 3000  # Slack refuses a section text longer than this


def headline(delivery: Delivery, finding: Finding) -> str:
    """One line: page or issue, risk, class, stack, resource and recommended action."""
    kind = "PAGE" if delivery.page else f"issue ({delivery.priority.value})"
    where = finding.stack or "unmanaged"
    return (
        f"{kind} {finding.risk.value} {finding.driftClass.value} in {where}: "
        f"{finding.resourceRef}; action {finding.recommendedAction.value}"
    )


def stdout_line(delivery: Delivery, finding: Finding) -> str:
    """What a stdout target prints for one delivery."""
    return (
        f"iacdrift [{delivery.reason.value}] {headline(delivery, finding)} "
        f"(finding {finding.findingId}, route {delivery.routeId})"
    )


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats <...> as links and mentions; &, < and > must be escaped.
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped[:SLACK_TEXT_LIMIT]


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: no automatic links for URLs, channels or users in our text.
    return {"type": "mrkdwn", "text": _slack_escape(text), "verbatim": True}


def slack_payload(delivery: Delivery, finding: Finding) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook body: a headline, the reason, the context."""
    title = headline(delivery, finding)
    context = [
        f"{delivery.reason.value}",
        f"finding {finding.findingId}",
        f"route {delivery.routeId}",
        f"owner {finding.owner or 'unknown'}",
    ]
    if delivery.createIncident:
        context.append("incident")
    if delivery.createIssue:
        context.append("issue")
    if finding.deadline is not None:
        context.append(f"reconcile by {as_utc(finding.deadline).isoformat()}")
    return {
        "text": _slack_escape(f"iacdrift: {title}"),
        "blocks": [
            {"type": "section", "text": _mrkdwn(title)},
            {"type": "section", "text": _mrkdwn(finding.reason)},
            {"type": "context", "elements": [_mrkdwn(" | ".join(context))]},
        ],
    }


def webhook_payload(delivery: Delivery, finding: Finding) -> WebhookPayload:
    return WebhookPayload(
        reason=delivery.reason,
        page=delivery.page,
        createIncident=delivery.createIncident,
        createIssue=delivery.createIssue,
        priority=delivery.priority,
        routeId=delivery.routeId,
        target=delivery.target,
        finding=finding,
    )


def payload_for(delivery: Delivery, finding: Finding) -> dict[str, Any]:
    """The JSON body for the delivery's target type (Slack's for slack, ours otherwise)."""
    if delivery.findingId != finding.findingId:
        raise ValueError(
            f"{delivery.target}: delivery is for finding {delivery.findingId}, "
            f"not {finding.findingId}"
        )
    if delivery.targetType is NotifyType.SLACK:
        return slack_payload(delivery, finding)
    return webhook_payload(delivery, finding).model_dump(mode="json")
