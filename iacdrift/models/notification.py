"""The records of alert routing: planned deliveries, their outcomes, the log of what
was sent, and the payload a webhook receives.

A :class:`Delivery` is one finding sent through one target of one route. It
names the target as ``<route id>#<index>:<type>`` (``index`` is the target's
0-based position in the route's ``notify`` list) and never carries the target's
URL: Slack and webhook URLs embed their token, so no record, log line or error
message holds one.

Page or issue: a finding with ``alert: true`` that is not ``suppressed`` is a
page (``page: true``, ``createIncident`` as its route says). Any other finding
never pages: only a route with ``createIssue: true`` delivers it, as
``page: false, priority: low`` with ``createIncident`` forced off.

Dedupe: a finding already sent through a target is not sent there again unless
it escalated (risk rank above the one last sent, or it became a page) or its
``deadline`` passed with nothing sent since; the delivery's ``reason`` says which.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from iacdrift.errors import ExitCode
from iacdrift.models.finding import Action, DriftClass, Finding, Record, Risk
from iacdrift.models.policy import NotifyType


class DeliveryReason(StrEnum):
    """Why a finding is sent through a target (again)."""

    NEW = "new"
    ESCALATED = "escalated"
    DEADLINE_PASSED = "deadline-passed"


class Priority(StrEnum):
    """high: a page of a HIGH or CRITICAL finding; normal: any other page; low: an issue."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Delivery(Record):
    """One finding to send through one route target (never the target's URL)."""

    schemaVersion: Literal[1] = 1
    findingId: str
    stack: str | None = Field(description="The finding's stack; null for an unmanaged resource.")
    resourceRef: str
    driftClass: DriftClass
    risk: Risk
    recommendedAction: Action
    routeId: str = Field(description="The id of the Route policy document that matched.")
    routePosition: int = Field(ge=0, description="The route's position in policy order.")
    targetIndex: int = Field(ge=0, description="0-based position in the route's notify list.")
    target: str = Field(description="<route id>#<index>:<type>; the log and errors use it.")
    targetType: NotifyType
    reason: DeliveryReason
    page: bool = Field(description="Pages someone: alert is true and not suppressed.")
    createIncident: bool = Field(description="As the route says for a page; false otherwise.")
    createIssue: bool = Field(description="As the route says.")
    priority: Priority


class DeliveryOutcome(Record):
    """What happened to one delivery: sent, or a one-line error naming the target."""

    delivery: Delivery
    ok: bool
    error: str | None = Field(
        default=None, description="One line naming the target (never its URL) and why."
    )


class LoggedNotification(Record):
    """What was last sent for one finding through one target (the notification log)."""

    findingId: str
    target: str = Field(description="<route id>#<index>:<type>")
    routeId: str
    stack: str | None = Field(description="The finding's stack when sent; null for unmanaged.")
    risk: Risk = Field(description="The finding's risk when last sent.")
    page: bool = Field(description="Whether that notification was a page.")
    reason: DeliveryReason
    sentAt: datetime
    afterDeadline: bool = Field(
        description="It was sent at or after the finding's deadline (no further "
        "deadline-passed notification is due)."
    )


class NotificationReport(Record):
    """What one routing pass planned and, unless a dry run, what each delivery did."""

    schemaVersion: Literal[1] = 1
    kind: Literal["NotificationReport"] = "NotificationReport"
    generatedAt: datetime
    policyVersion: str | None = None
    dryRun: bool = Field(description="Nothing was sent or logged.")
    findings: int = Field(ge=0, description="Findings routed.")
    deliveries: list[Delivery] = Field(
        default_factory=list,
        description="Sorted by stack, resourceRef, findingId, route order, target order.",
    )
    outcomes: list[DeliveryOutcome] = Field(
        default_factory=list, description="One per delivery, in order; empty on a dry run."
    )
    skippedDuplicates: int = Field(
        default=0, ge=0, description="Deliveries not repeated: already sent, nothing new."
    )
    silenced: int = Field(
        default=0, ge=0, description="Findings whose deciding route has no targets."
    )
    unrouted: int = Field(default=0, ge=0, description="Findings that no route matched.")
    notAlerting: int = Field(
        default=0,
        ge=0,
        description="Findings that do not page (alert false or suppressed) and matched no "
        "createIssue route: nothing is sent for them.",
    )
    resolved: list[str] = Field(
        default_factory=list,
        description="Finding ids logged before and absent now from checked stacks: marked "
        "resolved, so a reappearance is new again.",
    )

    @property
    def failed(self) -> list[DeliveryOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]

    def exit_code(self) -> ExitCode:
        """0 when every delivery succeeded (or there were none), 1 otherwise."""
        return ExitCode.FAILED if self.failed else ExitCode.OK


class WebhookPayload(Record):
    """The JSON body POSTed to a webhook target and written as one jsonl line."""

    schemaVersion: Literal[1] = 1
    kind: Literal["iacdrift.finding"] = "iacdrift.finding"
    reason: DeliveryReason
    page: bool
    createIncident: bool
    createIssue: bool
    priority: Priority
    routeId: str
    target: str = Field(description="<route id>#<index>:<type>")
    finding: Finding
