"""Check and run reports as GitHub Markdown: the job's step summary and the comment on
a pull request that changes stacks. Data in, text out.

Both are Markdown read on GitHub, so every value from outside goes in a code span or
a fenced block (:mod:`iacdrift.report.common`); both are capped below what GitHub
takes (1 MiB for a step summary, 65,536 characters for a comment), the longest parts
ending in an ``… N more`` line. Writing the summary to ``$GITHUB_STEP_SUMMARY`` and
posting the comment are the caller's. No value is written, only pointers (see
:mod:`iacdrift.report.sarif`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from iacdrift.errors import ExitCode
from iacdrift.models.finding import UNKNOWN, Finding, StackResult, StackStatus
from iacdrift.models.run import RunReport, SkippedStack
from iacdrift.report.common import count, md_block, md_code, md_name
from iacdrift.report.sarif import (
    RELATIONSHIP_TEXT,
    Report,
    alerting_findings,
    answered_results,
    changed_pointers,
    drifting,
    explain_command,
    plain,
    unanswered,
    utc_text,
)

PR_COMMENT_MARKER = "<!-- iacdrift:pr-comment -->"
SUMMARY_LIMIT = 1_000_000  # bytes; GitHub takes at most 1 MiB per step summary
COMMENT_LIMIT = 60_000  # bytes; GitHub takes at most 65,536 characters per comment
TABLE_ROWS = 500  # rows of one findings table, at most
LISTED_STACKS = 50  # stacks listed with their reason, at most
REASON_SHOWN = 1500  # characters of one reason, at most
_MARGIN = 400  # bytes kept for the closing lines

_STATUS_ORDER = (
    StackStatus.DRIFTED,
    StackStatus.ERROR,
    StackStatus.LOCKED,
    StackStatus.STALE,
    StackStatus.CLEAN,
)
_VERDICT = {
    ExitCode.OK: "No drift",
    ExitCode.DRIFT: "Drift found",
    ExitCode.FAILED: "Not everything could be checked: drift unknown",
}


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


def _shown(text: str) -> str:
    text = plain(text)
    return text if len(text) <= REASON_SHOWN else text[: REASON_SHOWN - 1] + "…"


def _indented(lines: Sequence[str]) -> list[str]:
    """Lines continuing a list item (a fenced block inside it)."""
    return [f"  {line}" if line else "" for line in lines]


def _capped_rows(rows: Sequence[str], budget: int, limit: int) -> tuple[list[str], int]:
    """The first rows that fit ``budget`` bytes and ``limit`` rows, and how many did not."""
    kept: list[str] = []
    used = 0
    for row in rows:
        used += len(row.encode("utf-8")) + 1
        if used > budget or len(kept) >= limit:
            break
        kept.append(row)
    return kept, len(rows) - len(kept)


def _stack_cell(finding: Finding) -> str:
    return md_name(finding.stack, in_table=True) if finding.stack else "unmanaged"


def _loudest(finding: Finding) -> tuple[int, bool, str, str, str]:
    return (
        -finding.risk.rank,
        finding.stack is None,
        finding.stack or "",
        finding.resourceRef,
        finding.findingId,
    )


# --- the step summary --------------------------------------------------------------


def render_step_summary(report: Report) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: the verdict and exit code, stacks per
    status, a table of alerting findings (highest risk first: stack, resource, class,
    risk, action and the ``iacdrift explain`` command), the stacks that could not be
    checked with their reasons, and estate problems. At most :data:`SUMMARY_LIMIT`
    bytes."""
    answered = answered_results(report)
    findings = sorted(alerting_findings(report), key=_loudest)
    head = [*_title(report), "", *_status_table(report, answered, len(findings)), ""]
    tail = [
        *_drifted_stacks(answered),
        *_not_checked(answered, unanswered(report)),
        *_estate_problems(report),
    ]
    tail += _footer(report)
    table: list[str] = []
    if findings:
        rows = [
            "| "
            + " | ".join(
                [
                    _stack_cell(f),
                    md_code(f.resourceRef, in_table=True),
                    f.driftClass.value,
                    f.risk.value,
                    f.recommendedAction.value,
                    md_code(explain_command(f), in_table=True),
                ]
            )
            + " |"
            for f in findings
        ]
        header = [
            f"## Alerting findings ({len(findings)})",
            "",
            "| stack | resource | class | risk | action | why |",
            "|---|---|---|---|---|---|",
        ]
        budget = SUMMARY_LIMIT - _size(head) - _size(tail) - _size(header) - _MARGIN
        kept, more = _capped_rows(rows, budget, TABLE_ROWS)
        table = [*header, *kept, ""]
        if more:
            table += [f"… and {count(more, 'more alerting finding')}: see the JSON report.", ""]
    else:
        table = ["No alerting findings.", ""]
    return "\n".join([*head, *table, *tail]).rstrip() + "\n"


def _title(report: Report) -> list[str]:
    code = report.exit_code()
    if isinstance(report, RunReport):
        title = f"# iacdrift run {md_code(report.runId)}"
        when = utc_text(report.finishedAt)
    else:
        title = "# iacdrift check"
        when = utc_text(report.generatedAt)
    return [title, "", f"**{_VERDICT.get(code, 'Failed')}** (exit {int(code)}), {when}"]


def _status_table(
    report: Report, answered: Sequence[tuple[StackResult, SkippedStack | None]], alerting: int
) -> list[str]:
    """A line of totals, then the stacks per status."""
    statuses = Counter(result.status for result, _ in answered)
    rows = [
        f"| {status.value} | {statuses[status]} |" for status in _STATUS_ORDER if statuses[status]
    ]
    skipped = len(unanswered(report))
    if skipped:
        rows.append(f"| not checked (lease held elsewhere) | {skipped} |")
    totals = (
        f"{count(len(answered) + skipped, 'stack')}, {count(alerting, 'alerting finding')}, "
        f"{count(len(report.estateFindings), 'unmanaged resource')}."
    )
    return [totals, "", "| status | stacks |", "|---|---:|", *rows]


def _drifted_stacks(answered: Sequence[tuple[StackResult, SkippedStack | None]]) -> list[str]:
    """The DRIFTED stacks by name, with their drift and alerting counts: a stack whose
    drift pages nobody (a secret rotation, pending code) is still named here."""
    drifted = sorted(
        (result for result, _ in answered if result.status is StackStatus.DRIFTED),
        key=lambda result: result.stack,
    )
    if not drifted:
        return []
    lines = [
        f"## Drifted stacks ({len(drifted)})",
        "",
        "| stack | owner | drifted | alerting |",
        "|---|---|---:|---:|",
    ]
    for result in drifted[:LISTED_STACKS]:
        alerting = sum(1 for f in result.findings if f.alert)
        owner = md_code(result.owner, in_table=True) if result.owner else "-"
        lines.append(
            f"| {md_code(result.stack, in_table=True)} | {owner} | "
            f"{result.counts.drifted} | {alerting} |"
        )
    if len(drifted) > LISTED_STACKS:
        lines.append(f"| … and {count(len(drifted) - LISTED_STACKS, 'more stack')} | | | |")
    return [*lines, ""]


def _not_checked(
    answered: Sequence[tuple[StackResult, SkippedStack | None]], skipped: Sequence[SkippedStack]
) -> list[str]:
    """ERROR, LOCKED and STALE stacks and unanswered skipped ones, each with its reason."""
    entries: list[tuple[str, list[str]]] = []
    for result, _ in answered:
        if result.status in UNKNOWN:
            entries.append(
                (result.stack, _reason_item(result.stack, result.status.value, result.reason))
            )
    for item in skipped:
        holder = item.holder or "another iacdrift process"
        entries.append(
            (
                item.stack,
                _reason_item(
                    item.stack, f"not checked (lease held by {md_code(holder)})", item.reason
                ),
            )
        )
    if not entries:
        return []
    entries.sort(key=lambda entry: entry[0])
    lines = [f"## Not checked: drift unknown ({len(entries)})", ""]
    for _, item_lines in entries[:LISTED_STACKS]:
        lines += item_lines
    if len(entries) > LISTED_STACKS:
        lines.append(f"- … and {count(len(entries) - LISTED_STACKS, 'more stack')}")
    return [*lines, ""]


def _reason_item(stack: str, status: str, reason: str | None) -> list[str]:
    lines = [f"- {md_name(stack)}: **{status}**"]
    if reason:
        lines += _indented(md_block(_shown(reason)))
    return lines


def _estate_problems(report: Report) -> list[str]:
    if not report.estateProblems:
        return []
    lines = ["## Estate problems", ""]
    for problem in report.estateProblems[:LISTED_STACKS]:
        lines += ["-", *_indented(md_block(_shown(problem)))]
    if len(report.estateProblems) > LISTED_STACKS:
        lines.append(f"- … and {count(len(report.estateProblems) - LISTED_STACKS, 'more problem')}")
    return [*lines, ""]


def _footer(report: Report) -> list[str]:
    parts = ["`iacdrift explain ID` says why a finding got its class, risk and action"]
    if report.policyVersion:
        parts.append(f"policy version {md_code(report.policyVersion)}")
    return ["---", "", "; ".join(parts) + "."]


# --- the pull-request comment ------------------------------------------------------


def render_pr_comment(report: Report, stacks: Sequence[str]) -> str:
    """A comment for a pull request that changes ``stacks``: what drifts in them now,
    so that the author knows before merging that an apply of the new code meets live
    resources that differ from what the code last said.

    The first line is :data:`PR_COMMENT_MARKER`, for a bot to find and update its own
    comment. Then, per changed stack: DRIFTED ones with a table of their drift (resource,
    class, risk, alert, action, changed pointers, the explain command); those that could
    not be checked, with their reason; the clean ones in one line; those the report does
    not hold. At most :data:`COMMENT_LIMIT` bytes.
    """
    touched = sorted(set(stacks))
    by_stack = {result.stack: (result, skipped) for result, skipped in answered_results(report)}
    waiting = {item.stack: item for item in unanswered(report)}
    drifted = [s for s in touched if s in by_stack and by_stack[s][0].status is StackStatus.DRIFTED]
    unknown = [
        s
        for s in touched
        if (s in by_stack and by_stack[s][0].status in UNKNOWN)
        or (s not in by_stack and s in waiting)
    ]
    clean = [s for s in touched if s in by_stack and by_stack[s][0].status is StackStatus.CLEAN]
    absent = [s for s in touched if s not in by_stack and s not in waiting]
    when = utc_text(report.finishedAt if isinstance(report, RunReport) else report.generatedAt)
    head = [
        PR_COMMENT_MARKER,
        "## iacdrift: drift in the stacks this pull request changes",
        "",
        _pr_headline(len(touched), drifted, unknown, when),
        "",
    ]
    if drifted:
        head += [
            "An apply of this pull request meets the live resources as they are: its plan "
            "reverts the drift below or collides with it. Look at each finding before merging.",
            "",
        ]
    closing = _pr_closing(clean, absent)
    budget = COMMENT_LIMIT - _size(head) - _size(closing) - _MARGIN
    body: list[str] = []
    sections = [_pr_drifted(by_stack[s][0]) for s in drifted]
    for stack in unknown:
        if stack in by_stack:
            result = by_stack[stack][0]
            sections.append(_pr_unknown(stack, result.status.value, result.reason))
        else:
            status = "not checked (its lease was held by another run)"
            sections.append(_pr_unknown(stack, status, waiting[stack].reason))
    for index, section in enumerate(sections):
        if _size(body) + _size(section) > budget:
            body += [
                f"… and {count(len(sections) - index, 'more stack')}: see the step summary.",
                "",
            ]
            break
        body += section
    return "\n".join([*head, *body, *closing]).rstrip() + "\n"


def _pr_headline(touched: int, drifted: list[str], unknown: list[str], when: str) -> str:
    if not touched:
        return f"This pull request changes no registered stack (report of {when})."
    parts = [f"{len(drifted)} drifted", f"{len(unknown)} could not be checked"]
    changed = count(touched, "stack")
    return f"Of the {changed} this pull request changes, as checked {when}: {', '.join(parts)}."


def _pr_drifted(result: StackResult) -> list[str]:
    loud = sorted((f for f in result.findings if drifting(f)), key=_loudest)
    lines = [f"### {md_name(result.stack)}: DRIFTED ({count(len(loud), 'finding')})", ""]
    rows = []
    for f in loud:
        changed = changed_pointers(f, limit=5)
        cells = [
            md_code(f.resourceRef, in_table=True),
            f.driftClass.value,
            f.risk.value,
            "yes" if f.alert else "no",
            f.recommendedAction.value,
            RELATIONSHIP_TEXT[f.relationship],
            "<br>".join(md_code(c, in_table=True) for c in changed) or "-",
            md_code(explain_command(f), in_table=True),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    kept, more = _capped_rows(rows, COMMENT_LIMIT // 2, 50)
    lines += [
        "| resource | class | risk | alert | action | what | changed | why |",
        "|---|---|---|---|---|---|---|---|",
        *kept,
        "",
    ]
    if more:
        lines += [f"… and {count(more, 'more finding')}: see the step summary.", ""]
    return lines


def _pr_unknown(stack: str, status: str, reason: str | None) -> list[str]:
    lines = [
        f"### {md_name(stack)}: {status}",
        "",
        "Drift unknown: the stack could not be checked.",
    ]
    if reason:
        lines += ["", *md_block(_shown(reason))]
    return [*lines, ""]


def _names(stacks: Sequence[str], limit: int = 100) -> str:
    names = ", ".join(md_name(s) for s in stacks[:limit])
    more = len(stacks) - limit
    return names + (f" and {count(more, 'more stack')}" if more > 0 else "")


def _pr_closing(clean: list[str], absent: list[str]) -> list[str]:
    lines: list[str] = []
    if clean:
        lines += [f"No drift: {_names(clean)}.", ""]
    if absent:
        lines += [
            f"Not in this report (not registered, or not checked by it): {_names(absent)}.",
            "",
        ]
    lines.append("`iacdrift explain ID` says why a finding got its class, risk and action.")
    return lines
