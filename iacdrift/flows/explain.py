"""`iacdrift explain FINDING_ID`: the most recent record of one finding.

Read from the run history (every `run` and `check` keeps its findings there) or
from a saved run or check report. An id of 12 or more leading characters is
enough when it names one finding.
"""

from __future__ import annotations

from pathlib import Path

from iacdrift.core.routing import findings_of
from iacdrift.errors import FindingNotFoundError
from iacdrift.loaders.registry import load_project
from iacdrift.loaders.reports import read_report
from iacdrift.models.finding import Finding
from iacdrift.store.history import MIN_PREFIX, HistoryStore, default_history_path


def find_finding(
    finding_id: str,
    *,
    config_path: Path | None = None,
    registry_dir: Path | None = None,
    history_file: Path | None = None,
    report_file: Path | None = None,
) -> Finding:
    """The finding ``finding_id`` from ``report_file``, else from the run history
    (``history_file``, default: the project's); FindingNotFoundError when absent."""
    if report_file is not None:
        finding = _in_report(report_file, finding_id)
        where = str(report_file)
    else:
        if history_file is None:
            project = load_project(config_path, registry_dir)
            history_file = default_history_path(project.root)
        if not history_file.exists():
            raise FindingNotFoundError(
                f"{history_file}: no run history yet; run `iacdrift run` or `iacdrift check` "
                "first, or pass --report"
            )
        with HistoryStore(history_file) as history:
            finding = history.find_finding(finding_id)
        where = str(history_file)
    if finding is None:
        raise FindingNotFoundError(
            f"{finding_id}: no such finding in {where}; copy the findingId from `run` or "
            "`check` output (drift-...)"
        )
    return finding


def _in_report(path: Path, finding_id: str) -> Finding | None:
    findings = findings_of(read_report(path))
    matches = [f for f in findings if f.findingId == finding_id]
    if not matches and len(finding_id) >= MIN_PREFIX:
        matches = [f for f in findings if f.findingId.startswith(finding_id)]
    return matches[0] if len({f.findingId for f in matches}) == 1 else None
