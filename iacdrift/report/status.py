"""Status reports as text: a rich table. Data in, text out; stack names, reasons and
lock holders are literal text (see :mod:`iacdrift.report.common`).

JSON is :func:`iacdrift.report.common.render_json`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from iacdrift.errors import ExitCode
from iacdrift.models.finding import StackStatus
from iacdrift.models.run import StackStatusEntry, StatusReport
from iacdrift.report.common import STATUS_STYLE, count, literal, lock_summary


def age(moment: datetime | None, now: datetime) -> str:
    """``"3h12m ago"``-style age of ``moment`` at ``now``; ``"never"`` for None."""
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 2 * 3600:
        return f"{seconds // 60}m ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m ago"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h ago"


def _lock_cell(entry: StackStatusEntry) -> Text:
    if entry.lock is not None:
        return literal(lock_summary(entry.lock), "bold red" if entry.lock.stale else "yellow")
    if entry.lockError is not None:
        return Text("?", style="magenta")
    return Text("-")


def _status_cell(entry: StackStatusEntry) -> Text:
    text = literal(entry.status.value, STATUS_STYLE[entry.status])
    if entry.status is StackStatus.STALE and entry.lastStatus is not None:
        text.append(f" (last {entry.lastStatus.value})")
    return text


def _summary(report: StatusReport) -> Text:
    counts = Counter(entry.status for entry in report.entries)
    parts = [count(len(report.entries), "stack")]
    parts += [f"{counts[s]} {s.value}" for s in StackStatus if counts[s]]
    locked = sum(1 for entry in report.entries if entry.lock is not None)
    if locked:
        parts.append(f"{count(locked, 'state lock')} held")
    due = sum(1 for entry in report.entries if entry.due)
    parts.append(f"{due} due")
    verdict = "all current" if report.exit_code() is ExitCode.OK else "attention needed"
    return Text(f"{', '.join(parts)}: {verdict}", style="bold")


def render_table(report: StatusReport, console: Console) -> None:
    now = report.generatedAt
    table = Table(show_lines=False, expand=False)
    for column in (
        "stack",
        "tier",
        "every",
        "status",
        "last check",
        "last success",
        "failures",
        "state lock",
        "reason",
    ):
        table.add_column(column, overflow="fold")
    for entry in report.entries:
        table.add_row(
            literal(entry.stack),
            literal(entry.riskTier.value),
            literal(entry.frequency),
            _status_cell(entry),
            literal(age(entry.lastCheckedAt, now)),
            literal(age(entry.lastSuccessAt, now) + (" (due)" if entry.due else "")),
            literal(str(entry.consecutiveFailures) if entry.consecutiveFailures else "-"),
            _lock_cell(entry),
            literal((entry.lastReason or "") if entry.consecutiveFailures else ""),
        )
    parts: list[Any] = [table]
    for problem in report.problems:
        parts.append(literal(f"note: {problem}", "magenta"))
    if report.contention:
        parts.append(Text("recent lock contention (checks that found the state locked):"))
        for item in report.contention:
            parts.append(
                literal(
                    f"  {item.checkedAt:%Y-%m-%d %H:%M}Z {item.stack}: {lock_summary(item.lock)}"
                )
            )
    parts.append(_summary(report))
    console.print(Group(*parts))
