"""Reading Terraform's and OpenTofu's human diagnostics out of stderr.

With ``-no-color`` Terraform 1.15 and OpenTofu 1.6 print unboxed diagnostics
(``Error: summary`` then the detail; errors on stderr, warnings on stdout).
With colour they draw boxes such as::

    ╷
    │ Error: Error acquiring the state lock
    │
    │ Error message: ...
    │ Lock Info:
    │   ID:        5f0c...
    ╵

We read both forms and keep severity, summary and detail; lock info is
parsed from the detail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from iacdrift.errors import Diagnostic, LockInfo

_HEAD = re.compile(r"^(Error|Warning): (.*)$")
_BOX = re.compile(r"^[│╷╵] ?")

LOCK_SUMMARY = "Error acquiring the state lock"

# How Terraform 1.15 and OpenTofu 1.6 say a provider plugin did not start (or its
# socket could not be reached): "Failed to load plugin schemas ... Failed to obtain
# provider schema ... failed to instantiate provider ... plugin exited before we
# could connect" (or "Unrecognized remote plugin message", or a start timeout).
_PROVIDER_START = (
    "failed to load plugin schemas",
    "failed to obtain provider schema",
    "failed to instantiate provider",
    "plugin exited before we could connect",
    "unrecognized remote plugin message",
    "timeout while waiting for plugin to start",
)


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


def parse_lock_time(text: str) -> datetime | None:
    """Lock creation time: Go's ``2026-11-25 12:00:00.123456 +0000 UTC`` (what
    Terraform prints) or RFC 3339 (what it stores). None if neither."""
    text = text.strip()
    go = re.match(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)? ([+-]\d{4})", text)
    if go:
        fraction = (go.group(3) or ".0")[:7]
        text = f"{go.group(1)}T{go.group(2)}{fraction}{go.group(4)}"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def provider_start_failed(diagnostics: list[Diagnostic]) -> bool:
    """True when an error diagnostic says a provider plugin could not be started."""
    return any(
        d.severity == "error"
        and any(m in f"{d.summary} {d.detail}".lower() for m in _PROVIDER_START)
        for d in diagnostics
    )
