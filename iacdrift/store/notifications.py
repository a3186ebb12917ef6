"""The notification log: what was sent for which finding through which target.

Dedupe reads it (:func:`iacdrift.core.routing.plan`) so a persisting drift does not
page every run. One SQLite file, separate from the run history (default
``.iacdrift/notifications.sqlite`` under the project root), in WAL mode with a
busy timeout, each write one ``BEGIN IMMEDIATE`` transaction (see
:mod:`iacdrift.store.sqlite`), so two iacdrift processes may route at once.

Schema, versioned with ``PRAGMA user_version`` and created on first use::

    notifications  finding_id TEXT, target TEXT ('<route id>#<index>:<type>'),
                   route_id TEXT, stack TEXT NULL (null: unmanaged), risk TEXT,
                   page INTEGER, reason TEXT, sent_at TEXT, after_deadline INTEGER,
                   resolved_at TEXT NULL;
                   PRIMARY KEY (finding_id, target), INDEX (resolved_at, stack)

A row is the last successful notification; a failed delivery writes nothing, so
it is retried by the next run. A resolved row (the finding was absent from a
complete check) is no longer loaded: if the finding comes back it is new again.
Targets are stored by name, never by URL. Times are ISO 8601 UTC text with
microseconds; every time passed in must be timezone-aware. This module never
reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from iacdrift.errors import ExecutionError
from iacdrift.models.finding import Risk
from iacdrift.models.notification import DeliveryReason, LoggedNotification
from iacdrift.store.sqlite import MEMORY, SqliteStore, decode_time, encode_time

DEFAULT_PATH = Path(".iacdrift/notifications.sqlite")
_CHUNK = 500  # ids per IN (...) query, under SQLite's bound-parameter limit

_SCHEMA_V1 = """
CREATE TABLE notifications (
    finding_id     TEXT NOT NULL,
    target         TEXT NOT NULL,
    route_id       TEXT NOT NULL,
    stack          TEXT,
    risk           TEXT NOT NULL,
    page           INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    sent_at        TEXT NOT NULL,
    after_deadline INTEGER NOT NULL,
    resolved_at    TEXT,
    PRIMARY KEY (finding_id, target)
);
CREATE INDEX notifications_open ON notifications (resolved_at, stack);
"""

_SCHEMAS = (_SCHEMA_V1,)
SCHEMA_VERSION = len(_SCHEMAS)  # 1

_COLUMNS = "finding_id, target, route_id, stack, risk, page, reason, sent_at, after_deadline"

Row = tuple[str, str, str, str | None, str, int, str, str, int]


class NotificationLogError(ExecutionError):
    """The notification log could not be opened, read or written."""


def default_log_path(project_root: Path) -> Path:
    """``<project root>/.iacdrift/notifications.sqlite``."""
    return project_root / DEFAULT_PATH


class NotificationLog(SqliteStore):
    """The log in the SQLite file at ``path`` (created with its schema if absent).

    Usable as a context manager; safe to share between threads and processes.
    """

    error = NotificationLogError
    noun = "notification log"
    option = "--log"
    expected = "an iacdrift notification log"
    schema = _SCHEMAS

    @classmethod
    def in_memory(cls) -> NotificationLog:
        """An empty log that lives in memory only (a dry run without a log file)."""
        return cls(Path(MEMORY))

    # -- reading ------------------------------------------------------------------
    def _entry(self, row: Row) -> LoggedNotification:
        finding_id, target, route_id, stack, risk, page, reason, sent_at, after = row
        try:
            return LoggedNotification(
                findingId=finding_id,
                target=target,
                routeId=route_id,
                stack=stack,
                risk=Risk(risk),
                page=bool(page),
                reason=DeliveryReason(reason),
                sentAt=decode_time(sent_at),
                afterDeadline=bool(after),
            )
        except (ValidationError, ValueError) as exc:
            raise NotificationLogError(
                f"{self.path}: notification row ({finding_id}, {target}) is not readable "
                f"({exc.__class__.__name__}); it was written by another iacdrift version; "
                "use another --log"
            ) from exc

    def load(
        self, finding_ids: Iterable[str] | None = None
    ) -> dict[tuple[str, str], LoggedNotification]:
        """Unresolved entries by (findingId, target): of ``finding_ids``, or all of them."""
        rows: list[Row] = []
        with self._read("reading") as db:
            if finding_ids is None:
                rows.extend(
                    db.execute(
                        f"SELECT {_COLUMNS} FROM notifications WHERE resolved_at IS NULL "
                        "ORDER BY finding_id, target"
                    ).fetchall()
                )
            else:
                wanted = sorted(set(finding_ids))
                for start in range(0, len(wanted), _CHUNK):
                    chunk = wanted[start : start + _CHUNK]
                    marks = ", ".join("?" for _ in chunk)
                    rows.extend(
                        db.execute(
                            f"SELECT {_COLUMNS} FROM notifications WHERE resolved_at IS NULL "
                            f"AND finding_id IN ({marks}) ORDER BY finding_id, target",
                            chunk,
                        ).fetchall()
                    )
        entries = (self._entry(row) for row in rows)
        return {(entry.findingId, entry.target): entry for entry in entries}

    def resolved_count(self) -> int:
        with self._read("reading") as db:
            row = db.execute(
                "SELECT count(*) FROM notifications WHERE resolved_at IS NOT NULL"
            ).fetchone()
        return int(row[0])

    # -- writing ------------------------------------------------------------------
    def record(self, entry: LoggedNotification) -> None:
        """A successful delivery: it replaces the target's entry and reopens a resolved one."""
        sent = encode_time(entry.sentAt, "sentAt")
        row = (
            entry.findingId,
            entry.target,
            entry.routeId,
            entry.stack,
            entry.risk.value,
            int(entry.page),
            entry.reason.value,
            sent,
            int(entry.afterDeadline),
        )
        with self._write("recording a notification in") as db:
            db.execute(
                f"""
                INSERT INTO notifications ({_COLUMNS}, resolved_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
                ON CONFLICT (finding_id, target) DO UPDATE SET
                    route_id = excluded.route_id, stack = excluded.stack,
                    risk = excluded.risk, page = excluded.page, reason = excluded.reason,
                    sent_at = excluded.sent_at, after_deadline = excluded.after_deadline,
                    resolved_at = NULL
                """,
                row,
            )

    def mark_resolved(self, finding_ids: Iterable[str], at: datetime) -> int:
        """The findings are gone: their entries stop deduping. Returns rows changed."""
        when = encode_time(at, "at")
        wanted = sorted(set(finding_ids))
        changed = 0
        with self._write("resolving findings in") as db:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join("?" for _ in chunk)
                changed += db.execute(
                    f"UPDATE notifications SET resolved_at = ? "
                    f"WHERE resolved_at IS NULL AND finding_id IN ({marks})",
                    [when, *chunk],
                ).rowcount
        return changed
