"""Provider-diff reports as text: a plain-text table, Markdown, and the suggested ignore
rules as policy YAML. Data in, text out.

JSON is :func:`iacdrift.report.common.render_json`. Values from Terraform, a state or
a registry (addresses, pointers, values, stack names) are data: literal rich text in
the table, code spans in Markdown (:mod:`iacdrift.report.common`), YAML scalars
quoted by the YAML emitter. Every value in a report is already redacted.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from iacdrift.models.provider_diff import (
    AttributeDifference,
    ComparisonOutcome,
    ProviderDiffReport,
    StackComparison,
    SuggestedRule,
)
from iacdrift.report.check import plain_text
from iacdrift.report.common import count, literal, md_block, md_code, md_name

OUTCOME_STYLE: dict[ComparisonOutcome, str] = {
    ComparisonOutcome.SAFE: "green",
    ComparisonOutcome.BEHAVIOUR: "bold red",
    ComparisonOutcome.ERROR: "bold magenta",
}
WHOLE_RESOURCE = "(whole resource)"


def _value(value: Any, limit: int = 60) -> str:
    text = "null" if value is None else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(difference: AttributeDifference) -> str:
    return difference.pointer or WHOLE_RESOURCE


def _actions(difference: AttributeDifference) -> str:
    current = ", ".join(difference.currentActions) or "-"
    target = ", ".join(difference.targetActions) or "-"
    return current if current == target else f"{current} -> {target}"


def _counts_text(result: StackComparison) -> str:
    c = result.counts
    return (
        f"{c.behaviourDifferences} behaviour, {c.schemaDifferences} schema, "
        f"{c.representationDifferences} representation; "
        f"{count(c.driftedFields, 'drifted field')} under both; "
        f"{count(result.resources, 'resource')}"
    )


def _upgrade(result: StackComparison) -> str:
    return f"{result.provider} {result.fromVersion} -> {result.toVersion}"


def _summary_lines(report: ProviderDiffReport) -> list[str]:
    summary = report.summary
    return [
        f"safe: {', '.join(summary.safe) or '-'}",
        f"behaviour: {', '.join(summary.behaviour) or '-'}",
        f"error: {', '.join(summary.error) or '-'}",
        f"{count(len(report.suggestions), 'ignore rule')} suggested for review",
    ]


# --- table ---------------------------------------------------------------------------


def _headline(result: StackComparison) -> Text:
    text = Text()
    text.append(result.stack, style="bold")
    text.append(": ", style="bold")
    text.append(result.outcome.value, style=OUTCOME_STYLE[result.outcome])
    text.append(f"  ({_upgrade(result)}")
    if result.outcome is not ComparisonOutcome.ERROR:
        text.append(f"; {_counts_text(result)}")
    text.append(")")
    if result.reason:
        text.append("\n  " + result.reason.replace("\n", "\n  "))
    return text


def _differences_table(result: StackComparison) -> Table:
    table = Table(show_lines=False, expand=False)
    for column in ("kind", "resource", "field", "current", "target", "actions", "detail"):
        table.add_column(column, overflow="fold")
    for d in result.differences:
        table.add_row(
            literal(d.kind.value),
            literal(d.address),
            literal(_field(d)),
            literal(_value(d.current)),
            literal(_value(d.target)),
            literal(_actions(d)),
            literal(d.detail),
        )
    return table


def _drift_lines(result: StackComparison) -> list[str]:
    return [
        f"  drift under both (not the upgrade's doing): {drift.address} "
        f"{', '.join(p or WHOLE_RESOURCE for p in drift.pointers)}"
        for drift in result.drift
    ]


def render_table(report: ProviderDiffReport) -> str:
    """Per stack: the outcome and counts, the differences, the drift both versions see;
    then the summary. Plain text, 200 columns wide."""
    parts: list[RenderableType] = [
        literal(f"provider-diff {report.provider} -> {report.toVersion}", style="bold")
    ]
    for result in report.results:
        parts.append(_headline(result))
        if result.differences:
            parts.append(_differences_table(result))
        parts.extend(literal(line, style="yellow") for line in _drift_lines(result))
    parts.extend(literal(line) for line in _summary_lines(report))
    return plain_text(parts)


# --- markdown ------------------------------------------------------------------------


def _md_cell(value: str) -> str:
    return md_code(value, in_table=True) or "-"


def _md_result(result: StackComparison) -> list[str]:
    lines = [f"## {md_name(result.stack)}: {result.outcome.value}", ""]
    lines.append(f"{md_code(_upgrade(result))}")
    if result.outcome is ComparisonOutcome.ERROR:
        lines += ["", *md_block(result.reason or "not compared")]
    else:
        lines[-1] += f": {_counts_text(result)}."
    lines.append("")
    if result.differences:
        lines += [
            "| kind | resource | field | current | target | actions | detail |",
            "|---|---|---|---|---|---|---|",
        ]
        for d in result.differences:
            cells = [
                d.kind.value,
                _md_cell(d.address),
                _md_cell(_field(d)),
                _md_cell(_value(d.current)),
                _md_cell(_value(d.target)),
                _md_cell(_actions(d)),
                _md_cell(d.detail),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if result.drift:
        lines += ["Drift both versions report (an out-of-band change, not the upgrade's):", ""]
        for drift in result.drift:
            pointers = ", ".join(md_code(p or WHOLE_RESOURCE) for p in drift.pointers)
            lines.append(f"- {md_code(drift.address)}: {pointers}")
        lines.append("")
    return lines


def render_markdown(report: ProviderDiffReport) -> str:
    """A summary table of the stacks, each stack's differences, the suggestions."""
    lines = [
        f"# iacdrift provider-diff: {md_code(report.provider)} -> {md_code(report.toVersion)}",
        "",
        "| stack | outcome | behaviour | schema | representation | drifted fields |",
        "|---|---|---|---|---|---|",
    ]
    for result in report.results:
        c = result.counts
        cells = [
            md_name(result.stack, in_table=True),
            result.outcome.value,
            str(c.behaviourDifferences),
            str(c.schemaDifferences),
            str(c.representationDifferences),
            str(c.driftedFields),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for result in report.results:
        lines += _md_result(result)
    if report.suggestions:
        lines += ["## Suggested ignore rules (review before use)", ""]
        for rule in report.suggestions:
            scope = f"stack {md_code(rule.stack)}" if rule.stack else "unscoped"
            paths = ", ".join(md_code(path) for path in rule.paths)
            lines.append(f"- {md_code(rule.id)}: {md_code(rule.resourceType)} {paths} ({scope})")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# --- suggestions ---------------------------------------------------------------------


def _comment(text: str) -> str:
    return "# REVIEW: " + " ".join(text.split())


def suggestion_document(rule: SuggestedRule) -> dict[str, Any]:
    """The suggestion as an IgnoreRule document, in the order policy files use."""
    document = rule.ignore_rule()
    match: dict[str, Any] = {"resourceType": document.match.resourceType}
    if document.match.stack is not None:
        match["stack"] = document.match.stack
    return {
        "apiVersion": document.apiVersion,
        "kind": document.kind,
        "id": document.id,
        "match": match,
        "paths": list(document.paths),
        "reason": document.reason,
        "owner": document.owner,
        "expires": document.expires,
    }


def render_suggestions(report: ProviderDiffReport) -> str:
    """The suggested ignore rules as policy YAML: one document each, ``---``-separated,
    each preceded by ``# REVIEW:`` comments (what to check, how to scope it)."""
    if not report.suggestions:
        return "# REVIEW: no ignore rules to suggest (no schema or representation differences)\n"
    documents = []
    for rule in report.suggestions:
        comments = [_comment(note) for note in rule.notes] or [_comment("review before use")]
        body = yaml.safe_dump(
            suggestion_document(rule), sort_keys=False, default_flow_style=False, width=100
        )
        documents.append("\n".join(comments) + "\n" + body)
    return "---\n".join(documents)
