"""The run history: every run and every stack check, in one SQLite file.

Due-ness (``iacdrift run --due``) and staleness (``iacdrift status``) are
decided from it, so it must survive two iacdrift processes writing at once
(WAL mode, ``BEGIN IMMEDIATE`` writes, one lock per store: see
:mod:`iacdrift.store.sqlite`).

Schema, versioned with ``PRAGMA user_version`` and created on first use::

    runs          run_id TEXT PRIMARY KEY, started_at TEXT, finished_at TEXT NULL,
                  selection TEXT ('all' | 'due' | 'named'), exit_code INTEGER NULL
    stack_checks  id INTEGER PRIMARY KEY, run_id TEXT -> runs, stack TEXT,
                  checked_at TEXT, status TEXT (StackStatus), reason TEXT NULL,
                  plan_outcome TEXT NULL, drifted INTEGER (findings making the
                  stack DRIFTED), findings_json TEXT (the whole StackResult,
                  already redacted), lock_json TEXT NULL (LockHolder);
                  UNIQUE (run_id, stack), INDEX (stack, checked_at)
    findings      (v2) id INTEGER PRIMARY KEY, finding_id TEXT, run_id TEXT NULL
                  (NULL: an ad-hoc `check`), stack TEXT NULL (NULL: an estate
                  finding), detected_at TEXT, finding_json TEXT (the Finding,
                  redacted); INDEX (finding_id, detected_at): what
                  ``iacdrift explain`` reads
    runs.command  (v3) TEXT 'run' | 'check': which command wrote the row. A `check`
                  of registered stacks is recorded like a run of those stacks
                  (selection 'named'), so due-ness and staleness count it.

Times are stored as ISO 8601 UTC text with microseconds and ``+00:00``, a fixed
width, so text order is time order. Every time passed in must be
timezone-aware; this module never reads the clock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import ValidationError

from iacdrift.errors import ExecutionError, ExitCode
from iacdrift.models.finding import ANSWERED, Finding, LockHolder, StackResult
from iacdrift.models.run import RunSelection
from iacdrift.primitives.wording import count
from iacdrift.store.sqlite import SqliteStore, decode_time, encode_time, execute_script

DEFAULT_PATH = Path(".iacdrift/history.sqlite")
# A finding id prefix shorter than this never matches: too likely to name several.
MIN_PREFIX = 12

_SCHEMA_V1 = """
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    selection   TEXT NOT NULL CHECK (selection IN ('all', 'due', 'named')),
    exit_code   INTEGER
);
CREATE TABLE stack_checks (
    id            INTEGER PRIMARY KEY,
    run_id        TEXT NOT NULL REFERENCES runs (run_id),
    stack         TEXT NOT NULL,
    checked_at    TEXT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT,
    plan_outcome  TEXT,
    drifted       INTEGER NOT NULL DEFAULT 0,
    findings_json TEXT NOT NULL,
    lock_json     TEXT,
    UNIQUE (run_id, stack)
);
CREATE INDEX stack_checks_by_stack ON stack_checks (stack, checked_at);
"""

_SCHEMA_V2 = """
CREATE TABLE findings (
    id           INTEGER PRIMARY KEY,
    finding_id   TEXT NOT NULL,
    run_id       TEXT,
    stack        TEXT,
    detected_at  TEXT NOT NULL,
    finding_json TEXT NOT NULL
);
CREATE INDEX findings_by_id ON findings (finding_id, detected_at);
"""

_SCHEMA_V3 = """
ALTER TABLE runs ADD COLUMN command TEXT NOT NULL DEFAULT 'run'
    CHECK (command IN ('run', 'check'));
"""

_SCHEMAS = (_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3)
SCHEMA_VERSION = len(_SCHEMAS)  # 3
# Tests write a version-1 file with it.
_execute_script = execute_script

_ANSWERED_SQL = "(" + ", ".join(f"'{status.value}'" for status in sorted(ANSWERED)) + ")"


Command = Literal["run", "check"]


class HistoryError(ExecutionError):
    """The run-history database could not be opened, read or written."""


class Contention(NamedTuple):
    """A check that found the stack's state lock held."""

    stack: str
    checked_at: datetime
    lock: LockHolder


def default_history_path(project_root: Path) -> Path:
    """``<project root>/.iacdrift/history.sqlite``."""
    return project_root / DEFAULT_PATH


class HistoryStore(SqliteStore):
    """The run history in the SQLite file at ``path`` (created with its schema if absent).

    Usable as a context manager; safe to share between threads of one process and
    between processes.
    """

    error = HistoryError
    noun = "run history"
    option = "--history"
    expected = "an iacdrift history database"
    schema = _SCHEMAS

    # -- writing ------------------------------------------------------------------
    def record_run_start(
        self,
        run_id: str,
        started_at: datetime,
        selection: RunSelection,
        *,
        command: Command = "run",
    ) -> None:
        """A run (or a `check`) began; its id must be new."""
        started = encode_time(started_at, "started_at")
        with self._write("recording a run in") as db:
            try:
                db.execute(
                    "INSERT INTO runs (run_id, started_at, selection, command) VALUES (?, ?, ?, ?)",
                    (run_id, started, selection.value, command),
                )
            except sqlite3.IntegrityError as exc:
                raise HistoryError(
                    f"{self.path}: run {run_id!r} is already recorded; use a new run id"
                ) from exc

    def record_result(self, run_id: str, result: StackResult) -> None:
        """One stack's check in a started run (a second result for the stack replaces it)."""
        checked = encode_time(result.checkedAt, "result.checkedAt")
        row = (
            run_id,
            result.stack,
            checked,
            result.status.value,
            result.reason,
            result.planOutcome.value if result.planOutcome else None,
            result.counts.drifted,
            result.model_dump_json(),
            result.lock.model_dump_json() if result.lock else None,
        )
        with self._write("recording a stack check in") as db:
            try:
                db.execute(
                    """
                    INSERT INTO stack_checks (run_id, stack, checked_at, status, reason,
                        plan_outcome, drifted, findings_json, lock_json)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (run_id, stack) DO UPDATE SET
                        checked_at = excluded.checked_at, status = excluded.status,
                        reason = excluded.reason, plan_outcome = excluded.plan_outcome,
                        drifted = excluded.drifted, findings_json = excluded.findings_json,
                        lock_json = excluded.lock_json
                    """,
                    row,
                )
            except sqlite3.IntegrityError as exc:
                raise HistoryError(
                    f"{self.path}: run {run_id!r} was never started; call record_run_start first"
                ) from exc

    def record_check(
        self,
        run_id: str,
        started_at: datetime,
        finished_at: datetime,
        results: Sequence[StackResult],
        exit_code: ExitCode,
    ) -> None:
        """A `check` of registered stacks, recorded as a run of those stacks (command
        'check'), so ``status`` and ``run --due`` count it like a run's check."""
        self.record_run_start(run_id, started_at, RunSelection.NAMED, command="check")
        for result in results:
            self.record_result(run_id, result)
        self.record_run_end(run_id, finished_at, exit_code)

    def record_findings(self, run_id: str | None, findings: Sequence[Finding]) -> None:
        """Keep findings for ``iacdrift explain`` (a run's, or an ad-hoc check's with None)."""
        rows = [
            (
                finding.findingId,
                run_id,
                finding.stack,
                encode_time(finding.detectedAt, "finding.detectedAt"),
                finding.model_dump_json(),
            )
            for finding in findings
        ]
        if not rows:
            return
        with self._write("recording findings in") as db:
            db.executemany(
                "INSERT INTO findings (finding_id, run_id, stack, detected_at, finding_json) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def find_finding(self, finding_id: str) -> Finding | None:
        """The most recent record of the finding ``finding_id`` (a prefix of
        :data:`MIN_PREFIX` or more characters is enough when it is unique)."""
        with self._read("reading") as db:
            rows = db.execute(
                "SELECT id, finding_id, finding_json FROM findings WHERE finding_id = ? "
                "OR (length(?) >= ? AND finding_id LIKE ? || '%') "
                "ORDER BY detected_at DESC, id DESC",
                (finding_id, finding_id, MIN_PREFIX, finding_id),
            ).fetchall()
        ids = {row[1] for row in rows}
        if len(ids) > 1:
            raise HistoryError(
                f"{finding_id!r} matches {len(ids)} findings ({', '.join(sorted(ids)[:3])}, ...); "
                "give more of the id"
            )
        if not rows:
            return None
        try:
            return Finding.model_validate_json(rows[0][2])
        except ValidationError as exc:
            raise HistoryError(
                f"{self.path}: findings row {rows[0][0]} is not a readable finding "
                f"({count(exc.error_count(), 'problem')}); it was written by another "
                "iacdrift version"
            ) from exc

    def record_run_end(self, run_id: str, finished_at: datetime, exit_code: ExitCode) -> None:
        finished = encode_time(finished_at, "finished_at")
        with self._write("finishing a run in") as db:
            updated = db.execute(
                "UPDATE runs SET finished_at = ?, exit_code = ? WHERE run_id = ?",
                (finished, exit_code, run_id),
            ).rowcount
        if updated != 1:
            raise HistoryError(f"{self.path}: run {run_id!r} was never started")

    # -- reading ------------------------------------------------------------------
    def last_success(self, stack: str) -> datetime | None:
        """When the stack's last check that answered (CLEAN or DRIFTED) ran."""
        with self._read("reading") as db:
            row = db.execute(
                "SELECT max(checked_at) FROM stack_checks "
                f"WHERE stack = ? AND status IN {_ANSWERED_SQL}",
                (stack,),
            ).fetchone()
        return decode_time(row[0]) if row and row[0] else None

    def last_successes(self) -> dict[str, datetime]:
        """``last_success`` of every stack that ever answered, in one query."""
        with self._read("reading") as db:
            rows = db.execute(
                "SELECT stack, max(checked_at) FROM stack_checks "
                f"WHERE status IN {_ANSWERED_SQL} GROUP BY stack ORDER BY stack"
            ).fetchall()
        return {stack: decode_time(checked) for stack, checked in rows}

    def last_result(self, stack: str) -> StackResult | None:
        """The stack's most recent check of any status."""
        with self._read("reading") as db:
            row = db.execute(
                "SELECT id, findings_json FROM stack_checks WHERE stack = ? "
                "ORDER BY checked_at DESC, id DESC LIMIT 1",
                (stack,),
            ).fetchone()
        if row is None:
            return None
        return self._stack_result(row, stack)

    def recent_providers(self, stack: str, limit: int = 20) -> list[dict[str, str]]:
        """The provider versions (source -> version) the stack's most recent checks
        planned with, newest first; checks that recorded none (ERROR, LOCKED) are
        skipped. What tells a provider upgrade apart (core.upgrade)."""
        with self._read("reading") as db:
            rows = db.execute(
                "SELECT json_extract(findings_json, '$.providers') FROM stack_checks "
                "WHERE stack = ? ORDER BY checked_at DESC, id DESC LIMIT ?",
                (stack, limit),
            ).fetchall()
        found: list[dict[str, str]] = []
        for (text,) in rows:
            try:
                value = json.loads(text) if isinstance(text, str) else None
            except ValueError:
                continue
            if isinstance(value, dict) and value:
                found.append({str(k): str(v) for k, v in value.items()})
        return found

    def _stack_result(self, row: tuple[int, str], stack: str) -> StackResult:
        try:
            return StackResult.model_validate_json(row[1])
        except ValidationError as exc:
            raise HistoryError(
                f"{self.path}: stack_checks row {row[0]} ({stack}) is not a readable "
                f"stack result ({count(exc.error_count(), 'problem')}); it was written by "
                "another iacdrift version"
            ) from exc

    def result_of_run(self, run_id: str, stack: str) -> StackResult | None:
        """What run ``run_id`` recorded for ``stack``, if it recorded anything."""
        with self._read("reading") as db:
            row = db.execute(
                "SELECT id, findings_json FROM stack_checks WHERE run_id = ? AND stack = ?",
                (run_id, stack),
            ).fetchone()
        return self._stack_result(row, stack) if row is not None else None

    def consecutive_failures(self, stack: str) -> int:
        """Checks of ``stack`` after its last success that did not answer."""
        with self._read("reading") as db:
            row = db.execute(
                f"""
                SELECT count(*) FROM stack_checks
                WHERE stack = :stack AND status NOT IN {_ANSWERED_SQL}
                  AND checked_at > coalesce(
                      (SELECT max(checked_at) FROM stack_checks
                       WHERE stack = :stack AND status IN {_ANSWERED_SQL}), '')
                """,
                {"stack": stack},
            ).fetchone()
        return int(row[0])

    def recent_lock_contention(self, since: datetime) -> list[Contention]:
        """Checks since ``since`` that found the state lock held, oldest first."""
        after = encode_time(since, "since")
        with self._read("reading") as db:
            rows = db.execute(
                "SELECT stack, checked_at, lock_json FROM stack_checks "
                "WHERE lock_json IS NOT NULL AND checked_at >= ? "
                "ORDER BY checked_at, stack, id",
                (after,),
            ).fetchall()
        return [
            Contention(stack, decode_time(checked), LockHolder.model_validate_json(lock))
            for stack, checked, lock in rows
        ]
