"""Check and run reports as SARIF 2.1.0, for code scanning. Data in, text out.

Contract of :func:`render_sarif`:

1. One run; the tool is ``iacdrift`` with one rule (``reportingDescriptor``) per drift
   class that has a result, sorted by id; a rule's id is the class
   (``UNAUTHORIZED_RUNTIME_DRIFT``).
2. One result per *alerting* finding (``alert: true``) of every answered stack (a
   run's skipped stacks answered by their lease holder's run included) and of the
   estate, sorted by stack, resource and finding id. Findings that do not alert
   (noise, controller-owned, ignored, never-paging classes) are not results.
3. ``level``: ``error`` for CRITICAL and HIGH risk, ``warning`` for MEDIUM, ``note``
   for LOW and INFO.
4. Location: the resource's block (file relative to the project root, start line),
   from ``locations`` keyed by ``(stack, resourceRef)`` (``""`` for the stack of an
   unmanaged finding); else the stack's directory (``stack_dirs``) without a line;
   both with a logical location naming the resource. GitHub code scanning refuses a
   whole upload when one result has no ``physicalLocation.artifactLocation.uri``
   ("locationFromSarifResult: expected artifact location"), so an alerting finding
   that no file holds (an unmanaged resource, a stack whose directory is not given)
   is not a result: it is a tool execution notification, with its logical location,
   and the upload still goes through.
5. ``fingerprints`` and ``partialFingerprints`` carry the finding id (stable across
   runs for the same drift), so code scanning keeps one alert per drift across runs.
6. ``properties``: stack, risk, relationship, recommended action, resource type,
   finding id and the changed fields' pointers.
7. Stacks that could not be checked (ERROR, LOCKED, STALE, skipped without an answer)
   and estate problems are tool execution notifications of level ``error``; the
   invocation says whether execution was successful (the report's exit code is not 1)
   and carries that exit code.

No value is written, only pointers: a changed field's before/after values (sensitive or
not) and a finding's free-text reason stay in the JSON report and ``iacdrift explain``.
The shared text of the CI outputs (what each class and relationship means, the changed
pointers, which stacks a report answers for) lives here too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

from iacdrift.core.redact import contains_marker
from iacdrift.errors import ExitCode
from iacdrift.models.finding import (
    QUIET_CLASSES,
    UNKNOWN,
    ChangedField,
    CheckReport,
    DriftClass,
    Finding,
    Relationship,
    Risk,
    StackResult,
)
from iacdrift.models.run import RunReport, SkippedStack
from iacdrift.primitives.moments import as_utc

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
PROJECT_ROOT_ID = "PROJECTROOT"
FINGERPRINT_KEY = "iacdriftFindingId/v1"
REASON_LIMIT = 1000  # characters of a stack's reason shown in a notification

Report = CheckReport | RunReport


class SourceLine(Protocol):
    """Where a resource is written (``iacdrift.loaders.resource_lines.ResourceLocation``):
    a POSIX path relative to the project root and a 1-based line."""

    @property
    def file(self) -> str: ...

    @property
    def line(self) -> int: ...


# --- the text the CI outputs share -------------------------------------------------


# (short description, full description, what to do) per drift class.
CLASS_TEXT: dict[DriftClass, tuple[str, str, str]] = {
    DriftClass.UNAUTHORIZED_RUNTIME_DRIFT: (
        "Changed outside Terraform without authorization",
        "The live resource was changed outside Terraform and no change record, break-glass "
        "record or controller explains the change; or a resource exists in the cloud that "
        "no registered state manages.",
        "Revert the change by applying the stack's code, or, when the change is wanted, "
        "write it into the code and record the change.",
    ),
    DriftClass.EMERGENCY_DRIFT: (
        "Break-glass change waiting to be reconciled",
        "A break-glass identity changed the resource and a break-glass change record covers "
        "the resource and the time. The change stands for now; the finding's deadline says "
        "when the code must be true again.",
        "After the incident, write the change into the code or revert it, before the deadline.",
    ),
    DriftClass.CONTROLLER_OWNED_DRIFT: (
        "Field owned by a controller or the runtime",
        "Every changed field is owned by a controller or the runtime (a field ownership "
        "policy, or lifecycle.ignore_changes).",
        "Nothing to do: listed for audit.",
    ),
    DriftClass.PROVIDER_READ_NOISE: (
        "Provider read noise",
        "The difference vanishes under normalization, is a part another resource manages, "
        "or is explained by a provider upgrade reading new attributes.",
        "Nothing to do: listed for audit.",
    ),
    DriftClass.DEPENDENCY_DRIFT: (
        "A data source or remote state output changed",
        "The configuration reads a data source or another stack's remote state output whose "
        "value changed, so the plan changes the resource though this stack's code did not.",
        "Check that the upstream change was intended, then apply the stack.",
    ),
    DriftClass.STALE_DESIRED_STATE: (
        "An approved runtime change never reached the code",
        "An approved change accepted the live value, but the code still holds the old one: "
        "the next apply would undo the approved change.",
        "Update the code to the approved value.",
    ),
    DriftClass.FAILED_RECONCILIATION_DRIFT: (
        "The stack's last apply failed",
        "The stack's last apply is recorded as failed and covers this resource: the live "
        "resource is in a state nobody chose.",
        "Investigate the failed apply, then apply the stack again.",
    ),
    DriftClass.POLICY_DRIFT: (
        "The live resource violates a guardrail",
        "The resource agrees with its code and state but violates a guardrail policy in effect.",
        "Change the code so that the resource meets the guardrail, or change the guardrail "
        "through review.",
    ),
    DriftClass.STATE_DRIFT: (
        "The state disagrees with the cloud or with its own history",
        "The recorded state does not describe the cloud: a resource missing from the cloud, "
        "a rename without a moved block, a state restored to an older version, or a live "
        "resource the state forgot.",
        "Do not apply before the state is right: the recommended action says whether to "
        "move, import or remove the resource from the state.",
    ),
    DriftClass.SECRET_DELIVERY_DRIFT: (
        "A secret's version changed outside Terraform",
        "A secret's current version changed outside Terraform (judged on version ids, "
        "stages and fingerprints, never values), made by an identity that is not a "
        "registered controller.",
        "Confirm the rotation was legitimate, then refresh the state; rotate the secret "
        "again if it was not.",
    ),
    DriftClass.PENDING_APPLY: (
        "Code changed and not applied",
        "This stack's code changed and was not applied: the state and the cloud still hold "
        "the previous configuration.",
        "Apply the stack through its pipeline.",
    ),
}

RELATIONSHIP_TEXT: dict[Relationship, str] = {
    Relationship.MISSING_IN_ACTUAL: "in the state but missing from the cloud",
    Relationship.UNMANAGED: "in the cloud but in no registered state",
    Relationship.OUT_OF_BAND: "changed outside Terraform (code and state agree, the cloud differs)",
    Relationship.DESIRED_NE_ACTUAL: "the cloud differs from the code",
    Relationship.RECORDED_NE_ACTUAL: "the cloud differs from the state",
    Relationship.DESIRED_NE_RECORDED: "the code differs from the state (not applied)",
    Relationship.NOISE_ONLY: "only provider read noise",
    Relationship.VIOLATES_GUARDRAIL: "the live resource breaks a guardrail",
    Relationship.STATE_REGRESSED: "the state went back to an older version",
}

_LEVEL: dict[Risk, str] = {
    Risk.CRITICAL: "error",
    Risk.HIGH: "error",
    Risk.MEDIUM: "warning",
    Risk.LOW: "note",
    Risk.INFO: "note",
}


def sarif_level(risk: Risk) -> str:
    return _LEVEL[risk]


def explain_command(finding: Finding) -> str:
    return f"iacdrift explain {finding.findingId}"


def changed_pointers(finding: Finding, limit: int | None = None) -> list[str]:
    """The changed fields as pointers, ``(sensitive)`` after each sensitive one; never a
    value. With ``limit``, the first ``limit`` and a ``+N more`` entry."""
    pointers = [
        field.pointer + (" (sensitive)" if is_sensitive(field) else "")
        for field in finding.changedFields
    ]
    if limit is not None and len(pointers) > limit:
        return [*pointers[:limit], f"+{len(pointers) - limit} more"]
    return pointers


def is_sensitive(field: ChangedField) -> bool:
    """Marked sensitive, or holding a redaction marker anywhere (then it was)."""
    return field.sensitive or any(
        contains_marker(value) for value in (field.before, field.after, field.desired)
    )


def drifting(finding: Finding) -> bool:
    """The finding makes its stack DRIFTED (not quiet, not ignored)."""
    return finding.driftClass not in QUIET_CLASSES and not finding.suppressed


def answered_results(report: Report) -> list[tuple[StackResult, SkippedStack | None]]:
    """Each stack result the report answers for, sorted by stack: the report's own and,
    for a run, the results its skipped stacks' lease holders recorded (with the skip)."""
    pairs: list[tuple[StackResult, SkippedStack | None]] = [(r, None) for r in report.results]
    if isinstance(report, RunReport):
        pairs += [(s.result, s) for s in report.skipped if s.result is not None]
    return sorted(pairs, key=lambda pair: pair[0].stack)


def unanswered(report: Report) -> list[SkippedStack]:
    """A run's skipped stacks without an answer, sorted by stack (none for a check)."""
    if isinstance(report, RunReport):
        return sorted(report.unanswered, key=lambda s: s.stack)
    return []


def alerting_findings(report: Report) -> list[Finding]:
    """Every alerting finding of the stacks the report answers for and of the estate,
    sorted by stack (unmanaged last), resource and finding id."""
    found = [f for result, _ in answered_results(report) for f in result.findings if f.alert]
    found += [f for f in report.estateFindings if f.alert]
    return sorted(found, key=finding_key)


def finding_key(finding: Finding) -> tuple[bool, str, str, str]:
    return (finding.stack is None, finding.stack or "", finding.resourceRef, finding.findingId)


# Terminal colour and cursor sequences (CSI), which a tool's error output can carry.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def plain(text: str) -> str:
    """``text`` without terminal escape sequences."""
    return _ANSI.sub("", text)


def first_line(text: str, limit: int = REASON_LIMIT) -> str:
    """``text`` on one line (escape sequences dropped), at most ``limit`` characters."""
    flat = " ".join(plain(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def utc_text(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- SARIF -------------------------------------------------------------------------


def render_sarif(
    report: Report,
    locations: Mapping[tuple[str, str], SourceLine],
    *,
    tool_version: str,
    base_uri: str | None = None,
    stack_dirs: Mapping[str, str] | None = None,
) -> str:
    """The report as a SARIF 2.1.0 log (see the module's contract), canonical JSON.

    ``locations``: ``(stack, resourceRef)`` -> where the resource is written (files
    relative to the project root); ``stack_dirs``: stack -> its directory relative to
    the project root, for findings whose block was not found; ``base_uri``: the project
    root as an absolute URI (``file:///...``), declared as ``PROJECTROOT`` so that
    every file is relative to it (without it, files are relative to the repository).
    """
    dirs = stack_dirs or {}
    results: list[dict[str, Any]] = []
    homeless: list[Finding] = []
    for finding in alerting_findings(report):
        physical = _physical(finding, locations, dirs, base_uri)
        if physical is None:
            homeless.append(finding)
        else:
            results.append(_result(finding, physical))
    classes = sorted({DriftClass(r["ruleId"]) for r in results})
    index = {drift_class.value: i for i, drift_class in enumerate(classes)}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
    code = report.exit_code()
    invocation: dict[str, Any] = {
        "executionSuccessful": code is not ExitCode.FAILED,
        "exitCode": int(code),
        "toolExecutionNotifications": _notifications(report, homeless),
    }
    if isinstance(report, RunReport):
        invocation["startTimeUtc"] = utc_text(report.startedAt)
        invocation["endTimeUtc"] = utc_text(report.finishedAt)
    else:
        invocation["endTimeUtc"] = utc_text(report.generatedAt)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "iacdrift",
                "version": tool_version,
                "rules": [_rule(drift_class) for drift_class in classes],
                "notifications": [
                    _descriptor(descriptor_id, text)
                    for descriptor_id, text in sorted(_NOTIFICATIONS.items())
                ],
            }
        },
        "invocations": [invocation],
        "results": results,
        "properties": _run_properties(report),
    }
    if isinstance(report, RunReport):
        run["automationDetails"] = {"id": f"iacdrift/drift/{report.runId}"}
    if base_uri is not None:
        run["originalUriBaseIds"] = {
            PROJECT_ROOT_ID: {"uri": base_uri if base_uri.endswith("/") else base_uri + "/"}
        }
    log = {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, indent=2, sort_keys=True) + "\n"


def _rule(drift_class: DriftClass) -> dict[str, Any]:
    short, full, action = CLASS_TEXT[drift_class]
    name = "".join(part.capitalize() for part in drift_class.value.split("_"))
    explain = "shows the rules, audit events and change records behind a finding."
    help_text = f"{full} {action} iacdrift explain FINDING_ID {explain}"
    help_markdown = f"{full}\n\n{action}\n\n`iacdrift explain FINDING_ID` {explain}"
    return {
        "id": drift_class.value,
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": help_text, "markdown": help_markdown},
        "properties": {"tags": ["terraform", "drift"]},
    }


_NOTIFICATIONS: dict[str, str] = {
    "iacdrift/stack-not-checked": "A stack could not be checked: its drift is unknown.",
    "iacdrift/estate-problem": "Unmanaged resources could not be judged.",
    "iacdrift/finding-without-file": (
        "An alerting finding that no file of the project holds (an unmanaged resource, or "
        "a stack whose directory is unknown)."
    ),
}


def _descriptor(descriptor_id: str, text: str) -> dict[str, Any]:
    return {"id": descriptor_id, "shortDescription": {"text": text}}


def _artifact(uri: str, base_uri: str | None) -> dict[str, Any]:
    artifact: dict[str, Any] = {"uri": quote(uri, safe="/")}
    if base_uri is not None:
        artifact["uriBaseId"] = PROJECT_ROOT_ID
    return artifact


def _physical(
    finding: Finding,
    locations: Mapping[tuple[str, str], SourceLine],
    dirs: Mapping[str, str],
    base_uri: str | None,
) -> dict[str, Any] | None:
    """The block's file and line; else the stack's directory; else None."""
    place = locations.get((finding.stack or "", finding.resourceRef))
    if place is not None and place.file:
        physical: dict[str, Any] = {"artifactLocation": _artifact(place.file, base_uri)}
        if place.line >= 1:
            physical["region"] = {"startLine": place.line}
        return physical
    directory = dirs.get(finding.stack) if finding.stack is not None else None
    if directory:
        return {"artifactLocation": _artifact(directory.rstrip("/") + "/", base_uri)}
    return None


def _logical(finding: Finding) -> dict[str, Any]:
    qualified = f"{finding.stack}/{finding.resourceRef}" if finding.stack else finding.resourceRef
    return {"name": finding.resourceRef, "fullyQualifiedName": qualified, "kind": "resource"}


def finding_sentence(finding: Finding) -> str:
    """One line: where, the relationship in words, the changed pointers, the action."""
    where = f"stack {finding.stack}" if finding.stack else "no stack (unmanaged)"
    changed = changed_pointers(finding, limit=10)
    fields = f"; changed {', '.join(changed)}" if changed else ""
    return (
        f"{finding.resourceRef} ({finding.resourceType}) in {where}: "
        f"{RELATIONSHIP_TEXT[finding.relationship]} [{finding.relationship.value}]{fields}; "
        f"{finding.risk.value} risk; recommended action {finding.recommendedAction.value}. "
        f"Why: {explain_command(finding)}"
    )


def _properties(finding: Finding) -> dict[str, Any]:
    return {
        "findingId": finding.findingId,
        "stack": finding.stack,
        "risk": finding.risk.value,
        "relationship": finding.relationship.value,
        "recommendedAction": finding.recommendedAction.value,
        "resourceType": finding.resourceType,
        "resourceRef": finding.resourceRef,
        "changedFields": changed_pointers(finding),
    }


def _result(finding: Finding, physical: dict[str, Any]) -> dict[str, Any]:
    return {
        "ruleId": finding.driftClass.value,
        "kind": "fail",
        "level": sarif_level(finding.risk),
        "message": {"text": finding_sentence(finding)},
        "locations": [{"physicalLocation": physical, "logicalLocations": [_logical(finding)]}],
        "fingerprints": {FINGERPRINT_KEY: finding.findingId},
        "partialFingerprints": {FINGERPRINT_KEY: finding.findingId},
        "properties": _properties(finding),
    }


def _notification(descriptor_id: str, level: str, text: str, **extra: Any) -> dict[str, Any]:
    notification: dict[str, Any] = {
        "descriptor": {"id": descriptor_id},
        "level": level,
        "message": {"text": text},
    }
    notification.update(extra)
    return notification


def _notifications(report: Report, homeless: Iterable[Finding]) -> list[dict[str, Any]]:
    notes = []
    for result, skipped in answered_results(report):
        if result.status in UNKNOWN:
            borrowed = f" (recorded by run {skipped.holderRunId})" if skipped else ""
            why = f": {first_line(result.reason)}" if result.reason else ""
            notes.append(
                _notification(
                    "iacdrift/stack-not-checked",
                    "error",
                    f"stack {result.stack}: {result.status.value}{borrowed}{why}",
                    properties={"stack": result.stack, "status": result.status.value},
                )
            )
    for skipped in unanswered(report):
        notes.append(
            _notification(
                "iacdrift/stack-not-checked",
                "error",
                f"stack {skipped.stack}: not checked, drift unknown: {first_line(skipped.reason)}",
                properties={"stack": skipped.stack, "status": "SKIPPED"},
            )
        )
    notes += [
        _notification("iacdrift/estate-problem", "error", f"estate: {first_line(problem)}")
        for problem in report.estateProblems
    ]
    notes += [
        _notification(
            "iacdrift/finding-without-file",
            sarif_level(finding.risk),
            f"{finding.driftClass.value}: {finding_sentence(finding)}",
            locations=[{"logicalLocations": [_logical(finding)]}],
            properties={**_properties(finding), "driftClass": finding.driftClass.value},
        )
        for finding in homeless
    ]
    return notes


def _run_properties(report: Report) -> dict[str, Any]:
    properties: dict[str, Any] = {"reportKind": report.kind}
    if report.policyVersion:
        properties["policyVersion"] = report.policyVersion
    if isinstance(report, RunReport):
        properties["runId"] = report.runId
    return properties
