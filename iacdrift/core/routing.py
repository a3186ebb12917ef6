"""Alert routing and dedupe: findings + routes + the notification log -> deliveries.

Pure: data in, data out. The caller passes ``now`` and the log; what is sent
(payloads, stdout lines) is :mod:`iacdrift.report.payloads`'s; sending and
logging are :mod:`iacdrift.flows.notify`'s.

Contract of :func:`plan`:

* Each finding walks the routes in policy order. A matching route yields one
  delivery per target; the first match decides unless it says
  ``continueMatching: true``. A matching route with no targets silences the
  finding (for that route; later routes only when it continues).
* Page or issue: ``alert: true`` and not ``suppressed`` is a page (``page: true``,
  ``createIncident`` as the route says, priority ``high`` for HIGH/CRITICAL,
  ``normal`` otherwise). Any other finding never pages: only a ``createIssue``
  route delivers it, as ``page: false, priority: low``, ``createIncident: false``.
* Dedupe per (findingId, target), the target named ``<route id>#<index>:<type>``:
  a finding logged for a target is not sent there again unless it escalated
  (risk rank above the logged one, or a page where the logged was not) or it
  has a ``deadline`` that passed with nothing sent since (``deadline-passed``).
  Keying by target rather than by route means a target that failed is retried
  alone, without paging again through the route's targets that succeeded.
* Deterministic: deliveries are sorted by stack (unmanaged first), resourceRef,
  findingId, route order, target order; a findingId seen twice is routed once.

No URL ever leaves this module: deliveries name targets only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from iacdrift.models.finding import ANSWERED, CheckReport, Finding, Risk
from iacdrift.models.notification import (
    Delivery,
    DeliveryReason,
    LoggedNotification,
    Priority,
)
from iacdrift.models.policy import Route
from iacdrift.models.run import RunReport, RunSelection
from iacdrift.primitives.moments import as_utc, require_aware

LogKey = tuple[str, str]  # (findingId, target name)


@dataclass(frozen=True)
class RoutingPlan:
    """What to send, and why the rest is not sent."""

    deliveries: tuple[Delivery, ...]
    skipped_duplicates: int = 0  # deliveries already sent with nothing new since
    silenced: int = 0  # findings whose matched routes have no targets
    unrouted: int = 0  # findings no route matched
    not_alerting: int = 0  # findings routed to targets but not a page and no createIssue route


@dataclass(frozen=True)
class ResolutionScope:
    """Where a report's findings are complete, so an absent logged finding is resolved.

    ``stacks``: stacks whose check answered (CLEAN or DRIFTED); ``estate``: the
    unmanaged findings cover the whole estate (a run of all stacks, no estate problems).
    """

    stacks: frozenset[str] = frozenset()
    estate: bool = False


def target_name(route: Route, index: int) -> str:
    """``<route id>#<index>:<type>``: how records and errors name a target."""
    return f"{route.id}#{index}:{route.notify[index].type.value}"


def is_page(finding: Finding) -> bool:
    """Pages someone: alert is true and no ignore rule suppresses it."""
    return finding.alert and not finding.suppressed


def deadline_passed(finding: Finding, now: datetime) -> bool:
    return finding.deadline is not None and as_utc(finding.deadline) <= require_aware(now, "now")


def sent_after_deadline(finding: Finding, sent_at: datetime) -> bool:
    """A notification at ``sent_at`` came at or after the finding's deadline."""
    return finding.deadline is not None and as_utc(sent_at) >= as_utc(finding.deadline)


def due_reason(
    finding: Finding, logged: LoggedNotification | None, now: datetime
) -> DeliveryReason | None:
    """Why the finding is sent through a target with this log entry; None: not again."""
    if logged is None:
        return DeliveryReason.NEW
    if finding.risk.rank > logged.risk.rank or (is_page(finding) and not logged.page):
        return DeliveryReason.ESCALATED
    if deadline_passed(finding, now) and not (
        logged.afterDeadline or sent_after_deadline(finding, logged.sentAt)
    ):
        return DeliveryReason.DEADLINE_PASSED
    return None


def _priority(finding: Finding, page: bool) -> Priority:
    if not page:
        return Priority.LOW
    return Priority.HIGH if finding.risk.rank >= Risk.HIGH.rank else Priority.NORMAL


def _finding_order(finding: Finding) -> tuple[int, str, str, str, str]:
    # Unmanaged (stack None) first; the whole record breaks ties between two
    # different findings that claim one id, so the one routed never depends on input order.
    unmanaged = 0 if finding.stack is None else 1
    return (
        unmanaged,
        finding.stack or "",
        finding.resourceRef,
        finding.findingId,
        finding.model_dump_json(),
    )


def delivery_order(delivery: Delivery) -> tuple[int, str, str, str, int, int]:
    return (
        0 if delivery.stack is None else 1,
        delivery.stack or "",
        delivery.resourceRef,
        delivery.findingId,
        delivery.routePosition,
        delivery.targetIndex,
    )


def unique_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Sorted by stack, resourceRef, findingId; one finding per findingId."""
    seen: set[str] = set()
    unique: list[Finding] = []
    for finding in sorted(findings, key=_finding_order):
        if finding.findingId not in seen:
            seen.add(finding.findingId)
            unique.append(finding)
    return unique


def matching_routes(finding: Finding, routes: Sequence[Route]) -> list[tuple[int, Route]]:
    """The routes that decide for ``finding``, with their policy positions."""
    matched: list[tuple[int, Route]] = []
    for position, route in enumerate(routes):
        if route.match.matches(
            drift_class=finding.driftClass,
            domain=finding.domain,
            environment=finding.environment,
            risk=finding.risk,
        ):
            matched.append((position, route))
            if not route.continueMatching:
                break
    return matched


def plan(
    findings: Sequence[Finding],
    routes: Sequence[Route],
    log: Mapping[LogKey, LoggedNotification],
    now: datetime,
) -> RoutingPlan:
    """Route every finding (see the module docstring for the contract)."""
    now = require_aware(now, "now")
    deliveries: list[Delivery] = []
    skipped = silenced = unrouted = not_alerting = 0
    for finding in unique_findings(findings):
        matched = matching_routes(finding, routes)
        if not matched:
            unrouted += 1
            continue
        if not any(route.notify for _, route in matched):
            silenced += 1
            continue
        page = is_page(finding)
        eligible = [(p, r) for p, r in matched if r.notify and (page or r.createIssue)]
        if not eligible:
            not_alerting += 1
            continue
        for position, route in eligible:
            for index, target in enumerate(route.notify):
                name = target_name(route, index)
                reason = due_reason(finding, log.get((finding.findingId, name)), now)
                if reason is None:
                    skipped += 1
                    continue
                deliveries.append(
                    Delivery(
                        findingId=finding.findingId,
                        stack=finding.stack,
                        resourceRef=finding.resourceRef,
                        driftClass=finding.driftClass,
                        risk=finding.risk,
                        recommendedAction=finding.recommendedAction,
                        routeId=route.id,
                        routePosition=position,
                        targetIndex=index,
                        target=name,
                        targetType=target.type,
                        reason=reason,
                        page=page,
                        createIncident=page and route.createIncident,
                        createIssue=route.createIssue,
                        priority=_priority(finding, page),
                    )
                )
    return RoutingPlan(
        deliveries=tuple(sorted(deliveries, key=delivery_order)),
        skipped_duplicates=skipped,
        silenced=silenced,
        unrouted=unrouted,
        not_alerting=not_alerting,
    )


def plan_deliveries(
    findings: Sequence[Finding],
    routes: Sequence[Route],
    log: Mapping[LogKey, LoggedNotification],
    now: datetime,
) -> list[Delivery]:
    """The deliveries of :func:`plan`, sorted."""
    return list(plan(findings, routes, log, now).deliveries)


def logged(delivery: Delivery, finding: Finding, sent_at: datetime) -> LoggedNotification:
    """The log entry to record once ``delivery`` succeeded at ``sent_at``."""
    sent_at = require_aware(sent_at, "sent_at")
    return LoggedNotification(
        findingId=delivery.findingId,
        target=delivery.target,
        routeId=delivery.routeId,
        stack=delivery.stack,
        risk=delivery.risk,
        page=delivery.page,
        reason=delivery.reason,
        sentAt=sent_at,
        afterDeadline=sent_after_deadline(finding, sent_at),
    )


# --- reports ---------------------------------------------------------------------


def findings_of(report: RunReport | CheckReport) -> list[Finding]:
    """Every finding of a run or check report: each stack's, then the estate's."""
    found = [finding for result in report.results for finding in result.findings]
    return found + list(report.estateFindings)


def scope_of(report: RunReport | CheckReport) -> ResolutionScope:
    """Where the report is complete: answered stacks; the estate only for a full run.

    A stack that was not checked, or whose check did not answer (ERROR, LOCKED,
    STALE), tells nothing about its findings, so they stay as they are.
    """
    stacks = frozenset(r.stack for r in report.results if r.status in ANSWERED)
    estate = (
        isinstance(report, RunReport)
        and report.selection is RunSelection.ALL
        and not report.estateProblems
    )
    return ResolutionScope(stacks=stacks, estate=estate)


def resolved_findings(
    log: Mapping[LogKey, LoggedNotification],
    findings: Sequence[Finding],
    scope: ResolutionScope,
) -> list[str]:
    """Logged, unresolved finding ids that the report's complete parts no longer hold."""
    present = {finding.findingId for finding in findings}
    gone: set[str] = set()
    for entry in log.values():
        if entry.findingId in present:
            continue
        covered = scope.estate if entry.stack is None else entry.stack in scope.stacks
        if covered:
            gone.add(entry.findingId)
    return sorted(gone)
