"""Runs as text: the progress line per stack, the report as a table, as plain text and
as markdown, and the closing summary. Data in, text out.

The run's own results render as a check report (:meth:`RunReport.as_check_report`
with :mod:`iacdrift.report.check`); every renderer then lists the stacks the run
skipped, with who held their lease and, when the run waited for it, the result that
holder's run recorded (naming that run).
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console, Group, RenderableType
from rich.text import Text

from iacdrift.models.finding import StackResult, StackStatus
from iacdrift.models.run import RunReport, SkippedStack
from iacdrift.report.check import (
    findings_table,
    footer_renderables,
    headline,
    md_footer,
    md_report_body,
    md_result,
    plain_text,
    report_renderables,
)
from iacdrift.report.common import count, literal, md_block, md_code, md_name


def _holder(skipped: SkippedStack) -> str:
    return skipped.holder or "another iacdrift process"


def progress_line(stack: str, outcome: StackResult | SkippedStack, done: int, total: int) -> str:
    """``[done/total] stack: STATUS (n drift) in 1.2s: reason``, or why it was skipped."""
    if isinstance(outcome, SkippedStack):
        if outcome.result is not None:
            return (
                f"[{done}/{total}] {stack}: {outcome.result.status.value} (result recorded "
                f"by run {outcome.holderRunId}, which held its lease)"
            )
        return (
            f"[{done}/{total}] {stack}: skipped, answer unknown (lease held by {_holder(outcome)})"
        )
    result = outcome
    detail = f" ({result.counts.drifted} drift)" if result.status is StackStatus.DRIFTED else ""
    reason = f": {result.reason}" if result.reason else ""
    return (
        f"[{done}/{total}] {stack}: {result.status.value}{detail} "
        f"in {result.timings.totalSeconds:.1f}s{reason}"
    )


def skipped_line(skipped: SkippedStack) -> str:
    """One skipped stack: the lease holder, and whose result answers for it (or none)."""
    if skipped.result is not None:
        return (
            f"{skipped.stack}: result recorded by run {skipped.holderRunId} (lease held by "
            f"{_holder(skipped)}):"
        )
    return f"{skipped.stack}: not checked, answer unknown (lease held by {_holder(skipped)})"


def _skipped_renderables(report: RunReport) -> list[RenderableType]:
    if not report.skipped:
        return []
    parts: list[RenderableType] = [
        Text(
            f"skipped: {count(len(report.skipped), 'stack')} whose lease another iacdrift run held",
            style="bold yellow",
        )
    ]
    for skipped in report.skipped:
        if skipped.result is None:
            parts.append(literal(f"  {skipped_line(skipped)}", "yellow"))
            parts.append(literal(f"    {skipped.reason}", "dim"))
            continue
        parts.append(literal(f"  {skipped_line(skipped)}"))
        parts.append(headline(skipped.result))
        if skipped.result.findings:
            parts.append(findings_table(skipped.result.findings))
    return parts


def run_renderables(report: RunReport) -> list[RenderableType]:
    """The run's results, unmanaged findings and problems, then its skipped stacks."""
    as_check = report.as_check_report()
    return [
        *report_renderables(as_check),
        *_skipped_renderables(report),
        *footer_renderables(as_check),
    ]


def render_run_table(report: RunReport, console: Console) -> None:
    console.print(Group(*run_renderables(report)))


def run_table_text(report: RunReport) -> str:
    """:func:`render_run_table` and the summary as plain text (run.txt)."""
    return plain_text([*run_renderables(report), literal(run_summary(report))])


def render_run_markdown(report: RunReport) -> str:
    """run.md: the run's results, then its skipped stacks, then the summary."""
    as_check = report.as_check_report()
    lines = [f"# iacdrift run {md_code(report.runId)}", "", *md_report_body(as_check)]
    if report.heals:
        lines += ["## Auto-heal", ""]
        lines += [f"- {md_code(line)}" for line in heal_lines(report)]
        lines.append("")
    if report.skipped:
        lines += ["## Skipped stacks", ""]
        for skipped in report.skipped:
            holder = md_code(_holder(skipped))
            if skipped.result is None:
                lines += [
                    f"- {md_name(skipped.stack)}: not checked, answer unknown (lease held "
                    f"by {holder})",
                    "",
                    *md_block(skipped.reason),
                    "",
                ]
                continue
            note = (
                f"Not checked by this run: its lease was held by {holder}; this is the result "
                f"run {md_code(skipped.holderRunId or '?')} recorded."
            )
            lines += md_result(skipped.result, level="###", note=note)
    lines += [*md_footer(as_check), "", run_summary(report)]
    return "\n".join(lines).rstrip() + "\n"


def run_summary(report: RunReport) -> str:
    """One line: the run id, stacks per status, unmanaged, skipped, seconds, verdict."""
    counts = Counter(result.status.value for result in report.results)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    unknown = len(report.unanswered)
    skipped = f"{len(report.skipped)} skipped"
    if report.skipped:
        known = len(report.skipped) - unknown
        details = [f"{unknown} unknown"] if unknown else []
        if known:
            details.append(f"{known} answered by the lease holder's run")
        skipped += f" ({', '.join(details)})"
    checked = count(len(report.results), "stack")
    if not report.results and not report.skipped:
        checked += " (none due)"
    elif parts:
        checked += f" ({parts})"
    healed = ""
    if report.heals:
        outcomes = Counter(h.outcome.value for h in report.heals)
        healed = "auto-heal: " + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) + "; "
    return (
        f"run {report.runId}: {checked}; {len(report.estateFindings)} unmanaged; {skipped}; "
        f"{healed}{(report.finishedAt - report.startedAt).total_seconds():.1f}s"
    )


def heal_lines(report: RunReport) -> list[str]:
    """One line per auto-heal: the stack, what, the outcome and its verification."""
    lines = []
    for heal in report.heals:
        verified = ""
        if heal.verification is not None:
            verified = "; verified" if heal.verification.passed else "; verification FAILED"
        why = f": {heal.reason}" if heal.reason else ""
        what = ", ".join(heal.addresses)
        lines.append(f"auto-heal {heal.stack} [{heal.outcome.value}] {what}{verified}{why}")
    return lines
