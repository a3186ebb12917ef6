"""Reports on disk: the files ``--out`` writes (loaders/reports.py reads one back).

``check --out DIR`` writes check.json and check.md; ``run --out DIR`` writes
run.json, run.md and run.txt (the table as plain text). JSON is the canonical
rendering of :mod:`iacdrift.report.common`, the same bytes ``--format json`` prints.
"""

from __future__ import annotations

from pathlib import Path

from iacdrift.models.finding import CheckReport
from iacdrift.models.run import RunReport
from iacdrift.report.check import render_markdown, table_text
from iacdrift.report.common import render_json


def write_check_files(out_dir: Path, report: CheckReport) -> list[Path]:
    """check.json and check.md in ``out_dir`` (created); the paths written."""
    return _write(out_dir, {"check.json": render_json(report), "check.md": render_markdown(report)})


def write_run_files(out_dir: Path, report: RunReport) -> list[Path]:
    """run.json, run.md and run.txt in ``out_dir`` (created); the paths written."""
    as_check = report.as_check_report()
    return _write(
        out_dir,
        {
            "run.json": render_json(report),
            "run.md": render_markdown(as_check),
            "run.txt": table_text(as_check),
        },
    )


def _write(out_dir: Path, files: dict[str, str]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
