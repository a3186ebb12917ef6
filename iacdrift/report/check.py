"""Check reports as text: a rich table (also as plain text) and markdown. Data in, text out.

JSON is :func:`iacdrift.report.common.render_json`.
"""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from iacdrift.models.finding import ChangedField, CheckReport, Finding, StackResult, StackStatus
from iacdrift.report.common import STATUS_STYLE


def _value(value: Any, limit: int = 60) -> str:
    text = "null" if value is None else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_summary(field: ChangedField) -> str:
    if field.before is None and field.after is not None:
        return f"{field.pointer} + {_value(field.after)}"
    if field.after is None and field.before is not None:
        return f"{field.pointer} - {_value(field.before)}"
    return f"{field.pointer}: {_value(field.before)} -> {_value(field.after)}"


def _fields(finding: Finding, limit: int = 4) -> str:
    shown = finding.changedFields or finding.noiseFields
    lines = [field_summary(f) for f in shown[:limit]]
    if len(shown) > limit:
        lines.append(f"(+{len(shown) - limit} more)")
    return "\n".join(lines) or "-"


def _headline(result: StackResult) -> Text:
    text = Text()
    text.append(f"{result.stack}: ", style="bold")
    text.append(result.status.value, style=STATUS_STYLE[result.status])
    if result.status in (StackStatus.CLEAN, StackStatus.DRIFTED):
        c = result.counts
        text.append(
            f"  ({c.drifted} drift, {c.noise} noise, {c.controllerOwned} controller-owned; "
            f"plan {result.planOutcome.value if result.planOutcome else '?'}, "
            f"{result.terraformFlavor} {result.terraformVersion}, "
            f"{result.timings.totalSeconds:.1f}s)"
        )
    if result.reason:
        text.append(f"\n  {result.reason}")
    return text


def _class(finding: Finding) -> str:
    text = finding.driftClass.value
    if finding.suppressed:
        rules = sorted({f.ignoredBy for f in finding.changedFields if f.ignoredBy})
        text += f" (ignored: {', '.join(rules)})"
    if finding.deadline is not None:
        text += f" (reconcile by {finding.deadline.isoformat(timespec='minutes')})"
    if finding.changeRecords:
        text += f" [{', '.join(finding.changeRecords)}]"
    return text


def _footer(report: CheckReport) -> list[str]:
    lines = [
        f"expired ignore rule {rule.id} ({rule.file}, owner {rule.owner}) expired on "
        f"{rule.expires}: no longer applied; renew or remove it"
        for rule in report.expiredRules
    ]
    if report.policyVersion:
        lines.append(f"policy version {report.policyVersion}; `iacdrift explain ID` says why")
    return lines


def _findings_table(findings: list[Finding], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=True, expand=False)
    for column in ("resource / finding", "relationship", "class", "risk", "action", "changed"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        table.add_row(
            f"{finding.resourceRef}\n{finding.findingId}",
            finding.relationship.value,
            _class(finding),
            finding.risk.value + (" (alert)" if finding.alert else ""),
            finding.recommendedAction.value,
            _fields(finding),
        )
    return table


def render_table(report: CheckReport, console: Console) -> None:
    parts: list[Any] = []
    for result in report.results:
        parts.append(_headline(result))
        if result.findings:
            parts.append(_findings_table(result.findings))
    if report.estateFindings:
        parts.append(_findings_table(report.estateFindings, "unmanaged (no stack's state)"))
    for problem in report.estateProblems:
        parts.append(Text(f"estate: {problem}", style="magenta"))
    parts.extend(Text(line, style="dim") for line in _footer(report))
    console.print(Group(*parts))


def table_text(report: CheckReport) -> str:
    """:func:`render_table` as plain text, 200 columns wide (for a file)."""
    console = Console(width=200, record=True, file=io.StringIO())
    render_table(report, console)
    return console.export_text()


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(report: CheckReport) -> str:
    lines = ["# iacdrift check", ""]
    for result in report.results:
        lines.append(f"## {result.stack}: {result.status.value}")
        if result.reason:
            lines += ["", f"> {_md_escape(result.reason)}"]
        lines.append("")
        if result.findings:
            lines += _md_findings(result.findings)
    if report.estateFindings:
        lines += ["## Unmanaged resources", "", *_md_findings(report.estateFindings)]
    for problem in report.estateProblems:
        lines.append(f"- estate: {_md_escape(problem)}")
    lines += [f"- {_md_escape(line)}" for line in _footer(report)]
    return "\n".join(lines).rstrip() + "\n"


def _md_findings(findings: list[Finding]) -> list[str]:
    rows = [
        "| resource | relationship | class | risk | action | changed fields |",
        "|---|---|---|---|---|---|",
    ]
    for f in findings:
        cells = [
            f"`{f.resourceRef}`<br>`{f.findingId}`",
            f.relationship.value,
            _class(f),
            f.risk.value,
            f.recommendedAction.value,
            _fields(f),
        ]
        rows.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return [*rows, ""]
