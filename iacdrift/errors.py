"""The one exception tree of iacdrift and the exit codes it maps to.

::

    IacdriftError                    exit 1 unless said otherwise
    +-- InputError                   bad input: a file, a field or an argument
    |   +-- RegistryError            registry/ or iacdrift.yaml; carries every problem
    |   +-- UnknownStackError        a stack name that is not registered
    |   +-- TerraformFormatError     a state or plan JSON we cannot read
    |   +-- AuditLogError            a CloudTrail log file (or its place) we cannot read
    |   +-- FindingNotFoundError     no finding with that id in the history or report
    |   +-- DependencyCycleError     repair steps (or stacks) depend on each other in a cycle
    +-- ExecutionError               something outside failed while we ran it
    |   +-- TerraformError           Terraform/OpenTofu reported an error diagnostic
    |   |   +-- StateLockedError     the state lock is held by someone else
    |   +-- TerraformTimeoutError    a Terraform call ran past its timeout
    |   +-- EngineUnavailableError   no usable terraform/tofu executable
    |   +-- CloudError               an AWS endpoint failed or could not be reached
    |   +-- SandboxError             the loopback sandbox is not in the needed shape
    |   +-- MissingExtraError        an optional extra (e.g. ``sandbox``) is not installed
    |   +-- HistoryError             the run history (SQLite) failed     store/history.py
    |   +-- NotificationLogError     the notification log failed         store/notifications.py
    |   +-- DeliveryError            one notification delivery failed    flows/notify.py
    +-- CredentialsError             no credentials for a stack, or they were refused
    +-- RefusedError                 we decline to act (limits, missing approvals, ...)
        +-- LeaseHeldError           another iacdrift holds the stack's lease  locking.py
        +-- LeaseLostError           our lease expired or was taken over       locking.py

Classes without a module named are defined here; the others beside the code that
raises them. Every message is one line that names the file/field/stack and says
what to do. Third-party exceptions are translated at the boundary with
``raise ... from exc``. (``engine/process.py::ProcessTimeoutError`` is internal to
the engine: it becomes a TerraformTimeoutError before it leaves ``engine/``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Process exit codes. 2 is reserved for "drift (or changes) found"."""

    OK = 0
    FAILED = 1
    DRIFT = 2
    INTERRUPTED = 130


class IacdriftError(Exception):
    """Base of every error iacdrift raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(IacdriftError):
    """Bad input: a malformed file, an unknown name, an invalid argument."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one of our files: ``file: field: what is wrong / what to do``."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}"


class RegistryError(InputError):
    """The registry or the settings file has problems; all of them are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        first = str(self.problems[0]) if self.problems else "registry is invalid"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)


class UnknownStackError(InputError):
    """A stack named on the command line is neither registered nor a directory."""


class TerraformFormatError(InputError):
    """A state, plan or show -json document that we cannot read."""


class FindingNotFoundError(InputError):
    """No finding with that id where we looked (run history or a saved report)."""


class DependencyCycleError(InputError):
    """The repair steps' dependencies (resources, remote-state reads) form a cycle.

    ``members`` are the step ids of one cycle, in cycle order; the message names them
    and the addresses they touch.
    """

    def __init__(self, message: str, members: list[str]) -> None:
        super().__init__(message)
        self.members = members


class AuditLogError(InputError):
    """A CloudTrail log file (or the place they are kept) that we cannot read."""


class ExecutionError(IacdriftError):
    """Something outside iacdrift failed while it was running."""


@dataclass(frozen=True)
class Diagnostic:
    """One Terraform diagnostic as printed by the CLI (``Error: summary`` + detail)."""

    severity: str
    summary: str
    detail: str = ""


@dataclass
class TerraformFailure:
    """What we know about a failed Terraform call."""

    command: str
    exit_code: int | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stderr_tail: str = ""
    # What the operator can do about it, when we know more than Terraform said.
    hint: str = ""
    # Terraform's log file of the call (--tf-log), when one was written.
    log: Path | None = None


# Terraform 1.15 prefixes init failures with this umbrella diagnostic; the real
# cause is the next one.
_INIT_PREAMBLE = "Terraform encountered problems during initialisation"


def _errors(failure: TerraformFailure) -> list[Diagnostic]:
    errors = [d for d in failure.diagnostics if d.severity == "error"]
    specific = [d for d in errors if not d.summary.startswith(_INIT_PREAMBLE)]
    return specific or errors


class TerraformError(ExecutionError):
    """Terraform or OpenTofu exited with an error; carries its diagnostics."""

    def __init__(self, stack: str, failure: TerraformFailure) -> None:
        self.stack = stack
        self.failure = failure
        errors = _errors(failure)
        if errors:
            first = errors[0]
            detail = _first_paragraph(first.detail)
            summary = first.summary.rstrip(".:")
            reason = f"{summary}: {detail}" if detail else summary
        else:
            tail = failure.stderr_tail.strip().splitlines()
            reason = tail[-1] if tail else f"exit code {failure.exit_code}"
        hint = f"; {failure.hint}" if failure.hint else ""
        log = f"; Terraform's log: {failure.log}" if failure.log else ""
        super().__init__(f"{stack}: terraform {failure.command} failed: {reason}{hint}{log}")

    @property
    def log(self) -> Path | None:
        """Terraform's log file of the failed call (--tf-log), if one was written."""
        return self.failure.log

    @property
    def summary(self) -> str:
        errors = _errors(self.failure)
        return errors[0].summary if errors else self.message

    @property
    def detail(self) -> str:
        errors = _errors(self.failure)
        return errors[0].detail if errors else self.failure.stderr_tail


# A numbered line of a source snippet in a Terraform diagnostic ("  12: resource ...").
_SNIPPET_LINE = re.compile(r"^\s*\d+:(\s|$)")
# The longest detail a one-line error carries (a wrapped AWS SDK error fits).
_DETAIL_CHARS = 400


def _first_paragraph(detail: str) -> str:
    """The detail's first paragraph on one line: Terraform wraps its diagnostics at
    the terminal width, and an AWS SDK error ("operation error DynamoDB: DeleteItem,
    https response error StatusCode: 400, ... ConditionalCheckFailedException") says
    what went wrong only past the first line."""
    lines: list[str] = []
    for line in detail.strip().splitlines():
        # A blank line, or a source snippet's numbered lines ("on main.tf line 1, in
        # output "x":" and then "  1: output ..."): not the sentence going on.
        if not line.strip() or _SNIPPET_LINE.match(line):
            break
        lines.append(line.strip())
    text = " ".join(lines)
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


@dataclass(frozen=True)
class LockInfo:
    """Terraform's state lock record (the ``Lock Info:`` block of its error)."""

    id: str = ""
    path: str = ""
    operation: str = ""
    who: str = ""
    version: str = ""
    created: str = ""
    info: str = ""


class StateLockedError(TerraformError):
    """The state lock is held by another process; the stack is LOCKED, not clean."""

    def __init__(self, stack: str, failure: TerraformFailure, lock: LockInfo) -> None:
        self.lock = lock
        super().__init__(stack, failure)
        holder = lock.who or "unknown holder"
        self.message = (
            f"{stack}: state is locked by {holder} (operation {lock.operation or '?'}, "
            f"since {lock.created or '?'}, lock id {lock.id or '?'}); wait for it to finish, "
            "or if the holder is gone, review and run `terraform force-unlock` yourself"
        )


class TerraformTimeoutError(ExecutionError):
    """A Terraform call ran past its timeout and was stopped."""

    def __init__(self, message: str, *, log: Path | None = None) -> None:
        super().__init__(f"{message}; Terraform's log: {log}" if log else message)
        self.log = log


class EngineUnavailableError(ExecutionError):
    """No usable terraform/tofu executable for the requested engine."""


class CloudError(ExecutionError):
    """An AWS (or sandbox) endpoint failed or could not be reached."""


class SandboxError(ExecutionError):
    """The loopback sandbox is not running or not in the needed shape."""


class MissingExtraError(ExecutionError):
    """An optional dependency group is not installed."""


class CredentialsError(IacdriftError):
    """No credentials could be obtained for a stack, or they were refused."""


class RefusedError(IacdriftError):
    """iacdrift declines to act: a limit, a missing approval, a stale lineage."""
