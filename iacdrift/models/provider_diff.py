"""The record of `iacdrift provider-diff`: one stack planned under two provider versions.

The command plans a stack twice against the same copy of its state, once under the
provider version it uses now ("current") and once under a target version, and
:mod:`iacdrift.core.upgrade_compare` compares the two plans. Every difference it
finds is one :class:`AttributeDifference` of a :class:`DifferenceKind`:

* ``representation``: both versions read the field, they write it differently, and
  it means the same (equal after normalization: ``null`` vs ``""``);
* ``schema``: one version's schema has the attribute and the other's does not, or
  both read it and it means something else while both plans leave it as it is (a
  default or the read changed);
* ``behaviour``: the target would do something the current does not (another
  action, or other fields changed). Only this kind makes a stack unsafe to upgrade.

Drift that both versions see (a real out-of-band change) is kept apart as
:class:`DriftUnderBoth`: it is not the upgrade's doing.

Every value is redacted (a sensitive one is a marker with a salted fingerprint,
never the value). Lists are sorted: differences by (address, pointer), drift by
address, results by stack, suggestions by (resource type, paths).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from iacdrift.errors import ExitCode
from iacdrift.models.finding import Record
from iacdrift.models.policy import IgnoreMatch, IgnoreRule


class DifferenceKind(StrEnum):
    """What a difference between the two versions' plans is (see the module doc)."""

    REPRESENTATION = "representation"
    SCHEMA = "schema"
    BEHAVIOUR = "behaviour"


class ComparisonOutcome(StrEnum):
    """The verdict on one stack: safe to upgrade, a behaviour change, or not compared."""

    SAFE = "SAFE"
    BEHAVIOUR = "BEHAVIOUR"
    ERROR = "ERROR"


class AttributeDifference(Record):
    """One field that differs between the current and the target version's plans."""

    address: str = Field(description="Terraform resource instance address.")
    resourceType: str = Field(description="Terraform resource type, e.g. aws_s3_bucket.")
    pointer: str = Field(
        description="RFC 6901 JSON pointer into the resource's attributes, e.g. "
        "/scaling_configuration/0/min_capacity; the empty pointer is the whole resource "
        "(a different action)."
    )
    kind: DifferenceKind = Field(description="representation, schema or behaviour.")
    detail: str = Field(
        description="One sentence: what differs, e.g. 'attribute added in 3.39.0, read for "
        "the first time'."
    )
    current: Any = Field(
        default=None,
        description="The value under the current version (redacted): what it reads, or "
        "for a behaviour difference what its plan leaves or sets; null when absent.",
    )
    target: Any = Field(
        default=None,
        description="The value under the target version (redacted), read or planned like "
        "current; null when absent.",
    )
    sensitive: bool = Field(
        default=False, description="A value was sensitive: current/target hold fingerprints."
    )
    currentActions: list[str] = Field(
        default_factory=list,
        description="The resource_changes actions under the current version; empty when "
        "the resource is not in that plan.",
    )
    targetActions: list[str] = Field(
        default_factory=list,
        description="The resource_changes actions under the target version; empty when "
        "the resource is not in that plan.",
    )


class DriftUnderBoth(Record):
    """Real drift (recorded != actual after normalization) that both versions report on
    one resource: an out-of-band change, not the upgrade's doing."""

    address: str = Field(description="Terraform resource instance address.")
    resourceType: str = Field(description="Terraform resource type.")
    pointers: list[str] = Field(
        description="The drifted fields (RFC 6901, sorted), as the current version "
        "reports them; the empty pointer when the object is gone."
    )


class KindCounts(Record):
    """How many differences of each kind one stack has."""

    # Not "schema": pydantic's BaseModel has an attribute of that name.
    representationDifferences: int = Field(default=0, description="Representation differences.")
    schemaDifferences: int = Field(default=0, description="Schema differences.")
    behaviourDifferences: int = Field(default=0, description="Behaviour differences.")
    driftedFields: int = Field(
        default=0, description="Drifted fields both versions report (not differences)."
    )


class ComparisonTimings(Record):
    """Where the time of one stack's comparison went (filled by the flow)."""

    initSeconds: float = Field(default=0.0, description="terraform init under both versions.")
    currentPlanSeconds: float = Field(
        default=0.0, description="Planning (and show -json) under the current version."
    )
    targetPlanSeconds: float = Field(
        default=0.0, description="Planning (and show -json) under the target version."
    )
    totalSeconds: float = Field(default=0.0, description="The whole stack, wall clock.")


class StackComparison(Record):
    """One stack's plans under the current and the target provider version, compared."""

    schemaVersion: Literal[1] = 1
    stack: str = Field(description="Registered stack name.")
    provider: str = Field(description="The provider compared, e.g. hashicorp/aws.")
    fromVersion: str = Field(description="The provider version the stack uses now.")
    toVersion: str = Field(description="The target provider version.")
    outcome: ComparisonOutcome = Field(
        description="SAFE: no behaviour difference; BEHAVIOUR: the target would change "
        "something the current does not; ERROR: not compared (reason says why)."
    )
    reason: str | None = Field(default=None, description="Why ERROR; null otherwise.")
    resources: int = Field(
        default=0, description="Managed resources of the provider compared (either plan)."
    )
    counts: KindCounts = Field(
        default_factory=KindCounts, description="Differences per kind, and drifted fields."
    )
    differences: list[AttributeDifference] = Field(
        default_factory=list,
        description="Every difference between the two plans, sorted by (address, pointer).",
    )
    drift: list[DriftUnderBoth] = Field(
        default_factory=list,
        description="Drift both versions report, per resource, sorted by address.",
    )
    stateLineage: str | None = Field(
        default=None, description="Lineage of the state both plans ran against."
    )
    stateSerial: int | None = Field(
        default=None, description="Serial of the state both plans ran against."
    )
    stateVersionId: str | None = Field(
        default=None, description="S3 version id of that state object (filled by the flow)."
    )
    timings: ComparisonTimings | None = Field(
        default=None, description="Where the time went (filled by the flow)."
    )


class SuggestedRule(Record):
    """An IgnoreRule suggested for schema or representation differences: a draft for a
    person to review (``review`` is always true), never in force as written."""

    id: str = Field(description="The suggested rule id (policy id format).")
    resourceType: str = Field(description="The resource type the rule matches.")
    stack: str | None = Field(
        default=None,
        description="match.stack when one stack showed the differences; null when "
        "several did (then the rule is unscoped and must be scoped before use).",
    )
    stacks: list[str] = Field(description="The stacks the differences were seen in, sorted.")
    kinds: list[DifferenceKind] = Field(
        description="The kinds of difference the rule would cover, sorted."
    )
    paths: list[str] = Field(
        description="Top-level attribute pointers to ignore, sorted (critical fields are "
        "never suggested: see withheld)."
    )
    withheld: list[str] = Field(
        default_factory=list,
        description="Top-level pointers that differed but cover critical fields: not "
        "suggested, because a rule would hide real changes there.",
    )
    reason: str = Field(description="Why: the provider, both versions and the kind.")
    owner: str = Field(description="A placeholder the reviewer replaces with the owning team.")
    expires: date = Field(description="Suggested last day the rule applies.")
    review: Literal[True] = Field(
        default=True, description="Always true: a person must review the rule before use."
    )
    notes: list[str] = Field(
        default_factory=list,
        description="What the reviewer must do or know (scoping, withheld paths), one line each.",
    )

    def ignore_match(self) -> IgnoreMatch:
        return IgnoreMatch(resourceType=self.resourceType, stack=self.stack)

    def ignore_rule(self) -> IgnoreRule:
        """The suggestion as an IgnoreRule document (policies/*.yaml format)."""
        return IgnoreRule(
            kind="IgnoreRule",
            id=self.id,
            match=self.ignore_match(),
            paths=list(self.paths),
            reason=self.reason,
            owner=self.owner,
            expires=self.expires,
        )


class ProviderDiffSummary(Record):
    """Which stacks are safe to upgrade, which change behaviour, which were not compared."""

    safe: list[str] = Field(default_factory=list, description="SAFE stacks, sorted.")
    behaviour: list[str] = Field(default_factory=list, description="BEHAVIOUR stacks, sorted.")
    error: list[str] = Field(default_factory=list, description="ERROR stacks, sorted.")

    @classmethod
    def of(cls, results: Iterable[StackComparison]) -> ProviderDiffSummary:
        by_outcome: dict[ComparisonOutcome, list[str]] = {o: [] for o in ComparisonOutcome}
        for result in results:
            by_outcome[result.outcome].append(result.stack)
        return cls(
            safe=sorted(by_outcome[ComparisonOutcome.SAFE]),
            behaviour=sorted(by_outcome[ComparisonOutcome.BEHAVIOUR]),
            error=sorted(by_outcome[ComparisonOutcome.ERROR]),
        )


class ProviderDiffReport(Record):
    """What `iacdrift provider-diff --format json` prints."""

    schemaVersion: Literal[1] = 1
    kind: Literal["ProviderDiffReport"] = "ProviderDiffReport"
    generatedAt: datetime = Field(description="When the report was made.")
    provider: str = Field(description="The provider compared, e.g. hashicorp/aws.")
    toVersion: str = Field(description="The target provider version.")
    results: list[StackComparison] = Field(
        default_factory=list, description="One comparison per stack, sorted by stack."
    )
    suggestions: list[SuggestedRule] = Field(
        default_factory=list,
        description="Ignore rules suggested for schema and representation differences, for review.",
    )
    summary: ProviderDiffSummary = Field(
        default_factory=ProviderDiffSummary,
        description="The stacks by outcome; must agree with results.",
    )

    @model_validator(mode="after")
    def _summary_agrees(self) -> ProviderDiffReport:
        if self.summary != ProviderDiffSummary.of(self.results):
            raise ValueError(
                "summary does not list the results' stacks by outcome; build it with "
                "ProviderDiffSummary.of(results)"
            )
        return self

    def exit_code(self) -> ExitCode:
        """1 when any stack could not be compared, else 2 when any changes behaviour,
        else 0."""
        outcomes = {result.outcome for result in self.results}
        if ComparisonOutcome.ERROR in outcomes:
            return ExitCode.FAILED
        if ComparisonOutcome.BEHAVIOUR in outcomes:
            return ExitCode.DRIFT
        return ExitCode.OK
