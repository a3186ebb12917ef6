"""Reports on disk: the files ``--out`` writes, and reading a saved report back.

``check --out DIR`` writes check.json and check.md; ``run --out DIR`` writes
run.json, run.md and run.txt (the table as plain text). JSON is the canonical
rendering of :mod:`iacdrift.report.common`, the same bytes ``--format json`` prints.

:func:`read_report` is the one reader of a saved RunReport or CheckReport
(``iacdrift route``, ``iacdrift explain --report``): the ``kind`` field decides
the model, and every problem is one line naming the file (and the field).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from iacdrift.errors import InputError
from iacdrift.loaders.registry import display_path
from iacdrift.models.finding import CheckReport
from iacdrift.models.run import RunReport
from iacdrift.report.check import render_markdown, table_text
from iacdrift.report.common import render_json

_PRODUCE = "write it with `iacdrift run --format json` or `iacdrift check --format json`"
_MODELS: dict[str, type[RunReport] | type[CheckReport]] = {
    "RunReport": RunReport,
    "CheckReport": CheckReport,
}


def read_report(path: Path) -> RunReport | CheckReport:
    """A saved RunReport or CheckReport; InputError with one line otherwise."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{shown}: not found; {_PRODUCE}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{shown}: cannot be read ({exc}); {_PRODUCE}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{shown}: line {exc.lineno}: not JSON ({exc.msg}); {_PRODUCE}") from None
    kind = document.get("kind") if isinstance(document, dict) else None
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InputError(
            f"{shown}: kind: expected RunReport or CheckReport, got {kind!r}; {_PRODUCE}"
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(
            f"{shown}: {where}: {first['msg']}{more}; is it from another iacdrift version? "
            f"{_PRODUCE}"
        ) from None


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
