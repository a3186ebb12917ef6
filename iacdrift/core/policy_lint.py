"""Review policy documents the way a careful reviewer would: ``lint(policies, today)``.

Pure: a :class:`~iacdrift.models.policy.PolicySet` and the day in, a list of
:class:`~iacdrift.models.policy.LintFinding` out, sorted by (file, rule id,
severity, message).

Ignore rules are a risk surface: an ignored field is a field nobody watches.
What is flagged, and why:

=====================================================  ========  ==============================
finding                                                severity  why
=====================================================  ========  ==============================
ignore rule path covers a critical field (or lies in)  error     it hides identity, image,
                                                                 network, privilege,
                                                                 persistence or command
                                                                 execution drift
ignore rule path made only of ``*`` segments           error     it hides every field
ignore rule without address, stack, environment, tags  error     every resource of the type
ignore rule without ``expires``                        error     exceptions must be revisited
ignore rule expired                                    warning   it no longer applies
ignore rule expiring more than a year ahead            warning   effectively permanent
ignore rule shadowed by another                        warning   dead text that misleads
controller/runtime-owned path on a critical field      error     such drift is never alerted
auto-heal on an IAM/network/secrets/database type      error     never silently auto-healed
auto-heal allowed path on a critical field, not denied warning   a revert may destroy evidence
decision row allowing auto-heal for one of those        error     same
decision row or route that can never match             warning   dead text that misleads
=====================================================  ========  ==============================

Critical fields are the catalogue's (``core.resource_types.CRITICAL_FIELDS``).

"Covers" is prefix either way with ``*`` matching any segment: ignoring
``/ingress`` hides ``/ingress/0/cidr_blocks``, and ignoring
``/ingress/*/cidr_blocks`` hides part of the ingress rules. Rule A shadows rule B
when A is active, matches every resource B matches, ignores every path B
ignores, and lasts at least as long; of two identical rules the later one is
reported.
"""

from __future__ import annotations

from datetime import date, timedelta

from iacdrift.core.resource_types import CRITICAL_FIELDS, FieldCategory
from iacdrift.core.risk import NEVER_AUTO_HEAL, domain_of
from iacdrift.models.finding import Domain
from iacdrift.models.policy import (
    AutoHealPolicy,
    DecisionMatch,
    DecisionTable,
    FieldOwnership,
    IgnoreRule,
    LintFinding,
    PolicyKind,
    PolicySet,
    PolicySource,
    Route,
    Severity,
)
from iacdrift.primitives.pointer import (
    WILDCARD,
    pointer_covers,
    pointer_segments,
    pointers_overlap,
)

# An expiry further ahead than this is "effectively permanent".
MAX_EXPIRY = timedelta(days=366)


def critical_overlaps(resource_type: str, path: str) -> list[tuple[str, FieldCategory]]:
    """The critical fields of ``resource_type`` that ``path`` covers or lies in, sorted."""
    fields = CRITICAL_FIELDS.get(resource_type, {})
    return sorted(
        (field, category) for field, category in fields.items() if pointers_overlap(path, field)
    )


def lint(policies: PolicySet, today: date) -> list[LintFinding]:
    """Every lint finding of ``policies`` on ``today``, sorted by (file, rule id, severity,
    message)."""
    findings: list[LintFinding] = []
    findings.extend(_ignore_rule_findings(policies, today))
    for source in policies.sources:
        document = source.document
        if isinstance(document, FieldOwnership):
            findings.extend(_ownership_findings(source, document))
        elif isinstance(document, AutoHealPolicy):
            findings.extend(_auto_heal_findings(source, document))
        elif isinstance(document, DecisionTable):
            findings.extend(_decision_findings(source, document))
    findings.extend(_route_findings(policies))
    return sorted(findings, key=lambda f: (f.file, f.ruleId, f.severity.value, f.message))


def has_errors(findings: list[LintFinding]) -> bool:
    return any(finding.severity is Severity.ERROR for finding in findings)


def _finding(source: PolicySource, severity: Severity, message: str) -> LintFinding:
    return LintFinding(
        ruleId=source.document.id,
        kind=PolicyKind(source.document.kind),
        file=source.file,
        severity=severity,
        message=message,
    )


def _hidden(resource_type: str, path: str) -> str | None:
    """What ``path`` would hide on ``resource_type``, said in a phrase; None if nothing."""
    if all(segment == WILDCARD for segment in pointer_segments(path)):
        return "every field of the resource"
    overlaps = critical_overlaps(resource_type, path)
    if not overlaps:
        return None
    return ", ".join(f"{category.value} field {field}" for field, category in overlaps)


# --- ignore rules -----------------------------------------------------------------


def _ignore_rule_findings(policies: PolicySet, today: date) -> list[LintFinding]:
    findings: list[LintFinding] = []
    sources = list(policies.sources_of(IgnoreRule))
    for source in sources:
        rule = source.document
        assert isinstance(rule, IgnoreRule)
        resource_type = rule.match.resourceType
        for path in rule.paths:
            hidden = _hidden(resource_type, path)
            if hidden:
                findings.append(
                    _finding(
                        source,
                        Severity.ERROR,
                        f"path {path} would hide {hidden} of {resource_type}; ignore only "
                        "fields a controller or the runtime owns (narrow the path), and fix "
                        "drift in critical fields instead",
                    )
                )
        if not rule.match.scoped:
            findings.append(
                _finding(
                    source,
                    Severity.ERROR,
                    f"unscoped: matches every {resource_type} everywhere; scope it by "
                    "match.address, match.stack, match.environment or match.tags",
                )
            )
        if rule.expires is None:
            findings.append(
                _finding(
                    source,
                    Severity.ERROR,
                    "no expiry; add expires: YYYY-MM-DD so the exception is revisited",
                )
            )
        elif not rule.active(today):
            findings.append(
                _finding(
                    source,
                    Severity.WARNING,
                    f"expired on {rule.expires.isoformat()}: no longer applied; review it and "
                    "set a new expiry, or delete it",
                )
            )
        elif rule.expires - today > MAX_EXPIRY:
            findings.append(
                _finding(
                    source,
                    Severity.WARNING,
                    f"expires {rule.expires.isoformat()}, more than a year ahead; set an "
                    "expiry within a year so the exception is reviewed",
                )
            )
        shadow = _shadowing(source, sources, today)
        if shadow is not None:
            findings.append(
                _finding(
                    source,
                    Severity.WARNING,
                    f"shadowed by {shadow.document.id!r} ({shadow.where}), which already "
                    "ignores every path of this rule on every resource it matches; delete "
                    "one of them",
                )
            )
    return findings


def _shadows(outer: IgnoreRule, inner: IgnoreRule) -> bool:
    lasts = outer.expires is None or (inner.expires is not None and outer.expires >= inner.expires)
    return (
        lasts
        and outer.match.covers(inner.match)
        and all(any(pointer_covers(o, i) for o in outer.paths) for i in inner.paths)
    )


def _shadowing(
    source: PolicySource, sources: list[PolicySource], today: date
) -> PolicySource | None:
    """The first active rule that shadows ``source``'s rule; mutual shadows: the earlier."""
    rule = source.document
    assert isinstance(rule, IgnoreRule)
    if not rule.active(today):
        return None
    index = sources.index(source)
    for position, other in enumerate(sources):
        candidate = other.document
        assert isinstance(candidate, IgnoreRule)
        if other is source or not candidate.active(today) or not _shadows(candidate, rule):
            continue
        # Two rules that shadow each other: only the later one is reported.
        if position > index and _shadows(rule, candidate):
            continue
        return other
    return None


# --- field ownership -----------------------------------------------------------------


def _ownership_findings(source: PolicySource, ownership: FieldOwnership) -> list[LintFinding]:
    quiet = [("runtime-owned", path) for path in ownership.runtimeOwned] + [
        (f"controller-owned ({field.owner})", field.path) for field in ownership.controllerOwned
    ]
    findings = []
    for label, path in quiet:
        hidden = _hidden(ownership.resourceType, path)
        if hidden:
            findings.append(
                _finding(
                    source,
                    Severity.ERROR,
                    f"{label} path {path} would make drift in {hidden} of "
                    f"{ownership.resourceType} quiet (CONTROLLER_OWNED_DRIFT is never "
                    "alerted); list it under gitOwned or narrow the path",
                )
            )
    return findings


# --- auto-heal -----------------------------------------------------------------------


def _auto_heal_findings(source: PolicySource, policy: AutoHealPolicy) -> list[LintFinding]:
    findings = []
    for resource_type in policy.appliesTo.resourceTypes:
        domain = domain_of(resource_type)
        if domain in NEVER_AUTO_HEAL:
            findings.append(
                _finding(
                    source,
                    Severity.ERROR,
                    f"auto-heal on {resource_type} ({domain.value}): IAM, network, secrets "
                    "and database drift is never silently auto-healed; remove the type "
                    "from appliesTo.resourceTypes",
                )
            )
        critical = CRITICAL_FIELDS.get(resource_type, {})
        for allowed in policy.allowedPaths:
            for field, category in sorted(critical.items()):
                denied = any(pointer_covers(d, field) for d in policy.deniedPaths)
                if pointers_overlap(allowed, field) and not denied:
                    findings.append(
                        _finding(
                            source,
                            Severity.WARNING,
                            f"allowed path {allowed} lets auto-heal revert {category.value} "
                            f"field {field} of {resource_type}, destroying the evidence; add "
                            f"{field} to deniedPaths or narrow the path",
                        )
                    )
    return findings


# --- decision table ----------------------------------------------------------------


def _decision_findings(source: PolicySource, table: DecisionTable) -> list[LintFinding]:
    findings = []
    for index, row in enumerate(table.rows):
        earlier = table.rows[:index]
        for position, previous in enumerate(earlier):
            if previous.match.covers(row.match):
                findings.append(
                    _finding(
                        source,
                        Severity.WARNING,
                        f"rows.{index} never matches: rows.{position} matches everything it "
                        "does and comes first; delete it or move it up",
                    )
                )
                break
        else:
            if row.autoHealAllowed:
                exposed = _never_heal_reached(row.match, [p.match for p in earlier])
                if exposed:
                    names = ", ".join(domain.value for domain in exposed)
                    findings.append(
                        _finding(
                            source,
                            Severity.ERROR,
                            f"rows.{index} allows auto-heal for {names} findings, which are "
                            "never silently auto-healed; give the row a domain, or put rows "
                            "for those domains before it",
                        )
                    )
    return findings


def _never_heal_reached(match: DecisionMatch, earlier: list[DecisionMatch]) -> list[Domain]:
    """The never-auto-heal domains a row can still decide for, after the rows before it."""
    domains = [match.domain] if match.domain is not None else sorted(NEVER_AUTO_HEAL)
    reached = []
    for domain in domains:
        if domain not in NEVER_AUTO_HEAL:
            continue
        narrowed = match.model_copy(update={"domain": domain})
        if not any(previous.covers(narrowed) for previous in earlier):
            reached.append(domain)
    return reached


# --- routes -------------------------------------------------------------------------


def _route_findings(policies: PolicySet) -> list[LintFinding]:
    findings = []
    sources = list(policies.sources_of(Route))
    for index, source in enumerate(sources):
        route = source.document
        assert isinstance(route, Route)
        for previous in sources[:index]:
            earlier = previous.document
            assert isinstance(earlier, Route)
            if not earlier.continueMatching and earlier.match.covers(route.match):
                findings.append(
                    _finding(
                        source,
                        Severity.WARNING,
                        f"never matches: route {earlier.id!r} ({previous.where}) comes first, "
                        "matches everything it does and stops there; delete it, reorder, or "
                        f"set continueMatching: true on {earlier.id!r}",
                    )
                )
                break
    return findings
