"""Our policy formats: the YAML documents in ``policies/`` beside ``iacdrift.yaml``.

A policy file holds one or more YAML documents; each document's ``kind`` picks
its model (:data:`KIND_MODELS`). Every document carries an ``id``, unique across
all policy files, so a finding can name the rule that decided it.

==================  ====================================================================
kind                what it says
==================  ====================================================================
FieldOwnership      per resource type: which fields Git, the runtime or a controller owns
IgnoreRule          a governed exception: these fields of these resources, why, whose,
                    until when
AutoHealPolicy      where a silent revert is allowed: types, tiers, environments, paths,
                    and how many objects at most
Guardrail           a condition a live resource must never meet, from an effective date
DecisionTable       (drift class, domain, environment, risk) -> action, auto-heal; first
                    matching row wins
Route               (drift class, domain, environment, minimum risk) -> notify targets
==================  ====================================================================

Paths are RFC 6901 JSON pointers into a resource's attributes as iacdrift compares
them (``/ingress/0/cidr_blocks``, ``/tags/owner``; JSON documents such as IAM
policies are addressed as the parsed object, ``/policy/Statement/0/Action``).
``~1`` writes a ``/`` and ``~0`` a ``~`` inside a key. A segment that is exactly
``*`` matches any one key or list position (``/ingress/*/description``); a ``*``
inside a longer segment is not a wildcard and is refused, so a rule never means
something other than what it looks like. A path covers everything below it
(:mod:`iacdrift.primitives.pointer`; globs: :mod:`iacdrift.primitives.glob`).

Strict on purpose, like the registry: unknown fields are rejected
(``extra="forbid"``) so a typo never silently widens or disables a rule.
The matching methods here (``matches``, ``covers``, ``holds``, ``decide``) are
the documented semantics of the formats: pure, data in and data out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from iacdrift.models.finding import Action, Domain, DriftClass, Risk
from iacdrift.models.registry import NAME_PATTERN, RiskTier, Strict
from iacdrift.primitives.glob import (
    address_matches,
    glob_covers,
    glob_matches,
    glob_problem,
    is_match_all,
)
from iacdrift.primitives.pointer import (
    pointer_covers,
    pointer_problem,
    pointer_specificity,
    pointers_overlap,
    values_at,
)

_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# --- value types -----------------------------------------------------------------------


def _check_field_path(value: str) -> str:
    if value == "":
        raise ValueError(
            "the empty pointer means the whole resource; name the fields, e.g. /tags/owner"
        )
    problem = pointer_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_check_path(value: str) -> str:
    problem = pointer_problem(value) if value else None
    if problem:
        raise ValueError(problem)
    return value


_POINTER_JSON_PATTERN = r"^(/([^/~]|~[01])+)+$"

FieldPath = Annotated[
    str,
    AfterValidator(_check_field_path),
    Field(
        description="RFC 6901 JSON pointer into the resource's attributes; a segment that is "
        "exactly * matches any key or position; covers everything below it.",
        examples=["/tags/owner", "/ingress/*/description"],
        json_schema_extra={"pattern": _POINTER_JSON_PATTERN},
    ),
]
CheckPath = Annotated[
    str,
    AfterValidator(_check_check_path),
    Field(
        description="RFC 6901 JSON pointer, relative to the value being checked; empty: that "
        "value itself; a segment that is exactly * fans out over every key or position.",
        examples=["/ingress", "/cidr_blocks", ""],
        json_schema_extra={"pattern": r"^((/([^/~]|~[01])+)+)?$"},
    ),
]


def _check_glob(value: str) -> str:
    problem = glob_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Glob = Annotated[
    str,
    AfterValidator(_check_glob),
    Field(
        description="The exact value, or a shell-style glob (case-sensitive): * any text, "
        "? one character, [...] one of the characters.",
        examples=["prod", "module.web.*"],
    ),
]


def _check_day(value: object) -> object:
    # YAML reads an unquoted 2026-12-31 as a date; pydantic alone would also take a
    # Unix timestamp (20261231 seconds) or a datetime, which nobody means here.
    if isinstance(value, datetime):
        raise ValueError(
            f"expected a date written YYYY-MM-DD, got a timestamp ({value.isoformat()}); "
            "drop the time"
        )
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_TEXT.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a calendar date ({exc}); fix the date") from exc
    raise ValueError(f"expected a date written YYYY-MM-DD, e.g. 2026-12-31 (got {value!r})")


Day = Annotated[
    date,
    BeforeValidator(_check_day),
    Field(description="A calendar date, YYYY-MM-DD.", examples=["2026-12-31"]),
]
ResourceType = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$",
        description="Terraform resource type, e.g. aws_security_group.",
        examples=["aws_security_group"],
    ),
]
PolicyId = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="Unique across all policy files: lowercase letters, digits and dashes, "
        "at most 63. Findings name the rule by it.",
    ),
]
Text = Annotated[str, Field(min_length=1)]


def _duplicates(values: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    twice: set[str] = set()
    for value in values:
        (twice if value in seen else seen).add(value)
    return sorted(twice)


# --- shared -------------------------------------------------------------------------


class PolicyKind(StrEnum):
    FIELD_OWNERSHIP = "FieldOwnership"
    IGNORE_RULE = "IgnoreRule"
    AUTO_HEAL_POLICY = "AutoHealPolicy"
    GUARDRAIL = "Guardrail"
    DECISION_TABLE = "DecisionTable"
    ROUTE = "Route"


class PolicyBase(Strict):
    schemaVersion: Literal[1] = 1
    apiVersion: Literal["iacdrift.dev/v1"] = "iacdrift.dev/v1"
    id: PolicyId


# --- FieldOwnership ----------------------------------------------------------------


class OwnerKind(StrEnum):
    """Who owns a field, i.e. whose change is expected."""

    GIT = "git"
    RUNTIME = "runtime"
    CONTROLLER = "controller"


class ControllerOwnedField(Strict):
    path: FieldPath
    owner: Text = Field(description="The controller that writes the field, e.g. an autoscaler.")
    condition: str | None = Field(
        default=None,
        description="When the controller owns it, for people and for the finding's reason "
        "(recorded, not evaluated).",
    )


@dataclass(frozen=True)
class FieldOwner:
    """The ownership rule that decides one field."""

    kind: OwnerKind
    path: str
    owner: str | None = None
    condition: str | None = None


class FieldOwnership(PolicyBase):
    """Who owns which fields of one resource type.

    A controller- or runtime-owned field that differs is CONTROLLER_OWNED_DRIFT
    (info, not alerted). A git-owned field stays Terraform's even when it is under
    the resource's ``lifecycle.ignore_changes``. The most specific path decides
    (more segments, then fewer ``*``); on a tie Git wins, then runtime.
    """

    kind: Literal["FieldOwnership"]
    resourceType: ResourceType
    description: str | None = None
    gitOwned: list[FieldPath] = Field(
        default_factory=list, description="Fields the configuration owns: drift here is real."
    )
    runtimeOwned: list[FieldPath] = Field(
        default_factory=list,
        description="Fields the provider or the cloud itself writes (e.g. last-used dates).",
    )
    controllerOwned: list[ControllerOwnedField] = Field(
        default_factory=list, description="Fields a named controller writes."
    )

    @model_validator(mode="after")
    def _one_owner_per_path(self) -> FieldOwnership:
        paths = [*self.gitOwned, *self.runtimeOwned, *(f.path for f in self.controllerOwned)]
        if not paths:
            raise ValueError(
                "no fields listed; add gitOwned, runtimeOwned or controllerOwned paths"
            )
        twice = _duplicates(paths)
        if twice:
            raise ValueError(f"{', '.join(twice)} listed more than once; give each path one owner")
        return self

    def owner_of(self, pointer: str) -> FieldOwner | None:
        """The rule owning the concrete field ``pointer``; None when no path covers it."""
        candidates: list[tuple[tuple[int, int], int, FieldOwner]] = []
        for path in self.gitOwned:
            candidates.append((pointer_specificity(path), 2, FieldOwner(OwnerKind.GIT, path)))
        for path in self.runtimeOwned:
            candidates.append((pointer_specificity(path), 1, FieldOwner(OwnerKind.RUNTIME, path)))
        for field in self.controllerOwned:
            owner = FieldOwner(OwnerKind.CONTROLLER, field.path, field.owner, field.condition)
            candidates.append((pointer_specificity(field.path), 0, owner))
        covering = [c for c in candidates if pointer_covers(c[2].path, pointer)]
        if not covering:
            return None
        return max(covering, key=lambda c: (c[0], c[1]))[2]


# --- IgnoreRule -------------------------------------------------------------------------


class IgnoreMatch(Strict):
    resourceType: ResourceType
    address: Glob | None = Field(
        default=None, description="Terraform address, e.g. module.web.aws_security_group.this."
    )
    stack: Glob | None = Field(default=None, description="Registered stack name.")
    environment: Glob | None = Field(default=None, description="The stack's environment.")
    tags: dict[str, Glob] = Field(
        default_factory=dict,
        description="Tags the resource must carry; values are globs (* = any value).",
    )

    @property
    def scoped(self) -> bool:
        """Narrower than "every resource of the type": address, stack, environment or tags."""
        globs = (self.address, self.stack, self.environment)
        return bool(self.tags) or not all(is_match_all(glob) for glob in globs)

    def matches(
        self,
        *,
        resource_type: str,
        address: str | None,
        stack: str | None,
        environment: str | None,
        tags: Mapping[str, str] | None = None,
    ) -> bool:
        tags = tags or {}
        return (
            resource_type == self.resourceType
            and address_matches(self.address, address)
            and glob_matches(self.stack, stack)
            and glob_matches(self.environment, environment)
            and all(glob_matches(value, tags.get(key)) for key, value in self.tags.items())
        )

    def covers(self, other: IgnoreMatch) -> bool:
        """Every resource ``other`` matches, this matches too (conservative)."""
        return (
            self.resourceType == other.resourceType
            and glob_covers(self.address, other.address)
            and glob_covers(self.stack, other.stack)
            and glob_covers(self.environment, other.environment)
            and all(
                key in other.tags and glob_covers(value, other.tags[key])
                for key, value in self.tags.items()
            )
        )


class IgnoreRule(PolicyBase):
    """Differences in these fields of these resources are not drift, until ``expires``.

    Ignored differences still appear in the stack result, marked with the rule id.
    The rule applies through its ``expires`` day; from the next day it stops
    applying and ``iacdrift policy lint`` reports it.
    """

    kind: Literal["IgnoreRule"]
    match: IgnoreMatch
    paths: list[FieldPath] = Field(min_length=1, description="The fields to ignore.")
    reason: Text = Field(description="Why these differences are acceptable.")
    owner: Text = Field(description="Team accountable for the exception.")
    expires: Day | None = Field(
        default=None,
        description="Last day the rule applies. Required by `iacdrift policy lint`.",
    )

    @model_validator(mode="after")
    def _unique_paths(self) -> IgnoreRule:
        twice = _duplicates(self.paths)
        if twice:
            raise ValueError(f"paths: {', '.join(twice)} listed more than once; keep one")
        return self

    def active(self, today: date) -> bool:
        return self.expires is None or today <= self.expires

    def covers(self, pointer: str) -> bool:
        """The field ``pointer`` lies under one of the rule's paths."""
        return any(pointer_covers(path, pointer) for path in self.paths)


# --- AutoHealPolicy -------------------------------------------------------------------


class AutoHealScope(Strict):
    resourceTypes: list[ResourceType] = Field(min_length=1)
    riskTiers: list[RiskTier] = Field(
        default_factory=list, description="Stacks' risk tiers; empty: any tier."
    )
    environments: list[Glob] = Field(
        default_factory=list, description="Stacks' environments; empty: any environment."
    )


class AutoHealPolicy(PolicyBase):
    """Where a drift may be reverted without a person: bounded by type, tier, environment,
    paths and object count.

    A changed field may be healed when an allowed path covers it and no denied
    path overlaps it (a denied path always wins). Healing also needs the stack's
    ``policies.autoHeal`` switch and a decision row with ``autoHealAllowed``.
    """

    kind: Literal["AutoHealPolicy"]
    description: str | None = None
    appliesTo: AutoHealScope
    allowedPaths: list[FieldPath] = Field(min_length=1)
    deniedPaths: list[FieldPath] = Field(default_factory=list)
    maxObjectsPerReconcile: int = Field(
        ge=1, description="Refuse to heal when more objects than this would change at once."
    )
    requireHealthyBeforeHeal: bool = Field(
        default=True, description="Heal only when the previous run of the stack was healthy."
    )

    @model_validator(mode="after")
    def _paths(self) -> AutoHealPolicy:
        both = sorted(set(self.allowedPaths) & set(self.deniedPaths))
        if both:
            raise ValueError(
                f"{', '.join(both)} both allowed and denied; a denied path always wins, "
                "remove it from allowedPaths"
            )
        twice = _duplicates(self.allowedPaths) + _duplicates(self.deniedPaths)
        if twice:
            raise ValueError(f"{', '.join(twice)} listed more than once; keep one")
        return self

    def applies_to(
        self, *, resource_type: str, risk_tier: str | None, environment: str | None
    ) -> bool:
        scope = self.appliesTo
        tiers = {tier.value for tier in scope.riskTiers}
        return (
            resource_type in scope.resourceTypes
            and (not tiers or risk_tier in tiers)
            and (
                not scope.environments
                or any(glob_matches(glob, environment) for glob in scope.environments)
            )
        )

    def permits(self, pointer: str) -> bool:
        """The changed field ``pointer`` may be healed under this policy."""
        if any(pointers_overlap(denied, pointer) for denied in self.deniedPaths):
            return False
        return any(pointer_covers(allowed, pointer) for allowed in self.allowedPaths)


# --- Guardrail ------------------------------------------------------------------------


class CheckOperator(StrEnum):
    EQUALS = "equals"
    CONTAINS = "contains"
    MATCHES = "matches"
    AT_MOST = "at-most"
    AT_LEAST = "at-least"
    ANY_ELEMENT_MATCHES = "any-element-matches"
    ANY_OF = "any-of"


_COMPOUND = frozenset({CheckOperator.ANY_ELEMENT_MATCHES, CheckOperator.ANY_OF})


def _same(a: Any, b: Any) -> bool:
    # Check's equality (equals, contains). Terraform has one number type (22 == 22.0)
    # but a boolean is never a number.
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Check(Strict):
    """A small declarative test on a resource's attributes.

    ``path`` selects values (``*`` segments fan out; a missing path selects
    nothing and the check is false); the check holds when it holds for any
    selected value:

    * ``equals``: the value equals ``value`` (22 equals 22.0; a boolean is never
      a number);
    * ``contains``: a list with an element equal to ``value``, or a string
      containing the string ``value``;
    * ``matches``: a string that the regular expression ``value`` matches in full;
    * ``at-most`` / ``at-least``: a number <= / >= ``value``;
    * ``any-element-matches``: a list with one element for which every check in
      ``where`` holds (their paths are relative to the element);
    * ``any-of``: at least one check in ``where`` holds (paths relative to the
      selected value).

    Attributes are the normalized ones: JSON documents parsed, IAM policies
    canonicalized (``Action``, ``Resource`` and principal values are lists).
    """

    path: CheckPath = ""
    operator: CheckOperator
    value: Any = Field(
        default=None, description="For equals, contains, matches, at-most, at-least."
    )
    where: list[Check] = Field(
        default_factory=list, description="For any-element-matches and any-of: the inner checks."
    )

    @model_validator(mode="after")
    def _operands(self) -> Check:
        operator = self.operator.value
        if self.operator in _COMPOUND:
            if not self.where:
                raise ValueError(f"operator {operator} needs `where`: a list of checks")
            if self.value is not None:
                raise ValueError(f"operator {operator} takes `where`, not `value`; remove value")
            return self
        if self.where:
            raise ValueError(f"operator {operator} takes `value`, not `where`; remove where")
        if self.value is None:
            raise ValueError(f"operator {operator} needs `value`; add it")
        if self.operator is CheckOperator.MATCHES:
            if not isinstance(self.value, str):
                raise ValueError("operator matches needs a regular expression string as value")
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(
                    f"value {self.value!r} is not a regular expression: {exc}"
                ) from exc
        if self.operator in (CheckOperator.AT_MOST, CheckOperator.AT_LEAST) and not _is_number(
            self.value
        ):
            raise ValueError(f"operator {operator} needs a number as value (got {self.value!r})")
        return self

    def holds(self, document: Any) -> bool:
        return any(self._holds_for(target) for target in values_at(document, self.path))

    def culprits(self, document: Any) -> list[Any]:
        """The values that make the check hold: the matching targets at ``path``, or for
        any-element-matches the matching elements (not the whole list)."""
        found: list[Any] = []
        for target in values_at(document, self.path):
            if self.operator is CheckOperator.ANY_ELEMENT_MATCHES and isinstance(target, list):
                found.extend(
                    element
                    for element in target
                    if all(check.holds(element) for check in self.where)
                )
            elif self._holds_for(target):
                found.append(target)
        return found

    def _holds_for(self, target: Any) -> bool:
        op = self.operator
        if op is CheckOperator.EQUALS:
            return _same(target, self.value)
        if op is CheckOperator.CONTAINS:
            if isinstance(target, list):
                return any(_same(element, self.value) for element in target)
            return isinstance(target, str) and isinstance(self.value, str) and self.value in target
        if op is CheckOperator.MATCHES:
            return isinstance(target, str) and re.fullmatch(self.value, target) is not None
        if op is CheckOperator.AT_MOST:
            return _is_number(target) and bool(target <= self.value)
        if op is CheckOperator.AT_LEAST:
            return _is_number(target) and bool(target >= self.value)
        if op is CheckOperator.ANY_ELEMENT_MATCHES:
            return isinstance(target, list) and any(
                all(check.holds(element) for check in self.where) for element in target
            )
        return any(check.holds(target) for check in self.where)


class Guardrail(PolicyBase):
    """A condition that a live resource of ``resourceType`` must never meet.

    ``rule`` describes the violation: the resource violates the guardrail when
    the rule holds on its attributes. A resource created before
    ``effectiveDate`` that violates it, with no manual change, is POLICY_DRIFT.
    """

    kind: Literal["Guardrail"]
    resourceType: ResourceType
    description: Text = Field(description="What is forbidden and why, in one line.")
    effectiveDate: Day = Field(description="The first day the guardrail is enforced.")
    rule: Check = Field(description="The forbidden condition.")

    def in_effect(self, today: date) -> bool:
        return today >= self.effectiveDate

    def violated_by(self, attributes: Any) -> bool:
        return self.rule.holds(attributes)


# --- DecisionTable --------------------------------------------------------------------


class DecisionMatch(Strict):
    """What a row matches; an omitted field matches anything."""

    driftClass: DriftClass | None = None
    domain: Domain | None = None
    environment: Glob | None = None
    risk: Risk | None = None

    def matches(
        self, *, drift_class: DriftClass, domain: Domain, environment: str | None, risk: Risk
    ) -> bool:
        return (
            self.driftClass in (None, drift_class)
            and self.domain in (None, domain)
            and glob_matches(self.environment, environment)
            and self.risk in (None, risk)
        )

    def covers(self, other: DecisionMatch) -> bool:
        return (
            self.driftClass in (None, other.driftClass)
            and self.domain in (None, other.domain)
            and glob_covers(self.environment, other.environment)
            and self.risk in (None, other.risk)
        )


class DecisionRow(Strict):
    match: DecisionMatch = Field(default_factory=DecisionMatch)
    recommendedAction: Action
    autoHealAllowed: bool = Field(
        default=False,
        description="A REVERT may run without a person, within an AutoHealPolicy's bounds "
        "and the stack's policies.autoHeal switch.",
    )
    reason: str | None = Field(default=None, description="Why; carried into the finding.")

    @model_validator(mode="after")
    def _heal_is_a_revert(self) -> DecisionRow:
        if self.autoHealAllowed and self.recommendedAction is not Action.REVERT:
            raise ValueError(
                f"autoHealAllowed only applies to REVERT (action is "
                f"{self.recommendedAction.value}); set autoHealAllowed: false"
            )
        return self


class DecisionTable(PolicyBase):
    """(drift class, domain, environment, risk) -> recommendedAction, autoHealAllowed.

    Rows are tried in order; the first row that matches decides. At most one
    DecisionTable exists across the policy files.
    """

    kind: Literal["DecisionTable"]
    description: str | None = None
    rows: list[DecisionRow] = Field(min_length=1)

    def decide(
        self, *, drift_class: DriftClass, domain: Domain, environment: str | None, risk: Risk
    ) -> tuple[int, DecisionRow] | None:
        """The first matching row and its index; None when no row matches."""
        for index, row in enumerate(self.rows):
            if row.match.matches(
                drift_class=drift_class, domain=domain, environment=environment, risk=risk
            ):
                return index, row
        return None


# --- Route ------------------------------------------------------------------------


class NotifyType(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    JSONL = "jsonl"
    STDOUT = "stdout"


class NotifyTarget(Strict):
    type: NotifyType = Field(
        description="webhook: JSON POST to url; slack: a Slack-compatible webhook payload to "
        "url; jsonl: one JSON line per finding appended to path; stdout: print."
    )
    url: str | None = Field(default=None, description="http(s) URL, for webhook and slack.")
    path: str | None = Field(
        default=None, description="For jsonl: the file, relative to the project root or absolute."
    )

    @model_validator(mode="after")
    def _destination(self) -> NotifyTarget:
        kind = self.type.value
        if self.type in (NotifyType.WEBHOOK, NotifyType.SLACK):
            if not self.url:
                raise ValueError(f"a {kind} target needs url (http:// or https://)")
            if not re.match(r"^https?://[^\s/]+", self.url):
                raise ValueError(f"url {self.url!r} is not an http(s) URL; write https://host/...")
            if self.path is not None:
                raise ValueError(f"a {kind} target posts to url; remove path")
        elif self.type is NotifyType.JSONL:
            if not self.path:
                raise ValueError("a jsonl target needs path (the file to append to)")
            if self.url is not None:
                raise ValueError("a jsonl target writes to path; remove url")
        elif self.url is not None or self.path is not None:
            raise ValueError("a stdout target takes neither url nor path; remove them")
        return self


class RouteMatch(Strict):
    """What a route matches; an omitted field matches anything."""

    driftClass: DriftClass | None = None
    domain: Domain | None = None
    environment: Glob | None = None
    minRisk: Risk | None = Field(default=None, description="This risk or higher.")

    def matches(
        self, *, drift_class: DriftClass, domain: Domain, environment: str | None, risk: Risk
    ) -> bool:
        return (
            self.driftClass in (None, drift_class)
            and self.domain in (None, domain)
            and glob_matches(self.environment, environment)
            and (self.minRisk is None or risk.rank >= self.minRisk.rank)
        )

    def covers(self, other: RouteMatch) -> bool:
        return (
            self.driftClass in (None, other.driftClass)
            and self.domain in (None, other.domain)
            and glob_covers(self.environment, other.environment)
            and (
                self.minRisk is None
                or (other.minRisk is not None and other.minRisk.rank >= self.minRisk.rank)
            )
        )


class Route(PolicyBase):
    """Where matching findings go.

    Routes are tried in policy order (file name, then document order); the first
    that matches decides, unless it says ``continueMatching: true``, when later routes are
    tried as well. A route with no targets silences what it matches. A finding
    with ``alert: false`` never pages, whatever the route (a route may still file
    it as an issue).
    """

    kind: Literal["Route"]
    description: str | None = None
    match: RouteMatch = Field(default_factory=RouteMatch)
    notify: list[NotifyTarget] = Field(default_factory=list)
    createIncident: bool = False
    createIssue: bool = False
    continueMatching: bool = Field(
        default=False, description="Also try the routes after this one when it matches."
    )


# --- loaded policies ----------------------------------------------------------------

PolicyDocument = FieldOwnership | IgnoreRule | AutoHealPolicy | Guardrail | DecisionTable | Route

KIND_MODELS: dict[PolicyKind, type[PolicyDocument]] = {
    PolicyKind.FIELD_OWNERSHIP: FieldOwnership,
    PolicyKind.IGNORE_RULE: IgnoreRule,
    PolicyKind.AUTO_HEAL_POLICY: AutoHealPolicy,
    PolicyKind.GUARDRAIL: Guardrail,
    PolicyKind.DECISION_TABLE: DecisionTable,
    PolicyKind.ROUTE: Route,
}

D = TypeVar("D", bound=PolicyBase)


@dataclass(frozen=True)
class PolicySource:
    """One loaded document and where it came from."""

    name: str  # file name within the policy directory: the version is computed over it
    file: str  # the file as shown to the user, e.g. policies/ignore.yaml
    position: int  # 1-based document number within the file
    document: PolicyDocument
    where: str  # the file, or "<file> (document N)" when the file holds several


@dataclass(frozen=True)
class PolicySet:
    """Every loaded policy document in policy order (file name, then position).

    ``version`` is the content hash recorded in every finding: ``sha256:<hex>``.
    """

    version: str
    sources: tuple[PolicySource, ...] = ()

    def of_kind(self, model: type[D]) -> list[D]:
        return [s.document for s in self.sources if isinstance(s.document, model)]

    def sources_of(self, model: type[PolicyBase]) -> Iterator[PolicySource]:
        return (s for s in self.sources if isinstance(s.document, model))

    @property
    def ignore_rules(self) -> list[IgnoreRule]:
        return self.of_kind(IgnoreRule)

    @property
    def field_ownership(self) -> dict[str, FieldOwnership]:
        """By resource type (the loader allows one document per type)."""
        return {doc.resourceType: doc for doc in self.of_kind(FieldOwnership)}

    @property
    def auto_heal_policies(self) -> list[AutoHealPolicy]:
        return self.of_kind(AutoHealPolicy)

    @property
    def guardrails(self) -> list[Guardrail]:
        return self.of_kind(Guardrail)

    @property
    def decision_table(self) -> DecisionTable | None:
        tables = self.of_kind(DecisionTable)
        return tables[0] if tables else None

    @property
    def routes(self) -> list[Route]:
        return self.of_kind(Route)

    def source_of(self, document_id: str) -> PolicySource:
        for source in self.sources:
            if source.document.id == document_id:
                return source
        raise KeyError(document_id)


# --- lint findings -----------------------------------------------------------------


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class LintFinding(BaseModel):
    """One problem ``iacdrift policy lint`` found in a policy document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ruleId: str = Field(description="The id of the document the finding is about.")
    kind: PolicyKind
    file: str
    severity: Severity
    message: str = Field(description="One line: what is wrong and what to do.")
