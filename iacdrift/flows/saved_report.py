"""Reports on disk: the files ``--out`` writes (loaders/reports.py reads one back).

``check --out DIR`` writes check.json and check.md; ``run --out DIR`` writes
run.json, run.md and run.txt (the table and the summary as plain text; both list
the stacks the run skipped). JSON is the canonical rendering of
:mod:`iacdrift.report.common`, the same bytes ``--format json`` prints.
"""

from __future__ import annotations

from pathlib import Path

from iacdrift.models.finding import CheckReport
from iacdrift.models.run import RunReport
from iacdrift.report.check import render_markdown
from iacdrift.report.common import render_json
from iacdrift.report.run import render_run_markdown, run_table_text


def write_check_files(out_dir: Path, report: CheckReport) -> list[Path]:
    """check.json and check.md in ``out_dir`` (created); the paths written."""
    return _write(out_dir, {"check.json": render_json(report), "check.md": render_markdown(report)})


def write_run_files(out_dir: Path, report: RunReport) -> list[Path]:
    """run.json, run.md and run.txt in ``out_dir`` (created); the paths written."""
    return _write(
        out_dir,
        {
            "run.json": render_json(report),
            "run.md": render_run_markdown(report),
            "run.txt": run_table_text(report),
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
