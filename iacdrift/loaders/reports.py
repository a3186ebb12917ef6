"""Reading a saved RunReport or CheckReport back (``iacdrift route``, ``iacdrift
explain --report``): the one reader. The ``kind`` field decides the model, and every
problem is one line naming the file (and the field)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from iacdrift.errors import InputError
from iacdrift.loaders.registry import display_path
from iacdrift.models.finding import CheckReport
from iacdrift.models.run import RunReport

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
