"""Routing passes as text: what `iacdrift route` prints, and the lines `iacdrift run`
adds after notifying. Data in, lines out; targets are named, never by URL."""

from __future__ import annotations

from iacdrift.models.notification import Delivery, NotificationReport
from iacdrift.primitives.wording import count


def describe(delivery: Delivery) -> str:
    """``<target> [reason] page|issue/<priority> RISK <stack>: <resource> (finding <id>)``."""
    kind = "page" if delivery.page else f"issue/{delivery.priority.value}"
    where = delivery.stack or "unmanaged"
    return (
        f"{delivery.target} [{delivery.reason.value}] {kind} {delivery.risk.value} "
        f"{where}: {delivery.resourceRef} (finding {delivery.findingId})"
    )


def route_lines(report: NotificationReport) -> list[str]:
    """One line per delivery (sent, failed, or on a dry run would be sent), then a summary."""
    lines: list[str] = []
    if report.dryRun:
        lines += [f"would send {describe(delivery)}" for delivery in report.deliveries]
    else:
        for outcome in report.outcomes:
            if outcome.ok:
                lines.append(f"sent {describe(outcome.delivery)}")
            else:
                lines.append(f"failed {outcome.error}")
    sent = sum(1 for outcome in report.outcomes if outcome.ok)
    counts = (
        f"{report.skippedDuplicates} already notified, {report.silenced} silenced, "
        f"{report.notAlerting} not alerting, {report.unrouted} unrouted"
    )
    findings = count(report.findings, "finding")
    if report.dryRun:
        lines.append(
            f"dry run: {findings}, {count(len(report.deliveries), 'delivery', 'deliveries')} "
            f"would be sent; {counts}; {len(report.resolved)} would be marked resolved; "
            "nothing sent or logged"
        )
    else:
        lines.append(
            f"{findings}: {sent} sent, {len(report.failed)} failed; "
            f"{counts}; {len(report.resolved)} marked resolved"
        )
    return lines


def run_notification_lines(report: NotificationReport) -> list[str]:
    """After a run: how many were sent, failed or already sent; a warning per failure."""
    ok = sum(1 for outcome in report.outcomes if outcome.ok)
    lines = [
        f"notified: {ok} sent, {len(report.failed)} failed (retried next run), "
        f"{report.skippedDuplicates} already sent"
    ]
    lines += [
        f"warning: notification {outcome.delivery.target}: {outcome.error}"
        for outcome in report.failed
    ]
    return lines
