"""Check reports as text: a rich table (also as plain text) and markdown. Data in, text out.

JSON is :func:`iacdrift.report.common.render_json`. Every value from Terraform, a
state, the cloud or a user's file is rendered literally (see :mod:`iacdrift.report.common`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from iacdrift.models.finding import (
    ChangedField,
    CheckReport,
    ExpiredRule,
    Finding,
    StackResult,
    StackStatus,
)
from iacdrift.report.common import (
    STATUS_STYLE,
    literal,
    lock_summary,
    md_block,
    md_code,
    md_lines,
    md_name,
)


def _value(value: Any, limit: int = 60) -> str:
    text = "null" if value is None else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_summary(field: ChangedField) -> str:
    if field.before is None and field.after is not None:
        return f"{field.pointer} + {_value(field.after)}"
    if field.after is None and field.before is not None:
        return f"{field.pointer} - {_value(field.before)}"
    return f"{field.pointer}: {_value(field.before)} -> {_value(field.after)}"


def _field_lines(finding: Finding, limit: int = 4) -> tuple[list[str], str | None]:
    """The first ``limit`` changed (else noise) fields, and our ``(+n more)`` note."""
    shown = finding.changedFields or finding.noiseFields
    more = f"(+{len(shown) - limit} more)" if len(shown) > limit else None
    return [field_summary(f) for f in shown[:limit]], more


def _fields(finding: Finding) -> str:
    lines, more = _field_lines(finding)
    return "\n".join([*lines, *([more] if more else [])]) or "-"


def _lock_line(result: StackResult) -> str | None:
    """A held state lock: who, the operation, its age and the stale flag."""
    if result.lock is None:
        return None
    return f"state lock held by {lock_summary(result.lock)}"


def headline(result: StackResult) -> Text:
    """``stack: STATUS`` with counts (answered) or the lock and the reason (not)."""
    text = Text()
    text.append(result.stack, style="bold")
    text.append(": ", style="bold")
    text.append(result.status.value, style=STATUS_STYLE[result.status])
    if result.status in (StackStatus.CLEAN, StackStatus.DRIFTED):
        c = result.counts
        text.append(
            f"  ({c.drifted} drift, {c.noise} noise, {c.controllerOwned} controller-owned; "
            f"plan {result.planOutcome.value if result.planOutcome else '?'}, "
            f"{result.terraformFlavor} {result.terraformVersion}, "
            f"{result.timings.totalSeconds:.1f}s)"
        )
    lock = _lock_line(result)
    if lock:
        style = "bold red" if result.lock is not None and result.lock.stale else "yellow"
        text.append(f"\n  {lock}", style=style)
    if result.reason:
        text.append("\n  " + result.reason.replace("\n", "\n  "))
    for warning in result.warnings:  # what this check could not do (e.g. state history)
        text.append("\n  warning: " + warning.replace("\n", "\n  "), style="yellow")
    return text


def _class_parts(finding: Finding) -> tuple[str, list[str], list[str], str | None]:
    """Our class, the ignore rules (user ids), change records (user ids), deadline."""
    rules = (
        sorted({f.ignoredBy for f in finding.changedFields if f.ignoredBy})
        if finding.suppressed
        else []
    )
    deadline = (
        finding.deadline.isoformat(timespec="minutes") if finding.deadline is not None else None
    )
    return finding.driftClass.value, rules, list(finding.changeRecords), deadline


def _class(finding: Finding) -> str:
    name, rules, records, deadline = _class_parts(finding)
    text = name
    if finding.suppressed:
        text += f" (ignored: {', '.join(rules)})"
    if deadline is not None:
        text += f" (reconcile by {deadline})"
    if records:
        text += f" [{', '.join(records)}]"
    return text


def expired_rule_line(rule: ExpiredRule) -> str:
    return (
        f"expired ignore rule {rule.id} ({rule.file}, owner {rule.owner}) expired on "
        f"{rule.expires}: no longer applied; renew or remove it"
    )


def policy_line(version: str) -> str:
    return f"policy version {version}; `iacdrift explain ID` says why"


def findings_table(findings: Sequence[Finding], title: str | None = None) -> Table:
    """One row per finding; every cell but the headers is literal text."""
    table = Table(title=title, show_lines=True, expand=False)
    for column in ("resource / finding", "relationship", "class", "risk", "action", "changed"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        table.add_row(
            literal(f"{finding.resourceRef}\n{finding.findingId}"),
            literal(finding.relationship.value),
            literal(_class(finding)),
            literal(finding.risk.value + (" (alert)" if finding.alert else "")),
            literal(finding.recommendedAction.value),
            literal(_fields(finding)),
        )
    return table


def report_renderables(report: CheckReport) -> list[RenderableType]:
    """Each stack's headline and findings, the unmanaged findings, estate problems."""
    parts: list[RenderableType] = []
    for result in report.results:
        parts.append(headline(result))
        if result.findings:
            parts.append(findings_table(result.findings))
    if report.estateFindings:
        parts.append(findings_table(report.estateFindings, "unmanaged (no stack's state)"))
    for problem in report.estateProblems:
        parts.append(literal(f"estate: {problem}", style="magenta"))
    return parts


def footer_renderables(report: CheckReport) -> list[RenderableType]:
    lines = [expired_rule_line(rule) for rule in report.expiredRules]
    if report.policyVersion:
        lines.append(policy_line(report.policyVersion))
    return [literal(line, style="dim") for line in lines]


def render_table(report: CheckReport, console: Console) -> None:
    console.print(Group(*report_renderables(report), *footer_renderables(report)))


def plain_text(parts: Sequence[RenderableType]) -> str:
    """Renderables as plain text, 200 columns wide (for a file)."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(Group(*parts))
    return console.export_text()


def table_text(report: CheckReport) -> str:
    """:func:`render_table` as plain text, 200 columns wide (for a file)."""
    return plain_text([*report_renderables(report), *footer_renderables(report)])


# --- markdown ------------------------------------------------------------------------


def md_result(result: StackResult, level: str = "##", note: str | None = None) -> list[str]:
    """One stack: its heading, lock, reason and findings table."""
    lines = [f"{level} {md_name(result.stack)}: {result.status.value}"]
    if note:
        lines += ["", note]
    if result.lock is not None:
        lines += ["", f"State lock held by {md_code(lock_summary(result.lock))}"]
    if result.reason:
        lines += ["", *md_block(result.reason)]
    for warning in result.warnings:
        lines += ["", "Warning:", *md_block(warning)]
    lines.append("")
    if result.findings:
        lines += md_findings(result.findings)
    return lines


def md_report_body(report: CheckReport) -> list[str]:
    lines: list[str] = []
    for result in report.results:
        lines += md_result(result)
    if report.estateFindings:
        lines += ["## Unmanaged resources", "", *md_findings(report.estateFindings)]
    if report.estateProblems:
        lines += ["## Estate problems", ""]
        for problem in report.estateProblems:
            lines += md_block(problem)
        lines.append("")
    return lines


def md_footer(report: CheckReport) -> list[str]:
    lines = [
        f"- expired ignore rule {md_code(rule.id)} ({md_code(rule.file)}, owner "
        f"{md_code(rule.owner)}) expired on {rule.expires}: no longer applied; renew or "
        "remove it"
        for rule in report.expiredRules
    ]
    if report.policyVersion:
        lines.append(
            f"- policy version {md_code(report.policyVersion)}; `iacdrift explain ID` says why"
        )
    return lines


def render_markdown(report: CheckReport, title: str = "iacdrift check") -> str:
    lines = [f"# {title}", "", *md_report_body(report), *md_footer(report)]
    return "\n".join(lines).rstrip() + "\n"


def _md_class(finding: Finding) -> str:
    name, rules, records, deadline = _class_parts(finding)
    text = name
    if finding.suppressed:
        text += f" (ignored: {', '.join(md_code(r, in_table=True) for r in rules)})"
    if deadline is not None:
        text += f" (reconcile by {deadline})"
    if records:
        text += f" (change records: {', '.join(md_code(r, in_table=True) for r in records)})"
    return text


def md_findings(findings: Sequence[Finding]) -> list[str]:
    rows = [
        "| resource | relationship | class | risk | action | changed fields |",
        "|---|---|---|---|---|---|",
    ]
    for f in findings:
        lines, more = _field_lines(f)
        changed = md_lines(lines) + (f"<br>{more}" if more and lines else more or "")
        cells = [
            md_lines([f.resourceRef, f.findingId]),
            f.relationship.value,
            _md_class(f),
            f.risk.value + (" (alert)" if f.alert else ""),
            f.recommendedAction.value,
            changed or "-",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return [*rows, ""]
