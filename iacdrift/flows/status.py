"""`iacdrift status`: what the run history says about every registered stack, and
whether it still holds.

Per stack: the last result, the last successful check, due / STALE (the last
successful check older than the schedule, or none: unknown, never green),
consecutive failures with the last reason, and Terraform's state lock as held
right now. Reading the locks needs the cloud; when it cannot be reached that
is one problem line and the history part is still reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from iacdrift.aws.lease import endpoint_answered
from iacdrift.clock import Clock, utc_now
from iacdrift.core.staleness import stack_status_entry
from iacdrift.errors import CloudError, IacdriftError, InputError
from iacdrift.flows.registry import require_stacks
from iacdrift.flows.workbench import Workbench
from iacdrift.loaders.registry import Project, display_path, load_project
from iacdrift.locking import DEFAULT_STALE_LOCK_AFTER, TerraformLocks
from iacdrift.models.finding import LockHolder, StackResult
from iacdrift.models.run import LockContention, StackStatusEntry, StatusReport
from iacdrift.store.history import HistoryStore, default_history_path

DEFAULT_CONTENTION_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class StatusOptions:
    history_path: Path | None = None
    """None: ``.iacdrift/history.sqlite`` under the project root (may not exist yet)."""
    stale_lock_after: timedelta = DEFAULT_STALE_LOCK_AFTER
    contention_window: timedelta = DEFAULT_CONTENTION_WINDOW
    read_locks: bool = True
    clock: Clock = utc_now


@dataclass(frozen=True)
class _History:
    last_result: StackResult | None = None
    last_success: datetime | None = None
    consecutive_failures: int = 0


def project_status(
    config_path: Path | None, registry_dir: Path | None, options: StatusOptions | None = None
) -> StatusReport:
    """`iacdrift status`: read the settings and the registry, then :func:`status`."""
    return status(load_project(config_path, registry_dir), options)


def status(project: Project, options: StatusOptions | None = None) -> StatusReport:
    """The status of every registered stack, sorted by name; InputError when none is
    registered (no stack is not "all current")."""
    require_stacks(project)
    options = options or StatusOptions()
    now = options.clock()
    problems: list[str] = []
    path = options.history_path or default_history_path(project.root)
    shown = display_path(path)
    histories: dict[str, _History] = {}
    contention: list[LockContention] = []
    if path.is_file():
        with HistoryStore(path) as store:
            for stack in project.stacks:
                histories[stack.name] = _History(
                    last_result=store.last_result(stack.name),
                    last_success=store.last_success(stack.name),
                    consecutive_failures=store.consecutive_failures(stack.name),
                )
            contention = [
                LockContention(stack=c.stack, checkedAt=c.checked_at, lock=c.lock)
                for c in store.recent_lock_contention(now - options.contention_window)
            ]
    elif options.history_path is not None:
        raise InputError(
            f"{shown}: no run history there; run `iacdrift run` first or fix --history"
        )
    else:
        problems.append(f"no run history yet ({shown}): run `iacdrift run` to check the estate")

    locks, lock_errors = (
        _read_locks(project, now, options, problems) if options.read_locks else ({}, {})
    )
    entries: list[StackStatusEntry] = []
    for stack in project.stacks:
        history = histories.get(stack.name, _History())
        entries.append(
            stack_status_entry(
                stack.unit,
                last_result=history.last_result,
                last_success=history.last_success,
                consecutive_failures=history.consecutive_failures,
                now=now,
                lock=locks.get(stack.name),
                lock_error=lock_errors.get(stack.name),
            )
        )
    return StatusReport(
        generatedAt=now,
        history=shown,
        entries=entries,
        contention=contention,
        problems=problems,
    )


def _read_locks(
    project: Project, now: datetime, options: StatusOptions, problems: list[str]
) -> tuple[dict[str, LockHolder], dict[str, str]]:
    """Current state locks per stack, and why a stack's lock could not be read."""
    locks: dict[str, LockHolder] = {}
    errors: dict[str, str] = {}
    try:
        bench = Workbench.open(project)
        reader = TerraformLocks(bench.inventory_credentials(), bench.target)
    except IacdriftError as exc:
        problems.append(f"current state locks not read: {exc}")
        return locks, dict.fromkeys(project.names, exc.message)
    unreachable: str | None = None
    for stack in project.stacks:
        if unreachable is not None:
            errors[stack.name] = unreachable
            continue
        try:
            lock = reader.read(stack.unit.spec.state, now, stale_after=options.stale_lock_after)
        except CloudError as exc:
            errors[stack.name] = exc.message
            # An answer (AccessDenied, ...) concerns this stack only; no answer at all
            # means the endpoint is gone: say so once instead of timing out per stack.
            if endpoint_answered(exc):
                problems.append(f"{stack.name}: state lock not read: {exc.message}")
            else:
                unreachable = exc.message
                problems.append(f"current state locks not read: {exc.message}")
            continue
        if lock is not None:
            locks[stack.name] = lock
    return locks, errors
