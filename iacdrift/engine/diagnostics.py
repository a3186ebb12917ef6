"""Reading Terraform's and OpenTofu's human diagnostics out of stderr.

Both print (with ``-no-color``) boxes such as::

    ╷
    │ Error: Error acquiring the state lock
    │
    │ Error message: ...
    │ Lock Info:
    │   ID:        5f0c...
    ╵

Older paths print the same without the box characters. We keep severity,
summary and detail; lock info is parsed from the detail.
"""

from __future__ import annotations

import re

from iacdrift.errors import Diagnostic, LockInfo

_HEAD = re.compile(r"^(Error|Warning): (.*)$")
_BOX = re.compile(r"^[│╷╵] ?")

LOCK_SUMMARY = "Error acquiring the state lock"


def parse_diagnostics(stderr: str) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    severity: str | None = None
    summary = ""
    detail: list[str] = []

    def flush() -> None:
        if severity is not None:
            diagnostics.append(Diagnostic(severity, summary.strip(), "\n".join(detail).strip()))

    for raw in stderr.splitlines():
        boxed = bool(_BOX.match(raw))
        line = _BOX.sub("", raw)
        head = _HEAD.match(line.strip()) if not line.startswith(" ") or boxed else None
        if head:
            flush()
            severity = head.group(1).lower()
            summary, detail = head.group(2), []
        elif raw.startswith("╵"):
            flush()
            severity = None
        elif severity is not None:
            detail.append(line)
    flush()
    return diagnostics


_LOCK_FIELDS = {
    "ID": "id",
    "Path": "path",
    "Operation": "operation",
    "Who": "who",
    "Version": "version",
    "Created": "created",
    "Info": "info",
}


def parse_lock_info(diagnostics: list[Diagnostic]) -> LockInfo | None:
    """The lock holder, when one of the diagnostics is a held state lock."""
    for diagnostic in diagnostics:
        if diagnostic.summary.startswith(LOCK_SUMMARY) and "Lock Info:" in diagnostic.detail:
            values: dict[str, str] = {}
            for line in diagnostic.detail.split("Lock Info:", 1)[1].splitlines():
                key, sep, value = line.strip().partition(":")
                if sep and key in _LOCK_FIELDS:
                    values[_LOCK_FIELDS[key]] = value.strip()
            return LockInfo(**values)
    return None
