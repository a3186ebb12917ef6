"""The records iacdrift emits: findings, stack results, check reports.

A finding is the interface between detection, alerting, incident response
and audit: one resource, one broken relationship between the three planes
(desired = the HCL, recorded = the state, actual = the provider), its class,
risk, owner and the repair we recommend. Every value that was sensitive is a
marker with a salted fingerprint, never the value.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from iacdrift.errors import ExitCode
from iacdrift.models.outcomes import PlanOutcome


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Relationship(StrEnum):
    """Which relationship between the planes broke (decided in this order)."""

    MISSING_IN_ACTUAL = "missing-in-actual"
    UNMANAGED = "unmanaged"
    OUT_OF_BAND = "desired==recorded!=actual"
    DESIRED_NE_ACTUAL = "desired!=actual"
    RECORDED_NE_ACTUAL = "recorded!=actual"
    DESIRED_NE_RECORDED = "desired!=recorded"
    NOISE_ONLY = "noise-only"
    # Not a disagreement between the planes: the live resource breaks a guardrail.
    VIOLATES_GUARDRAIL = "actual!=policy"
    # The recorded plane went back: the state is older than one already recorded
    # (its serial is lower than an earlier version's of the same lineage).
    STATE_REGRESSED = "recorded<earlier-recorded"


class DriftClass(StrEnum):
    UNAUTHORIZED_RUNTIME_DRIFT = "UNAUTHORIZED_RUNTIME_DRIFT"
    EMERGENCY_DRIFT = "EMERGENCY_DRIFT"
    CONTROLLER_OWNED_DRIFT = "CONTROLLER_OWNED_DRIFT"
    PROVIDER_READ_NOISE = "PROVIDER_READ_NOISE"
    DEPENDENCY_DRIFT = "DEPENDENCY_DRIFT"
    STALE_DESIRED_STATE = "STALE_DESIRED_STATE"
    FAILED_RECONCILIATION_DRIFT = "FAILED_RECONCILIATION_DRIFT"
    POLICY_DRIFT = "POLICY_DRIFT"
    STATE_DRIFT = "STATE_DRIFT"
    SECRET_DELIVERY_DRIFT = "SECRET_DELIVERY_DRIFT"
    PENDING_APPLY = "PENDING_APPLY"


# Classes that are listed in a result but never make a stack DRIFTED or page anyone.
QUIET_CLASSES: frozenset[DriftClass] = frozenset(
    {DriftClass.PROVIDER_READ_NOISE, DriftClass.CONTROLLER_OWNED_DRIFT}
)


class Risk(StrEnum):
    INFO = "INFO"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return list(Risk).index(self)


class Action(StrEnum):
    REVERT = "REVERT"
    INCIDENT_AND_REVERT = "INCIDENT_AND_REVERT"
    RECONCILE_AFTER_INCIDENT = "RECONCILE_AFTER_INCIDENT"
    APPLY = "APPLY"
    UPDATE_CODE = "UPDATE_CODE"
    REFRESH = "REFRESH"
    IMPORT = "IMPORT"
    MOVE = "MOVE"
    REMOVE_FROM_STATE = "REMOVE_FROM_STATE"
    DELETE = "DELETE"
    INVESTIGATE = "INVESTIGATE"
    IGNORE = "IGNORE"


class Domain(StrEnum):
    IAM = "iam"
    NETWORK = "network"
    SECRETS = "secrets"
    DATABASE = "database"
    COMPUTE = "compute"
    STORAGE = "storage"
    COST = "cost"
    OTHER = "other"


class Plane(StrEnum):
    DESIRED = "desired"
    RECORDED = "recorded"
    ACTUAL = "actual"


class ChangedField(Record):
    """One field that differs, as an RFC 6901 pointer into the resource's attributes.

    For set-like attributes an element that appeared has ``before: null`` and one
    that disappeared has ``after: null``; the index is the element's position in
    the canonically sorted set on the side where it exists.
    """

    pointer: str = Field(description="RFC 6901 JSON pointer, e.g. /tags/data-class")
    before: Any = Field(default=None, description="Value in the finding's beforePlane.")
    after: Any = Field(default=None, description="Value in the finding's afterPlane.")
    desired: Any = Field(
        default=None, description="What the configuration wants, when the plan says it."
    )
    sensitive: bool = Field(
        default=False, description="The value was sensitive: before/after are fingerprints."
    )
    ownedBy: str | None = Field(
        default=None,
        description="Who owns the field outside Terraform: 'controller:<name>', 'runtime', "
        "or 'ignore_changes' (lifecycle.ignore_changes in the configuration).",
    )
    ignoredBy: str | None = Field(
        default=None, description="The id of the ignore rule that suppresses this difference."
    )


class EvidenceKind(StrEnum):
    RULE = "rule"
    AUDIT = "audit"
    CHANGE = "change"
    HISTORY = "history"
    CONFIGURATION = "configuration"
    PLAN = "plan"


class Evidence(Record):
    """One thing that led to a finding's class, risk or action (see `iacdrift explain`)."""

    kind: EvidenceKind
    ref: str = Field(
        description="What it is: a policy document id, a CloudTrail eventId, a change "
        "record id, a Terraform address or a run id."
    )
    detail: str = Field(description="One line: what it said and how it was used.")
    at: datetime | None = Field(default=None, description="When it happened, if it has a time.")


class AuditActor(Record):
    """Who changed the resource, as the audit trail says (never request values)."""

    eventId: str
    eventTime: datetime
    eventName: str
    actorArn: str
    roleArn: str | None = None


class Finding(Record):
    schemaVersion: Literal[1] = 1
    findingId: str = Field(
        description="Stable across runs for the same drift: a hash of stack, resource, "
        "relationship and the changed fields."
    )
    stack: str | None = Field(description="Owning stack; null for an unmanaged resource.")
    detectedAt: datetime
    domain: Domain
    resourceRef: str = Field(description="Terraform address; for unmanaged: <type>:<id>.")
    resourceId: str | None
    resourceType: str
    environment: str | None
    owner: str | None
    sourceOfTruth: str | None = Field(description="Where the desired state lives (git://...).")
    stateBackend: str | None = Field(description="Where the recorded state lives (s3://...).")
    relationship: Relationship
    alsoTrue: list[Relationship] = Field(default_factory=list)
    beforePlane: Plane | None = None
    afterPlane: Plane | None = None
    plannedActions: list[str] = Field(
        default_factory=list, description="What Terraform's plan would do to the resource."
    )
    driftClass: DriftClass
    risk: Risk
    alert: bool = Field(description="Would this page someone.")
    changedFields: list[ChangedField] = Field(default_factory=list)
    noiseFields: list[ChangedField] = Field(
        default_factory=list,
        description="Differences that vanished under normalization (kept for audit).",
    )
    recommendedAction: Action
    autoHealAllowed: bool
    reason: str = Field(description="One line: why this class, risk and action.")
    policyVersion: str | None = Field(
        default=None, description="Content hash of the policy set that classified this finding."
    )
    suppressed: bool = Field(
        default=False,
        description="Every changed field is under an ignore rule: listed, never alerted.",
    )
    deadline: datetime | None = Field(
        default=None, description="Reconcile by: for emergency drift, when Git must be true again."
    )
    actors: list[AuditActor] = Field(
        default_factory=list, description="The audit events that changed the resource."
    )
    changeRecords: list[str] = Field(
        default_factory=list, description="Ids of the change records that cover the change."
    )
    evidence: list[Evidence] = Field(
        default_factory=list, description="Rules, events and records behind the decision."
    )
    evidenceUri: str | None = None


class StackStatus(StrEnum):
    CLEAN = "CLEAN"
    DRIFTED = "DRIFTED"
    ERROR = "ERROR"
    LOCKED = "LOCKED"
    STALE = "STALE"


# A check "answered" when it produced a CLEAN or DRIFTED verdict; every other status
# means the stack's actual plane is unknown since that check.
ANSWERED: frozenset[StackStatus] = frozenset({StackStatus.CLEAN, StackStatus.DRIFTED})
UNKNOWN: frozenset[StackStatus] = frozenset(
    {StackStatus.ERROR, StackStatus.LOCKED, StackStatus.STALE}
)


def drift_exit_code(
    statuses: Iterable[StackStatus], *, unchecked: bool = False, drift: bool = False
) -> ExitCode:
    """The exit code of a drift answer: anything unchecked -> FAILED (1), drift -> DRIFT
    (2), else OK (0).

    ``statuses``: each stack's; ``unchecked``: something beside the stacks could not be
    judged (estate problems); ``drift``: drift found beside the stacks (unmanaged
    resources). An unknown is never 0, and it outranks drift.
    """
    listed = set(statuses)
    if unchecked or listed & UNKNOWN:
        return ExitCode.FAILED
    if drift or StackStatus.DRIFTED in listed:
        return ExitCode.DRIFT
    return ExitCode.OK


class CredentialsSource(StrEnum):
    """Where a stack's credentials came from."""

    OIDC = "oidc"  # its own role, assumed with a web identity token
    AMBIENT = "ambient"  # the ambient identity, where allowed
    AMBIENT_FALLBACK = "ambient-fallback"  # the role could not be assumed; ambient allowed
    SANDBOX = "sandbox"  # the loopback sandbox's fixed key


class LockHolder(Record):
    id: str = ""
    operation: str = ""
    who: str = ""
    created: str = ""
    path: str = ""
    ageSeconds: float | None = None
    stale: bool = False


class Counts(Record):
    findings: int = 0
    drifted: int = Field(default=0, description="Findings that make the stack DRIFTED.")
    noise: int = 0
    controllerOwned: int = 0
    resources: int = Field(default=0, description="Managed resources in the recorded state.")


class Timings(Record):
    initSeconds: float = 0.0
    planSeconds: float = 0.0
    showSeconds: float = 0.0
    stateSeconds: float = 0.0
    inventorySeconds: float = 0.0
    refreshOnlySeconds: float | None = None
    totalSeconds: float = 0.0


class StateRegression(Record):
    """The state a check read is older than one recorded before it (same lineage)."""

    currentSerial: int
    earlierSerial: int = Field(description="The higher serial recorded before.")
    currentVersionId: str | None = Field(
        default=None, description="S3 version id of the current (restored) state object."
    )
    earlierVersionId: str | None = Field(
        default=None,
        description="S3 version id of the earlier version with the higher serial; null "
        "when the regression was seen in the run history only.",
    )
    earlierWrittenAt: datetime | None = Field(
        default=None, description="When that earlier version (or check) was written."
    )
    source: Literal["backend", "history"] = Field(
        description="backend: the state object's version history; history: a previous "
        "check on this machine saw the higher serial."
    )


class StackResult(Record):
    schemaVersion: Literal[1] = 1
    stack: str
    status: StackStatus
    reason: str | None = Field(default=None, description="Why ERROR / LOCKED / STALE.")
    terraformLog: str | None = Field(
        default=None,
        description="With --tf-log: the file holding Terraform's log of the call that "
        "failed (an ERROR result). Only its path: the log itself, which can hold secret "
        "values, is never copied into reports, history or notifications.",
    )
    checkedAt: datetime
    planOutcome: PlanOutcome | None = None
    refreshOnlyOutcome: PlanOutcome | None = None
    refreshOnlyViewMatches: bool | None = Field(
        default=None,
        description="With --separate-refresh-only: whether the recorded-vs-actual view "
        "derived from the normal plan equals the real refresh-only plan's.",
    )
    engine: str | None = None
    terraformFlavor: str | None = None
    terraformVersion: str | None = None
    providers: dict[str, str] = Field(default_factory=dict)
    credentialsSource: CredentialsSource | None = None
    environment: str | None = None
    owner: str | None = None
    riskTier: str | None = None
    stateLineage: str | None = None
    stateSerial: int | None = None
    stateVersionId: str | None = Field(
        default=None,
        description="The S3 version id of the state object this check read (null when "
        "the bucket keeps no versions, or for an unregistered stack).",
    )
    stateRegression: StateRegression | None = Field(
        default=None,
        description="The state went back behind an earlier version of the same lineage "
        "(from the backend's version history, else from this machine's run history).",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What this check could not do that it normally does (e.g. read the "
        "state's version history: without it a restored older state is not seen). The "
        "result stands with that gap, said here, never silently.",
    )
    lock: LockHolder | None = None
    counts: Counts = Field(default_factory=Counts)
    timings: Timings = Field(default_factory=Timings)
    findings: list[Finding] = Field(default_factory=list)


class ExpiredRule(Record):
    """An ignore rule past its expiry date: it no longer applies (fix or renew it)."""

    id: str
    expires: str = Field(description="The day it expired, YYYY-MM-DD.")
    owner: str
    file: str


class CheckReport(Record):
    """What `iacdrift check --format json` prints."""

    schemaVersion: Literal[1] = 1
    kind: Literal["CheckReport"] = "CheckReport"
    generatedAt: datetime
    results: list[StackResult]
    estateFindings: list[Finding] = Field(
        default_factory=list,
        description="Findings that belong to no stack (unmanaged resources).",
    )
    estateProblems: list[str] = Field(
        default_factory=list,
        description="Why unmanaged resources could not be judged (e.g. an unreadable "
        "state) or findings could not be joined to their context (unreadable audit "
        "logs); a non-empty list makes the check exit 1.",
    )
    policyVersion: str | None = Field(
        default=None, description="Content hash of the policy set every finding was classified by."
    )
    expiredRules: list[ExpiredRule] = Field(
        default_factory=list, description="Ignore rules past their expiry: no longer applied."
    )

    def exit_code(self) -> ExitCode:
        """0 clean, 2 drift found (unmanaged included), 1 anything unchecked."""
        return drift_exit_code(
            (r.status for r in self.results),
            unchecked=bool(self.estateProblems),
            drift=bool(self.estateFindings),
        )
