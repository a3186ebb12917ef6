"""The repair plan: what `iacdrift repair plan` proposes for one stack.

A plan lists steps (each repairs some findings with one action on some
Terraform addresses, using one exact artifact), the order they must run in
(``dependsOn``, and ``batches``: the topological generations of the step graph,
each batch's steps independent of one another), and its binding: a content hash
over the findings, the stack's files and the state's lineage and serial, so
that applying a plan whose inputs changed is refused.

The action of a step is the finding's :class:`~iacdrift.models.finding.Action`
(``RepairAction`` is that enum, not a copy); the final verification step has
no action (``kind: verify``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from iacdrift.models.finding import Action

# The repair actions are the actions a finding recommends: one enum, not two.
RepairAction = Action


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepKind(StrEnum):
    REPAIR = "repair"
    VERIFY = "verify"


class StepStatus(StrEnum):
    """What `repair apply` may do with a step."""

    READY = "ready"  # carried out by `repair apply --yes`
    NEEDS_CODE_CHANGE = "needs-code-change"  # needs code in the stack (a PR, --write-code)
    NEEDS_PERSON = "needs-person"  # no mutation without a person; evidence kept
    DRAFT = "draft"  # a draft for review (an ignore rule); nothing to carry out
    REFUSED = "refused"  # cannot be done as asked; `why` says what to do


class ArtifactKind(StrEnum):
    MOVED_BLOCK = "moved-block"  # HCL moved {}
    REMOVED_BLOCK = "removed-block"  # HCL removed {} with lifecycle.destroy = false
    IMPORT_BLOCK = "import-block"  # HCL import {}
    TARGETED_APPLY = "targeted-apply"  # apply limited to -target addresses
    REFRESH_ONLY_APPLY = "refresh-only-apply"  # apply -refresh-only, targeted
    APPLY = "apply"  # a normal saved-plan apply of the stack
    ACCEPTED_VALUES = "accepted-values"  # the runtime values the code must say
    CODE_PATCH = "code-patch"  # a unified diff making the code say them
    IGNORE_RULE = "ignore-rule"  # a draft IgnoreRule document (YAML)
    VERIFY_CHECK = "verify-check"  # the verification check after the last mutation


class Artifact(_Record):
    kind: ArtifactKind
    text: str = Field(
        description="The exact artifact: HCL block text, the -target arguments one per "
        "line, the accepted values as `pointer = JSON value` lines, a unified diff of the "
        "stack's files (paths relative to the stack's parent directory), or an IgnoreRule "
        "document. Sensitive values appear only as their fingerprint markers."
    )


class RepairStep(_Record):
    id: str = Field(
        description="Derived from the step's content (stack, kind, action, addresses, "
        "findings): the same step has the same id in every plan."
    )
    stack: str = Field(description="The stack the step acts on.")
    kind: StepKind = Field(default=StepKind.REPAIR)
    action: Action | None = Field(
        description="The repair action (the findings' recommendedAction); null for the "
        "verification step."
    )
    findingIds: list[str] = Field(
        default_factory=list, description="The findings this step repairs, sorted."
    )
    addresses: list[str] = Field(
        default_factory=list,
        description="Terraform addresses the step touches, sorted (a move: from and to).",
    )
    artifact: Artifact | None = Field(
        default=None, description="What the step will use, exactly; null when nothing."
    )
    mutates: bool = Field(
        description="Carrying the step out changes the state or the cloud (when allowed)."
    )
    dependsOn: list[str] = Field(
        default_factory=list, description="Ids of the steps that must finish first, sorted."
    )
    batch: int = Field(
        ge=0, description="Index of the batch (topological generation) the step runs in."
    )
    status: StepStatus
    why: str | None = Field(
        default=None,
        description="Why the step is refused, needs a person or a code change; null when ready.",
    )


class RepairBinding(_Record):
    """What the plan was made from; `repair apply` refuses when any of it changed."""

    findingsDigest: str = Field(
        description="sha256 of the canonical JSON of the findings' repair-relevant fields "
        "(id, resource, relationship, class, action, planned actions, changed fields), "
        "sorted by finding id; the detection time is left out."
    )
    filesDigest: str = Field(
        description="sha256 over the stack's files (relative path and content digest, "
        "sorted by path)."
    )
    stateLineage: str | None = Field(description="The state's lineage when planned.")
    stateSerial: int | None = Field(description="The state's serial when planned.")
    hash: str = Field(description="sha256 of the canonical JSON of the four fields above.")


class RepairPlan(_Record):
    schemaVersion: Literal[1] = 1
    kind: Literal["RepairPlan"] = "RepairPlan"
    planId: str = Field(
        description="sha256 prefix of the canonical JSON of everything else in the plan: "
        "the same inputs give the same planId."
    )
    stack: str
    binding: RepairBinding
    steps: list[RepairStep] = Field(
        default_factory=list, description="Sorted by batch, then phase, then id."
    )
    batches: list[list[str]] = Field(
        default_factory=list,
        description="Step ids per batch, in order; the steps of one batch are independent.",
    )


# --- repair apply ----------------------------------------------------------------------


class StepOutcome(StrEnum):
    """What `repair apply` did with one step."""

    PLANNED = "planned"  # dry run: would be carried out; its expected plan is shown
    DONE = "done"  # carried out
    SKIPPED = "skipped"  # not carried out: a person, a code change (PR) or a draft
    REFUSED = "refused"  # would touch more than its addresses, or refused by the plan
    FAILED = "failed"  # Terraform failed; later steps are not run
    NOT_RUN = "not-run"  # an earlier step failed or was refused
    ROLLED_BACK = "rolled-back"  # done, then undone after a failed verification


class RepairResult(StrEnum):
    REPAIRED = "repaired"  # every step carried out was verified
    DRY_RUN = "dry-run"  # nothing changed (no --yes)
    NOTHING_TO_DO = "nothing-to-do"  # no step can be carried out
    REFUSED = "refused"  # refused before the first mutation (stale plan, cap, bounds)
    FAILED = "failed"  # a step failed; what ran is said per step
    ROLLED_BACK = "rolled-back"  # verification failed; state-only steps undone


class StepRecord(_Record):
    stepId: str
    action: Action | None
    addresses: list[str] = Field(default_factory=list)
    outcome: StepOutcome
    detail: str | None = Field(default=None, description="Why, or what happened.")
    expectedPlan: list[str] = Field(
        default_factory=list,
        description="The step's saved plan, redacted: `address: actions` per resource it "
        "changes (the plan file itself never leaves the private scratch directory).",
    )
    changeRecord: str | None = Field(
        default=None, description="Id of the change record (type apply) written for it."
    )
    code: str | None = Field(
        default=None,
        description="Configuration Terraform generated for an unmanaged object being imported, "
        "as cleaned and used (and, with --write-code, written into the stack).",
    )
    seconds: float | None = None


class Verification(_Record):
    """The fresh check after the last mutation."""

    status: str = Field(description="The stack's status in the verification check.")
    answered: bool = Field(
        default=True,
        description="The check answered (CLEAN or DRIFTED); false: not verified, and "
        "nothing was rolled back on that account.",
    )
    passed: bool
    remaining: list[str] = Field(
        default_factory=list, description="Repaired finding ids still found, sorted."
    )
    new: list[str] = Field(
        default_factory=list,
        description="`<address>: <drift class>` of findings that were not in the plan, sorted.",
    )
    reason: str | None = None


class RepairApplyReport(_Record):
    schemaVersion: Literal[1] = 1
    kind: Literal["RepairApplyReport"] = "RepairApplyReport"
    planId: str
    stack: str
    dryRun: bool
    result: RepairResult
    reason: str | None = Field(default=None, description="Why refused or failed, in one line.")
    startedAt: datetime
    finishedAt: datetime
    snapshotVersionId: str | None = Field(
        default=None,
        description="The state object's S3 version id before the first mutation.",
    )
    steps: list[StepRecord] = Field(default_factory=list)
    verification: Verification | None = None
    rolledBack: list[str] = Field(
        default_factory=list, description="What was undone after a failed verification."
    )
    notReversible: list[str] = Field(
        default_factory=list, description="What could not be undone, and what to do about it."
    )
    codeWritten: list[str] = Field(
        default_factory=list,
        description="Files written into the stack directory (--write-code), relative to it.",
    )
    exitCode: int = Field(
        description="0 repaired and verified with nothing left; 2 a dry run with steps, or "
        "steps left for a person or a PR; 1 refused or failed."
    )
