"""Check and run reports as JUnit XML, for CI test reporters. Data in, text out.

Contract of :func:`render_junit`:

1. One ``<testsuites>`` holding one ``<testsuite>`` (the check or the run), with the
   counts of its test cases (``tests``, ``failures``, ``errors``, ``skipped``), its
   time (a run: wall time; a check: the stacks' times added up), a UTC timestamp and
   properties (report kind, run id, policy version, exit code).
2. One ``<testcase>`` per stack, sorted by stack (``classname`` ``iacdrift.stack``,
   ``time`` the stack's total seconds): CLEAN passes; DRIFTED is a ``<failure>`` whose
   message counts the drifting findings by class and risk and whose text lists them
   (risk, class, resource, relationship, action, changed pointers, the explain
   command); ERROR and LOCKED are an ``<error>`` with the reason; STALE is
   ``<skipped>``. A run's skipped stack is ``<skipped>`` too, unless its lease holder's
   run recorded a result, which then stands for it like one of the run's own.
3. Unmanaged resources and estate problems, when there are any, are one more test
   case ``estate`` (``classname`` ``iacdrift.estate``): an ``<error>`` with estate
   problems, else a ``<failure>`` listing the unmanaged findings.
4. Each test case has at most one of failure, error or skipped, so the suite's counts
   are the numbers of test cases with each. Elements and attributes keep the shape of
   the common JUnit XSD (Jenkins' junit-10.xsd); characters XML 1.0 cannot hold are
   replaced by U+FFFD.

No value is written, only pointers (see :mod:`iacdrift.report.sarif`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence

from iacdrift.models.finding import Finding, StackResult, StackStatus
from iacdrift.models.run import RunReport, SkippedStack
from iacdrift.primitives.moments import as_utc
from iacdrift.primitives.wording import count
from iacdrift.report.sarif import (
    Report,
    answered_results,
    changed_pointers,
    drifting,
    explain_command,
    first_line,
    plain,
    unanswered,
)

STACK_CLASSNAME = "iacdrift.stack"
ESTATE_CLASSNAME = "iacdrift.estate"
BODY_FINDINGS = 200  # findings listed in one failure's text, at most
BODY_LIMIT = 20_000  # characters of a reason in an error's text, at most

# XML 1.0's Char production: tab, newline, carriage return and U+0020 upwards, less
# the surrogates and U+FFFE/U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _seconds(value: float) -> str:
    return f"{max(0.0, value):.3f}"


def render_junit(report: Report) -> str:
    """The report as JUnit XML (see the module's contract), with an XML declaration."""
    title = f"iacdrift run {report.runId}" if isinstance(report, RunReport) else "iacdrift check"
    cases = _stack_cases(report)
    estate = _estate_case(report)
    if estate is not None:
        cases.append(estate)
    counts = {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.find("failure") is not None),
        "errors": sum(1 for c in cases if c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }
    if isinstance(report, RunReport):
        elapsed = (report.finishedAt - report.startedAt).total_seconds()
        started = report.startedAt
    else:
        elapsed = sum(result.timings.totalSeconds for result, _ in answered_results(report))
        started = report.generatedAt
    root = ET.Element("testsuites", _attributes(title, counts, elapsed))
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            **_attributes(title, counts, elapsed),
            "timestamp": as_utc(started).strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(report):
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    suite.extend(cases)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _attributes(name: str, counts: dict[str, int], elapsed: float) -> dict[str, str]:
    return {
        "name": _xml_text(name),
        **{key: str(value) for key, value in counts.items()},
        "time": _seconds(elapsed),
    }


def _properties(report: Report) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = [("iacdrift.report", report.kind)]
    if isinstance(report, RunReport):
        found += [("iacdrift.runId", report.runId), ("iacdrift.selection", report.selection.value)]
    if report.policyVersion:
        found.append(("iacdrift.policyVersion", report.policyVersion))
    found += [
        ("iacdrift.exitCode", str(int(report.exit_code()))),
        ("iacdrift.unmanaged", str(len(report.estateFindings))),
    ]
    return found


def _case(name: str, classname: str, seconds: float) -> ET.Element:
    return ET.Element(
        "testcase", {"name": _xml_text(name), "classname": classname, "time": _seconds(seconds)}
    )


def _outcome(case: ET.Element, tag: str, message: str, kind: str | None, text: str) -> None:
    attributes = {"message": _xml_text(message)}
    if kind is not None:
        attributes["type"] = kind
    element = ET.SubElement(case, tag, attributes)
    if text:
        element.text = _xml_text(text)


def _stack_cases(report: Report) -> list[ET.Element]:
    cases: list[tuple[str, ET.Element]] = []
    for result, skipped in answered_results(report):
        cases.append((result.stack, _stack_case(result, skipped)))
    for skipped in unanswered(report):
        case = _case(skipped.stack, STACK_CLASSNAME, 0.0)
        _outcome(
            case,
            "skipped",
            f"not checked, drift unknown: {first_line(skipped.reason, 500)}",
            None,
            "",
        )
        holder = skipped.holder or "another iacdrift process"
        ET.SubElement(case, "system-out").text = _xml_text(
            f"lease held by {holder}\n{plain(skipped.reason)}"
        )
        cases.append((skipped.stack, case))
    return [case for _, case in sorted(cases, key=lambda pair: pair[0])]


def _stack_case(result: StackResult, skipped: SkippedStack | None) -> ET.Element:
    case = _case(result.stack, STACK_CLASSNAME, result.timings.totalSeconds)
    reason = plain(result.reason or "")
    if result.status is StackStatus.DRIFTED:
        loud = sorted((f for f in result.findings if drifting(f)), key=_loudest)
        quiet = len(result.findings) - len(loud)
        _outcome(case, "failure", _by_class(loud), "DRIFTED", _finding_lines(loud, quiet))
    elif result.status in (StackStatus.ERROR, StackStatus.LOCKED):
        message = (
            f"{result.status.value}: {first_line(reason, 500)}" if reason else result.status.value
        )
        text = reason if len(reason) <= BODY_LIMIT else reason[: BODY_LIMIT - 1] + "…"
        _outcome(case, "error", message, result.status.value, text)
    elif result.status is StackStatus.STALE:
        message = f"STALE: {first_line(reason, 500)}" if reason else "STALE"
        _outcome(case, "skipped", message, None, "")
    ET.SubElement(case, "system-out").text = _xml_text(_summary(result, skipped))
    return case


def _loudest(finding: Finding) -> tuple[int, str, str, str]:
    return (-finding.risk.rank, finding.driftClass.value, finding.resourceRef, finding.findingId)


def _by_class(findings: Sequence[Finding], noun: str = "drift finding") -> str:
    """``3 drift findings: UNAUTHORIZED_RUNTIME_DRIFT/HIGH x2, STATE_DRIFT/MEDIUM x1``."""
    if not findings:
        return "DRIFTED"
    counts = Counter((f.driftClass.value, f.risk) for f in findings)
    ordered = sorted(counts.items(), key=lambda item: (-item[0][1].rank, item[0][0]))
    parts = ", ".join(f"{name}/{risk.value} x{n}" for (name, risk), n in ordered)
    return f"{count(len(findings), noun)}: {parts}"


def _finding_line(finding: Finding) -> str:
    changed = changed_pointers(finding, limit=10)
    fields = f"; changed {', '.join(changed)}" if changed else ""
    alert = " (alert)" if finding.alert else ""
    return (
        f"{finding.risk.value}{alert} {finding.driftClass.value} {finding.resourceRef} "
        f"[{finding.relationship.value}] action {finding.recommendedAction.value}{fields}; "
        f"{explain_command(finding)}"
    )


def _finding_lines(findings: Sequence[Finding], quiet: int) -> str:
    lines = [_finding_line(f) for f in findings[:BODY_FINDINGS]]
    if len(findings) > BODY_FINDINGS:
        lines.append(f"+{len(findings) - BODY_FINDINGS} more drift findings")
    if quiet:
        lines.append(f"+{quiet} quiet findings (noise, controller-owned or ignored)")
    return "\n".join(lines)


def _summary(result: StackResult, skipped: SkippedStack | None) -> str:
    c = result.counts
    lines = [
        f"{result.stack}: {result.status.value} ({c.drifted} drift, {c.noise} noise, "
        f"{c.controllerOwned} controller-owned, {c.resources} resources)"
    ]
    if skipped is not None:
        holder = skipped.holder or "another iacdrift process"
        lines.append(
            f"not checked by this run: lease held by {holder}; result recorded by run "
            f"{skipped.holderRunId or '?'}"
        )
    facts = [
        f"owner {result.owner}" if result.owner else None,
        f"risk tier {result.riskTier}" if result.riskTier else None,
        f"environment {result.environment}" if result.environment else None,
        f"plan {result.planOutcome.value}" if result.planOutcome else None,
        f"{result.terraformFlavor} {result.terraformVersion}" if result.terraformFlavor else None,
    ]
    if any(facts):
        lines.append("; ".join(fact for fact in facts if fact))
    lines += [f"warning: {warning}" for warning in result.warnings]
    return "\n".join(lines)


def _estate_case(report: Report) -> ET.Element | None:
    if not report.estateFindings and not report.estateProblems:
        return None
    case = _case("estate", ESTATE_CLASSNAME, 0.0)
    findings = sorted(report.estateFindings, key=_loudest)
    lines = _finding_lines(findings, 0) if findings else ""
    if report.estateProblems:
        problems = "\n".join(f"estate problem: {plain(p)}" for p in report.estateProblems)
        message = (
            f"{count(len(report.estateProblems), 'estate problem')}: "
            f"{first_line(report.estateProblems[0], 500)}"
        )
        text = "\n".join(part for part in (problems, lines) if part)
        _outcome(case, "error", message, "ESTATE_PROBLEM", text)
    else:
        message = _by_class(findings, "unmanaged resource")
        _outcome(case, "failure", message, "UNMANAGED", lines)
    return case
