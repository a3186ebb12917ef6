"""Terraform's own log (``TF_LOG``), on request: one private file per Terraform call.

Off by default. With ``--tf-log LEVEL`` each Terraform process of a stack writes
its log to a fresh file ``NN-<commands>.log`` under
``.iacdrift/logs/<run>/<stack>/`` (directories 0700, files 0600). The file is
created here, with a warning at its top, before Terraform appends to it
(``TF_LOG_PATH``): Terraform never writes its log to stderr, so no log line
reaches an error message, a report, the run history or a notification; those
name the file at most.

The embedded engine runs init, plan and show of one stack in one process
(engine/worker.py), and Terraform reads ``TF_LOG`` once per process: such a
call's file holds the three commands (``02-init+plan+show.log``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# What Terraform and OpenTofu accept in TF_LOG (JSON: TRACE, as JSON lines).
LEVELS: tuple[str, ...] = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "JSON")

WARNING = (
    "WARNING: a Terraform log can contain secret values: at TRACE and DEBUG it holds\n"
    "request and response bodies (credentials, secret strings, state), and variable\n"
    "values. Keep this file private (it is created with mode 0600), review it before\n"
    "sharing any part of it, and delete it when done."
)

_MAX_FILES = 10_000


def _safe(name: str) -> str:
    """A file name component from a stack name or a command label."""
    cleaned = "".join(c if c.isalnum() or c in "-_.+" else "-" for c in name).strip(".")
    return cleaned[:80] or "stack"


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)


@dataclass(frozen=True)
class TerraformLog:
    """``--tf-log``: keep Terraform's log at ``level`` for every call of one stack,
    one file per call under ``root/<run>/<stack>/`` (``root``: ``.iacdrift/logs``)."""

    level: str
    root: Path
    run: str

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"TF_LOG level {self.level!r}: use one of {', '.join(LEVELS)}")

    def directory(self, stack: str) -> Path:
        return self.root / _safe(self.run) / _safe(stack)

    def new_file(self, stack: str, label: str) -> Path:
        """Create the next ``NN-<label>.log`` of ``stack`` (0600, the warning at its
        top) and return its path; Terraform appends its log to it."""
        self.root.mkdir(parents=True, exist_ok=True)
        _private_dir(self.root / _safe(self.run))
        directory = self.directory(stack)
        _private_dir(directory)
        header = (
            f"# Terraform log, TF_LOG={self.level}: stack {stack}, terraform {label}"
            f" (iacdrift run {self.run}, --tf-log)\n"
            + "".join(f"# {line}\n" for line in WARNING.splitlines())
            + "\n"
        )
        number = sum(1 for _ in directory.glob("*.log")) + 1
        while number < _MAX_FILES:
            path = directory / f"{number:02d}-{_safe(label)}.log"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                number += 1
                continue
            os.fchmod(fd, 0o600)  # whatever the umask: Terraform opens it read-write
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(header)
            return path
        raise OSError(f"{directory}: too many Terraform log files")
