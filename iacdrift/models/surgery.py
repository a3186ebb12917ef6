"""State surgery: the migration file a person writes and the plan ``surgery plan`` records.

* :class:`StateMigration`: our file format (``surgery/*.yaml``): operations on one
  registered stack's state (``mv``, ``rm``, ``import``, ``replace-provider``,
  ``force-unlock``), each with the reason reviewers read, and the plan expected
  once they are done (``no-changes``, or the addresses and their actions).
* :class:`SurgeryPlan`: the record of planning a migration on a private copy of the
  state with real Terraform: what each operation ran and touched, the plan that
  followed, whether it matches the expectation, the configuration blocks that could
  say the same, and the binding (state lineage, serial and version id, the stack's
  files, Terraform and provider versions) its ``planId`` hashes. Building it and
  checking its id is :mod:`iacdrift.core.surgery`.

Strict like every format of ours: unknown fields are refused (``extra="forbid"``).
Addresses are checked here for their shape (module calls, then one managed
resource, instance keys as Terraform writes them); the HCL blocks are written by
:mod:`iacdrift.core.reconcile.hcl`, which parses them again.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from iacdrift.models.context import UtcDatetime
from iacdrift.models.finding import LockHolder, Record
from iacdrift.models.registry import NAME_PATTERN, Strict

# --- addresses ---------------------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_KEY = r'\[(?:"(?:[^"\\]|\\.)*"|[0-9]+)\]'
_STEP = re.compile(rf"({_NAME})({_KEY})?")
# The shape for editors (JSON Schema); the validator below also checks the structure.
ADDRESS_PATTERN = rf"^{_NAME}(?:{_KEY})?(?:\.{_NAME}(?:{_KEY})?)*$"
_EXAMPLE_ADDRESSES = 'e.g. module.app.aws_s3_bucket.this or aws_instance.web["a"]'


class AddressKind(StrEnum):
    """What a Terraform address names."""

    MODULE = "module"  # module.a, module.a["x"].module.b
    RESOURCE = "resource"  # aws_s3_bucket.this, module.a.aws_s3_bucket.this
    INSTANCE = "instance"  # aws_s3_bucket.this[0]


def _steps(address: str) -> list[tuple[str, str | None]]:
    """(name, instance key text or None) per dot-separated step; ValueError if unreadable."""
    steps: list[tuple[str, str | None]] = []
    position = 0
    while True:
        match = _STEP.match(address, position)
        if match is None:
            raise ValueError(
                f"{address!r} is not a Terraform address (unreadable at position "
                f"{position}); write {_EXAMPLE_ADDRESSES}"
            )
        steps.append((match.group(1), match.group(2)))
        position = match.end()
        if position == len(address):
            return steps
        if address[position] != ".":
            raise ValueError(
                f"{address!r} is not a Terraform address (expected . at position "
                f"{position}); write {_EXAMPLE_ADDRESSES}"
            )
        position += 1


def address_kind(address: str) -> AddressKind:
    """What ``address`` names; ValueError (saying what to write) when it is not a
    managed resource, a resource instance or a module call."""
    steps = _steps(address)
    index = 0
    while index < len(steps) and steps[index][0] == "module":
        if steps[index][1] is not None or index + 1 == len(steps):
            raise ValueError(
                f"{address!r}: `module` must be followed by the call's name, "
                'e.g. module.app or module.app["blue"]'
            )
        index += 2
    rest = steps[index:]
    if not rest:
        return AddressKind.MODULE
    if rest[0][0] == "data":
        raise ValueError(
            f"{address!r} is a data source: Terraform reads it again on every plan, so "
            "there is nothing to move, remove or import; name a managed resource"
        )
    if len(rest) != 2 or rest[0][1] is not None:
        raise ValueError(
            f"{address!r} is not a Terraform address: after the module calls comes one "
            f"resource, <type>.<name>, optionally with an instance key; write "
            f"{_EXAMPLE_ADDRESSES}"
        )
    return AddressKind.INSTANCE if rest[1][1] is not None else AddressKind.RESOURCE


def resource_type_of(address: str) -> str | None:
    """The resource type ``address`` names; None for a module address."""
    steps = _steps(address)
    index = 0
    while index < len(steps) and steps[index][0] == "module":
        index += 2
    return steps[index][0] if index < len(steps) else None


def _check_address(value: str) -> str:
    address_kind(value)
    return value


Address = Annotated[
    str,
    AfterValidator(_check_address),
    Field(
        description="A Terraform address of a managed resource, a resource instance or a "
        "module call, as `terraform state list` writes it.",
        examples=["module.assets.aws_s3_bucket.this", 'aws_instance.web["a"]', "module.app"],
        json_schema_extra={"pattern": ADDRESS_PATTERN},
    ),
]

_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?"
_NAMESPACE = r"-|[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?"
_TYPE = r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?"
PROVIDER_PATTERN = rf"^(?:{_HOST}/)?(?:{_NAMESPACE})/{_TYPE}$"
_PROVIDER = re.compile(PROVIDER_PATTERN)


def _check_provider(value: str) -> str:
    if not _PROVIDER.match(value):
        raise ValueError(
            f"{value!r} is not a provider source address; write "
            "[<hostname>/]<namespace>/<type>, e.g. registry.terraform.io/hashicorp/aws"
        )
    return value


ProviderSource = Annotated[
    str,
    AfterValidator(_check_provider),
    Field(
        description="A provider source address as the state records it: "
        "[<hostname>/]<namespace>/<type> (the hostname defaults to registry.terraform.io; "
        "namespace `-` is a legacy provider).",
        examples=["registry.terraform.io/hashicorp/aws", "registry.opentofu.org/hashicorp/aws"],
        json_schema_extra={"pattern": PROVIDER_PATTERN},
    ),
]


def _check_reason(value: str) -> str:
    if not value.strip():
        raise ValueError(
            "the reason is empty; say why this operation is needed (reviewers read it)"
        )
    return value


Reason = Annotated[
    str,
    AfterValidator(_check_reason),
    Field(
        json_schema_extra={"minLength": 1},
        description="Why this operation is needed; shown to the reviewers who approve it.",
    ),
]


# --- operations ----------------------------------------------------------------------


class OperationKind(StrEnum):
    MV = "mv"
    RM = "rm"
    IMPORT = "import"
    REPLACE_PROVIDER = "replace-provider"
    FORCE_UNLOCK = "force-unlock"


class _Operation(Strict):
    # `from` is a Python keyword: the field is from_, written and read as `from`.
    model_config = ConfigDict(serialize_by_alias=True)


class MoveOperation(_Operation):
    """``terraform state mv``: the object stays, its address in the state changes."""

    op: Literal["mv"]
    from_: Address = Field(alias="from", description="The address in the state now.")
    to: Address = Field(description="The address it moves to.")
    reason: Reason

    @model_validator(mode="after")
    def _movable(self) -> MoveOperation:
        if self.from_ == self.to:
            raise ValueError(f"from and to are both {self.to!r}; name the address it moves to")
        source = address_kind(self.from_) is AddressKind.MODULE
        destination = address_kind(self.to) is AddressKind.MODULE
        if source != destination:
            raise ValueError(
                f"{self.from_!r} and {self.to!r}: a module moves to a module address and a "
                "resource to a resource address; make both the same kind"
            )
        before, after = resource_type_of(self.from_), resource_type_of(self.to)
        if before != after:
            raise ValueError(
                f"{self.from_!r} (type {before}) and {self.to!r} (type {after}): "
                "terraform state mv keeps the resource type; use the same type in to"
            )
        return self


class RemoveOperation(_Operation):
    """``terraform state rm``: Terraform forgets the objects; they stay in the cloud."""

    op: Literal["rm"]
    addresses: list[Address] = Field(
        json_schema_extra={"minItems": 1},
        description="The addresses to forget (resources, instances or modules).",
    )
    reason: Reason

    @model_validator(mode="after")
    def _unique(self) -> RemoveOperation:
        if not self.addresses:
            raise ValueError("addresses is empty; list the addresses to forget")
        twice = sorted({a for a in self.addresses if self.addresses.count(a) > 1})
        if twice:
            raise ValueError(f"addresses: {', '.join(twice)} listed more than once; keep one")
        return self


def _check_import_id(value: str) -> str:
    if not value.strip():
        raise ValueError("the id is empty; write the object's import id (a bucket name, sg-0123)")
    return value


class ImportOperation(_Operation):
    """``terraform import``: an existing object is recorded under ``to``."""

    op: Literal["import"]
    to: Address = Field(description="The resource (instance) address it is recorded under.")
    id: Annotated[str, AfterValidator(_check_import_id)] = Field(
        json_schema_extra={"minLength": 1},
        description="The object's import id, as the provider's documentation of the "
        "resource type says (a bucket name, sg-0123, ...).",
        examples=["iacdrift-demo-staging-assets"],
    )
    reason: Reason

    @model_validator(mode="after")
    def _resource(self) -> ImportOperation:
        if address_kind(self.to) is AddressKind.MODULE:
            raise ValueError(
                f"to: {self.to!r} is a module; an import names one resource, "
                "e.g. module.app.aws_s3_bucket.this"
            )
        return self


class ReplaceProviderOperation(_Operation):
    """``terraform state replace-provider``: resources recorded under one provider
    source address are recorded under another (a fork, a registry move)."""

    op: Literal["replace-provider"]
    from_: ProviderSource = Field(alias="from", description="The provider the state records.")
    to: ProviderSource = Field(description="The provider to record instead.")
    reason: Reason

    @model_validator(mode="after")
    def _different(self) -> ReplaceProviderOperation:
        if self.from_ == self.to:
            raise ValueError(f"from and to are both {self.to!r}; name the provider to record")
        return self


def _check_lock_id(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError(
            f"{value!r} is not a lock id; copy the ID: line of Terraform's lock error, "
            "without spaces"
        )
    return value


class ForceUnlockOperation(_Operation):
    """``terraform force-unlock`` of a lock left behind (a crashed run).

    Only this lock id is released, and only at apply time after its age and holder
    are checked: a lock that is no longer the same one is refused.
    """

    op: Literal["force-unlock"]
    lockId: Annotated[str, AfterValidator(_check_lock_id)] = Field(
        json_schema_extra={"pattern": r"^\S+$"},
        description="The id of the lock to release, as Terraform's lock error prints it (ID: ...).",
        examples=["6f2c3a0e-1b7d-4c1e-9a55-0d3f2b9c8e41"],
    )
    reason: Reason


Operation = Annotated[
    MoveOperation
    | RemoveOperation
    | ImportOperation
    | ReplaceProviderOperation
    | ForceUnlockOperation,
    Field(discriminator="op"),
]
_OPS = ", ".join(kind.value for kind in OperationKind)


def _check_op(value: object) -> object:
    # Before the tagged union: its own message for a missing or unknown tag names
    # neither the choices' meaning nor what to write.
    if isinstance(value, dict):
        op = value.get("op")
        if op is None:
            raise ValueError(f"op is missing; start the operation with op: one of {_OPS}")
        if op not in {kind.value for kind in OperationKind}:
            raise ValueError(f"unknown op {op!r}; use one of {_OPS}")
    return value


# --- the expected plan --------------------------------------------------------------


class ExpectedAction(StrEnum):
    """What the plan after the operations does to one address (Terraform's words;
    ``replace`` is a delete and a create in either order)."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    FORGET = "forget"
    MOVE = "move"
    IMPORT = "import"
    NO_OP = "no-op"


class ExpectedChange(Strict):
    """One address in the expected plan and exactly what the plan does to it."""

    address: Address
    actions: list[ExpectedAction] = Field(
        json_schema_extra={"minItems": 1},
        description="The plan's actions on the address, in any order; [no-op]: the plan "
        "must not change it.",
    )

    @model_validator(mode="after")
    def _coherent(self) -> ExpectedChange:
        actions = set(self.actions)
        if not actions:
            raise ValueError(
                "actions is empty; write [no-op] for an address the plan must not change"
            )
        if len(actions) != len(self.actions):
            raise ValueError("an action is listed more than once; keep one")
        if ExpectedAction.NO_OP in actions and len(actions) > 1:
            raise ValueError("no-op means the plan leaves the address alone; list it alone")
        if {ExpectedAction.CREATE, ExpectedAction.DELETE} <= actions:
            raise ValueError("a delete and a create of one address is a replace; write replace")
        if ExpectedAction.REPLACE in actions and actions & {
            ExpectedAction.CREATE,
            ExpectedAction.DELETE,
        }:
            raise ValueError("replace already is a delete and a create; write replace alone")
        return self


NO_CHANGES = "no-changes"


def _check_expected(value: str | list[ExpectedChange]) -> str | list[ExpectedChange]:
    if isinstance(value, list):
        if not value:
            raise ValueError("an empty list; write expectedPlan: no-changes instead")
        addresses = [change.address for change in value]
        twice = sorted({a for a in addresses if addresses.count(a) > 1})
        if twice:
            raise ValueError(
                f"{', '.join(twice)} listed more than once; give each address one entry"
            )
    return value


def _expected_plan_form(value: Any) -> str | None:
    if isinstance(value, str):
        return NO_CHANGES if value == NO_CHANGES else None
    if isinstance(value, list):
        return "changes"
    return None


ExpectedPlan = Annotated[
    Annotated[Literal["no-changes"], Tag(NO_CHANGES)]
    | Annotated[list[ExpectedChange], Tag("changes")],
    Discriminator(
        _expected_plan_form,
        custom_error_type="expected_plan",
        custom_error_message="write no-changes, or a list of entries with address and "
        "actions (e.g. - {address: aws_s3_bucket.this, actions: [update]})",
    ),
    AfterValidator(_check_expected),
    Field(
        description="The plan expected after the operations: `no-changes`, or every "
        "address the plan changes with its actions (an address not listed must not "
        "change). A plan that does not match cannot be approved."
    ),
]


# --- the migration file ---------------------------------------------------------------


def _check_operations(value: list[Operation]) -> list[Operation]:
    if not value:
        raise ValueError("no operations; list at least one (op: mv, rm, import, ...)")
    if sum(isinstance(o, ForceUnlockOperation) for o in value) > 1:
        raise ValueError("more than one force-unlock; a state has one lock, name its lockId once")
    return value


class StateMigration(Strict):
    """Operations on one registered stack's state, planned on a copy and reviewed.

    The operations run in the order written. Where configuration can say the same
    (``moved``, ``removed``, ``import`` blocks), ``surgery plan`` shows the blocks:
    prefer them, they are reviewed with the code.
    """

    schemaVersion: Literal[1] = 1
    apiVersion: Literal["iacdrift.dev/v1"] = "iacdrift.dev/v1"
    kind: Literal["StateMigration"]
    id: str = Field(
        pattern=NAME_PATTERN,
        description="Names the migration: lowercase letters, digits and dashes, at most 63.",
        examples=["rename-assets-module"],
    )
    stack: str = Field(pattern=NAME_PATTERN, description="The registered stack's name.")
    summary: str | None = Field(
        default=None, description="What the migration is for, for the reviewers."
    )
    operations: Annotated[
        list[Annotated[Operation, BeforeValidator(_check_op)]],
        AfterValidator(_check_operations),
    ] = Field(description="What to do to the state, in order; each says why.")
    expectedPlan: ExpectedPlan


# --- the surgery plan (a record we write) ------------------------------------------


class MigrationSource(Record):
    """The migration file exactly as planned."""

    id: str = Field(description="The migration's id.")
    content: str = Field(description="The file's text, exactly as read.")
    sha256: str = Field(description="Hex sha256 of the file's bytes (UTF-8 text).")


class SurgeryBinding(Record):
    """What the plan was made from; apply refuses when any of it changed."""

    migrationSha256: str = Field(description="Hex sha256 of the migration file's bytes.")
    stateLineage: str | None = Field(description="The state's lineage when planned.")
    stateSerial: int | None = Field(description="The state's serial when planned.")
    stateVersionId: str | None = Field(
        description="The S3 object version id of the state when planned; null when the "
        "backend keeps no versions."
    )
    filesDigest: str = Field(
        description="sha256 over the stack's files (relative path and content digest, "
        "sorted by path)."
    )
    terraformVersion: str = Field(description="The Terraform (or OpenTofu) version planned with.")
    providers: dict[str, str] = Field(
        default_factory=dict,
        description="Provider source address -> version, as the working copy selected them.",
    )
    hash: str = Field(description="sha256 of the canonical JSON of the fields above.")


class ConfigurationBlock(Record):
    """Whether configuration can say what an operation does, and how."""

    expressible: bool
    block: str | None = Field(
        default=None,
        description="The moved/removed/import block text (several blocks for several "
        "addresses); null when not expressible.",
    )
    why: str | None = Field(default=None, description="Why not, when not expressible.")


class OperationResult(Record):
    """One operation as it ran on the private copy of the state."""

    index: int = Field(ge=1, description="The operation's position in the migration (1-based).")
    operation: Operation = Field(description="The operation as the migration declares it.")
    command: list[str] | None = Field(
        default=None,
        description="The Terraform command run against the local copy, argument by "
        "argument; null when nothing runs at planning (force-unlock runs at apply, after "
        "its lock is checked).",
    )
    addressesBefore: list[str] = Field(
        default_factory=list,
        description="The state's addresses the operation touched, before it ran; sorted.",
    )
    addressesAfter: list[str] = Field(
        default_factory=list,
        description="The same addresses after it ran (new ones for mv and import); sorted.",
    )
    configuration: ConfigurationBlock
    lock: LockHolder | None = Field(
        default=None,
        description="force-unlock: the lock as found when planning (id, holder, operation, "
        "created, where; no age). Apply releases it only while the lock held is this very "
        "one and older than surgery.staleLockAfterMinutes.",
    )


class ResultingChange(Record):
    """One address the plan after the operations changes."""

    address: str
    actions: list[str] = Field(
        description="Terraform's actions in its order (no-op and read left out; move and "
        "import added for a move and an import)."
    )
    previousAddress: str | None = Field(
        default=None, description="For a move in the plan: the address it moves from."
    )


class Expectation(Record):
    expected: ExpectedPlan
    matches: bool = Field(description="The resulting plan is exactly the expected one.")
    differences: list[str] = Field(
        default_factory=list,
        description="One line per address that differs, sorted by address; empty when it matches.",
    )


class SurgeryPlan(Record):
    """The record of ``iacdrift surgery plan``: one migration planned on a copy."""

    schemaVersion: Literal[1] = 1
    kind: Literal["SurgeryPlan"] = "SurgeryPlan"
    planId: str = Field(
        pattern=r"^sp-[0-9a-f]{16}$",
        description="`sp-` and a sha256 prefix of the canonical JSON of everything else in "
        "the plan except createdAt: the same migration, state, files, versions and author "
        "give the same planId.",
    )
    stack: str = Field(description="The stack the migration operates on.")
    migration: MigrationSource
    binding: SurgeryBinding
    author: str = Field(
        pattern=r"^arn:",
        description="Caller identity ARN of the credentials that made the plan "
        "(sts:GetCallerIdentity); an author cannot approve their own plan.",
    )
    createdAt: UtcDatetime
    operations: list[OperationResult] = Field(description="In the migration's order.")
    resultingPlan: list[ResultingChange] = Field(
        default_factory=list,
        description="What the plan of the stack's configuration against the edited copy "
        "changes, sorted by address; empty: no changes.",
    )
    expectation: Expectation
    approvable: bool = Field(
        description="The plan may be approved: false when the result does not match its "
        "expectation."
    )
    configurationAlternative: str | None = Field(
        default=None,
        description="The moved/removed/import blocks that say the whole migration in "
        "configuration, when every operation can be expressed; null otherwise.",
    )

    @model_validator(mode="after")
    def _approvable_only_when_matching(self) -> SurgeryPlan:
        if self.approvable and not self.expectation.matches:
            raise ValueError("a plan whose result does not match its expectation is not approvable")
        return self


class SurgeryApproval(Record):
    """One reviewer's approval of one surgery plan (``iacdrift surgery approve``)."""

    schemaVersion: Literal[1] = 1
    kind: Literal["SurgeryApproval"] = "SurgeryApproval"
    planId: str = Field(pattern=r"^sp-[0-9a-f]{16}$")
    stack: str
    bindingHash: str = Field(description="The plan's binding.hash the reviewer approved.")
    reviewer: str = Field(
        pattern=r"^arn:",
        description="Caller identity of the approving credentials (sts:GetCallerIdentity).",
    )
    approvedAt: UtcDatetime
    comment: str | None = None


class SurgeryStepRecord(Record):
    """One step of ``iacdrift surgery apply``, recorded beside the plan as it happens."""

    schemaVersion: Literal[1] = 1
    kind: Literal["SurgeryStep"] = "SurgeryStep"
    planId: str
    step: str = Field(
        description="resumed | killed-leftovers | snapshot | released-own-lock | unlocked | "
        "pushing | pushed | verifying | verified | verify-failed | rolling-back | "
        "rolled-back | failed"
    )
    at: UtcDatetime
    actor: str
    detail: str
    stateSerial: int | None = None
    stateVersionId: str | None = None
    stateDigest: str | None = Field(
        default=None,
        description="sha256 of what the state says (lineage, resources, outputs; serial "
        "and writer left out): on the snapshot step, what a rollback restores.",
    )


class SurgeryApplyReport(Record):
    """What ``iacdrift surgery apply`` did."""

    schemaVersion: Literal[1] = 1
    kind: Literal["SurgeryApplyReport"] = "SurgeryApplyReport"
    planId: str
    stack: str
    result: Literal["applied", "dry-run", "refused", "rolled-back", "failed"] = Field(
        description="dry-run: without --yes, every check passed and nothing was done "
        "(reason says what --yes would do)."
    )
    reason: str | None = None
    approvals: list[str] = Field(default_factory=list, description="Reviewers counted.")
    snapshotVersionId: str | None = None
    steps: list[SurgeryStepRecord] = Field(default_factory=list)
    resultingPlan: list[ResultingChange] = Field(default_factory=list)
    exitCode: int


class StateObject(Record):
    """One state object as read from the backend."""

    lineage: str | None = None
    serial: int | None = None
    versionId: str | None = None


class SurgeryStatus(Record):
    """What ``iacdrift surgery status`` says: where one surgery stands."""

    schemaVersion: Literal[1] = 1
    kind: Literal["SurgeryStatus"] = "SurgeryStatus"
    planId: str
    stack: str
    condition: Literal[
        "not-started",
        "pushed-unverified",
        "applied",
        "rolled-back",
        "changed-elsewhere",
        "no-state",
    ] = Field(
        description="not-started: the state is the one planned against; "
        "pushed-unverified: the edited state is in place, not verified yet; applied: in "
        "place and verified; rolled-back: the snapshot is the state again; "
        "changed-elsewhere: someone wrote the state since; no-state: no state object."
    )
    stateNow: StateObject | None = Field(description="The state object now; null: none.")
    planned: StateObject = Field(description="The state object the plan was made against.")
    snapshotVersionId: str | None = Field(
        default=None, description="The object version apply started from, once recorded."
    )
    steps: list[SurgeryStepRecord] = Field(default_factory=list)
    lock: LockHolder | None = Field(
        default=None, description="Terraform's lock on the state now; null: free."
    )
    lease: str | None = Field(
        default=None,
        description="The orchestrator lease holder of the stack now (hostname:pid:run), "
        "when one holds it.",
    )
    leftovers: list[str] = Field(
        default_factory=list,
        description="Terraform processes left running by an iacdrift that is gone "
        "(pid and command); apply kills them before it goes on.",
    )
    command: str | None = Field(
        default=None, description="The one command that finishes or rolls back; null: none."
    )
    detail: str = Field(description="What the command does, or why there is none.")
    exitCode: int = Field(
        description="0 nothing left to do (applied, rolled back); 1 a command remains, or "
        "a person must look (changed elsewhere, no state)."
    )
