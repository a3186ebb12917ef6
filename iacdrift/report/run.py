"""Runs as text: the progress line per stack and the closing summary. Data in, text out.

The run's findings render as a check report (:meth:`RunReport.as_check_report` with
:mod:`iacdrift.report.check`).
"""

from __future__ import annotations

from collections import Counter

from iacdrift.models.finding import StackResult, StackStatus
from iacdrift.models.run import RunReport


def progress_line(stack: str, result: StackResult | None, done: int, total: int) -> str:
    """``[done/total] stack: STATUS (n drift) in 1.2s: reason``; None: skipped (leased)."""
    if result is None:
        return f"[{done}/{total}] {stack}: skipped (another iacdrift run holds its lease)"
    detail = f" ({result.counts.drifted} drift)" if result.status is StackStatus.DRIFTED else ""
    reason = f": {result.reason}" if result.reason else ""
    return (
        f"[{done}/{total}] {stack}: {result.status.value}{detail} "
        f"in {result.timings.totalSeconds:.1f}s{reason}"
    )


def run_summary(report: RunReport) -> str:
    """One line: the run id, stacks per status, unmanaged, skipped, seconds."""
    counts = Counter(result.status.value for result in report.results)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return (
        f"run {report.runId}: {len(report.results)} stacks ({parts or 'none due'}); "
        f"{len(report.estateFindings)} unmanaged; {len(report.skipped)} skipped; "
        f"{(report.finishedAt - report.startedAt).total_seconds():.1f}s"
    )
