"""The context joined to a drift finding: audit events and change records.

* :class:`AuditEvent`: one CloudTrail record, reduced to who did what to which
  resources, when. Request and response payloads are never kept, only the
  identifiers found in them: a payload may carry a secret (CloudTrail hides
  ``secretString``, but nothing else promises to).
* :class:`ChangeRecord`: our file format (``changes/*.yaml`` beside
  ``iacdrift.yaml``): an incident, an approved change, a pull request or an
  apply, with the stack and resources it touches and the window it was open.
  :meth:`ChangeRecord.covers` is the documented matching semantics: pure.
* :class:`ContextSettings`: where audit logs and change records are found, and
  which identities are break-glass or controllers.

Times are timezone-aware and kept in UTC; a time without a zone is refused
rather than guessed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from iacdrift.models.finding import Record
from iacdrift.models.policy import Glob
from iacdrift.models.registry import NAME_PATTERN, Strict
from iacdrift.primitives.address import config_address
from iacdrift.primitives.glob import address_matches
from iacdrift.primitives.moments import is_aware


def _not_a_date(value: object) -> object:
    # YAML reads an unquoted 2026-11-25 as a date, which pydantic would take as midnight
    # without a zone: say what is missing instead.
    if isinstance(value, date) and not isinstance(value, datetime):
        raise ValueError(
            f"a date without a time ({value.isoformat()}); write the time and its zone, "
            "e.g. 2026-11-25T10:00:00Z"
        )
    return value


def _aware_utc(value: datetime) -> datetime:
    if not is_aware(value):
        raise ValueError(
            f"{value.isoformat()} has no time zone; write it in UTC with a Z "
            "(e.g. 2026-11-25T10:00:00Z) or with an offset (+02:00)"
        )
    return value.astimezone(UTC)


UtcDatetime = Annotated[
    datetime,
    BeforeValidator(_not_a_date),
    AfterValidator(_aware_utc),
    Field(
        description="A time with its zone (ISO 8601), kept in UTC.",
        examples=["2026-11-25T10:00:00Z"],
    ),
]


def resource_matches(pattern: str, value: str) -> bool:
    """``value`` (an address or id) is ``pattern``, or matches it as a glob; the
    brackets of Terraform instance keys also match literally (see address_matches)."""
    return address_matches(pattern, value)


def _sorted_unique(values: list[str]) -> list[str]:
    return sorted(set(values))


# --- audit events ---------------------------------------------------------------------


class AuditEvent(Record):
    """One CloudTrail record: who called which API on which resources, and when."""

    eventId: str = Field(description="CloudTrail's eventID; unique per event.")
    eventTime: UtcDatetime
    eventName: str = Field(description="The API called, e.g. AuthorizeSecurityGroupIngress.")
    eventSource: str = Field(description="The service called, e.g. ec2.amazonaws.com.")
    region: str | None = Field(default=None, description="awsRegion of the call.")
    actorArn: str = Field(
        description="userIdentity.arn (the assumed-role session ARN for AssumedRole); for "
        "an identity without an ARN (AWSService, ...) the invoking service or principal id."
    )
    actorType: str = Field(
        description="userIdentity.type: IAMUser, AssumedRole, Root, AWSService, ..."
    )
    roleArn: str | None = Field(
        default=None,
        description="For AssumedRole: the role's ARN (sessionContext.sessionIssuer.arn).",
    )
    resourceIds: Annotated[list[str], AfterValidator(_sorted_unique)] = Field(
        default_factory=list,
        description="Every identifier the event names: resources[].ARN, the identifier "
        "fields of the request and response, and the final name/id segment of each ARN; "
        "sorted, unique.",
    )
    readOnly: bool = Field(description="A read (Get/Describe/List) rather than a change.")
    errorCode: str | None = Field(
        default=None,
        description="Set when the call failed (AccessDenied, ...): it changed nothing.",
    )
    source: str = Field(description="Where the record was read: a file path or s3://bucket/key.")

    @property
    def succeeded(self) -> bool:
        return self.errorCode is None

    @property
    def mutating(self) -> bool:
        """A write that succeeded: the only kind of event that can explain drift."""
        return not self.readOnly and self.succeeded


# --- change records ---------------------------------------------------------------------


class ChangeType(StrEnum):
    INCIDENT = "incident"
    CHANGE = "change"
    PR = "pr"
    APPLY = "apply"


class ChangeOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Window(Strict):
    """When a change was open: ``start`` to ``end`` inclusive; no end = still open."""

    start: UtcDatetime
    end: UtcDatetime | None = Field(default=None, description="null: still open.")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end is not None and self.end < self.start:
            raise ValueError(
                f"end {self.end.isoformat()} is before start {self.start.isoformat()}; "
                "swap them or fix the times"
            )
        return self

    def contains(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at <= self.end)


ChangeId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="Unique across all change records, e.g. INC-1042, CHG-7, PR-311.",
        examples=["INC-1042"],
    ),
]


class ChangeRecord(Strict):
    """An incident, approved change, pull request or apply that touched a stack."""

    schemaVersion: Literal[1] = 1
    apiVersion: Literal["iacdrift.dev/v1"] = "iacdrift.dev/v1"
    kind: Literal["ChangeRecord"]
    id: ChangeId
    type: ChangeType
    stack: str = Field(pattern=NAME_PATTERN, description="The registered stack's name.")
    resources: list[Glob] = Field(
        default_factory=list,
        description="Terraform addresses or resource ids/names it touches; globs allowed; "
        "empty: the whole stack.",
        examples=[["aws_security_group.web", "module.app.*", "sg-0123"]],
    )
    window: Window
    breakGlass: bool = Field(default=False, description="An emergency change outside Git.")
    approvers: list[str] = Field(default_factory=list)
    acceptsRuntime: bool = Field(
        default=False,
        description="An approved change that makes the live value the new desired state.",
    )
    outcome: ChangeOutcome | None = Field(
        default=None, description="For type apply: did the apply (or repair) succeed."
    )
    reconcileBy: UtcDatetime | None = Field(
        default=None,
        description="Deadline to bring Git back to the truth (emergency changes).",
    )
    summary: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChangeRecord:
        if self.outcome is not None and self.type is not ChangeType.APPLY:
            raise ValueError(
                f"outcome is only for type apply (this is type {self.type.value}); "
                "remove it or set type: apply"
            )
        if self.reconcileBy is not None and self.reconcileBy < self.window.start:
            raise ValueError(
                f"reconcileBy {self.reconcileBy.isoformat()} is before window.start; "
                "set a deadline after the change began"
            )
        return self

    def covers(
        self,
        *,
        stack: str,
        address: str | None,
        resource_id: str | None,
        at: datetime | None,
    ) -> bool:
        """This record speaks for a resource of ``stack`` at time ``at``.

        Same stack; ``resources`` empty (the whole stack) or one glob matching the
        address, its configuration address (instance keys removed) or the resource
        id; ``at`` inside the window (``at`` None: time is not considered).
        """
        if stack != self.stack:
            return False
        if at is not None and not self.window.contains(at):
            return False
        if not self.resources:
            return True
        candidates = {value for value in (address, resource_id) if value}
        if address:
            candidates.add(config_address(address))
        return any(
            resource_matches(pattern, candidate)
            for pattern in self.resources
            for candidate in sorted(candidates)
        )


# --- settings -----------------------------------------------------------------------------


class AuditLogSource(Strict):
    """Where CloudTrail log files are: a local directory or a log bucket (exactly one)."""

    directory: str | None = Field(
        default=None,
        description="A directory of CloudTrail files (*.json.gz, *.json), searched "
        "recursively; relative to the project root.",
    )
    bucket: str | None = Field(
        default=None,
        description="The S3 bucket a trail delivers to; read under "
        "<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/.",
    )
    prefix: str = Field(default="", description="The trail's S3 key prefix, if any.")
    lookbackDays: int = Field(default=14, ge=1, description="How many days of events to read.")

    @model_validator(mode="after")
    def _one_place(self) -> AuditLogSource:
        if (self.directory is None) == (self.bucket is None):
            raise ValueError("set exactly one of directory or bucket")
        return self


class ContextSettings(Strict):
    """Audit logs, change records and the identities that explain a change."""

    auditLogs: AuditLogSource | None = Field(
        default=None, description="null: no audit events are read."
    )
    changeRecords: str | None = Field(
        default="changes",
        description="Directory of ChangeRecord YAML files, relative to the project root; "
        "null: none.",
    )
    breakGlassRoles: list[Glob] = Field(
        default_factory=list,
        description="ARN globs of break-glass identities (role ARNs or assumed-role ARNs).",
        examples=[["arn:aws:iam::*:role/break-glass-*"]],
    )
    controllerRoles: list[Glob] = Field(
        default_factory=list,
        description="ARN globs of controllers (autoscalers, operators) whose changes are expected.",
    )
    emergencyDeadlineHours: int = Field(
        default=24,
        ge=1,
        description="Reconcile deadline after a break-glass change that sets no reconcileBy.",
    )
