"""The notification log: what was sent for which finding through which target.

Dedupe reads it (:func:`iacdrift.routing.plan`) so a persisting drift does not
page every run. One SQLite file, separate from the run history (default
``.iacdrift/notifications.sqlite`` under the project root), in WAL mode with a
busy timeout, each write one ``BEGIN IMMEDIATE`` transaction, so two iacdrift
processes may route at once.

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

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

from iacdrift.errors import ExecutionError
from iacdrift.models.finding import Risk
from iacdrift.models.notification import DeliveryReason, LoggedNotification

SCHEMA_VERSION = 1
DEFAULT_PATH = Path(".iacdrift/notifications.sqlite")
DEFAULT_BUSY_TIMEOUT = 30.0
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

_COLUMNS = "finding_id, target, route_id, stack, risk, page, reason, sent_at, after_deadline"

Row = tuple[str, str, str, str | None, str, int, str, str, int]


class NotificationLogError(ExecutionError):
    """The notification log could not be opened, read or written."""


def default_log_path(project_root: Path) -> Path:
    """``<project root>/.iacdrift/notifications.sqlite``."""
    return project_root / DEFAULT_PATH


def _encode(moment: datetime, what: str) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got {moment.isoformat()}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class NotificationLog:
    """The log in the SQLite file at ``path`` (created with its schema if absent).

    Usable as a context manager; safe to share between threads and processes.
    """

    def __init__(self, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        with self._translate("opening"):
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            self._db = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        try:
            with self._translate("opening"):
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except BaseException:
            self.close()
            raise

    @classmethod
    def in_memory(cls) -> NotificationLog:
        """An empty log that lives in memory only (a dry run without a log file)."""
        return cls(Path(":memory:"))

    # -- plumbing -----------------------------------------------------------------
    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            hint = (
                "another process held the database past the busy timeout; retry"
                if "locked" in str(exc) or "busy" in str(exc)
                else "check the path and its permissions"
            )
            raise NotificationLogError(
                f"{self.path}: {what} the notification log failed: {exc}; {hint}"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise NotificationLogError(
                f"{self.path}: {what} the notification log failed: {exc}; point --log at "
                "an iacdrift notification log (or a new path)"
            ) from exc
        except OSError as exc:
            raise NotificationLogError(
                f"{self.path}: {what} the notification log failed: {exc.strerror or exc}"
            ) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise NotificationLogError(f"{self.path}: the notification log is closed")
        return self._db

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate(what):
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate(what):
            yield self._connection()

    def _migrate(self) -> None:
        with self._write("creating the schema of") as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise NotificationLogError(
                    f"{self.path}: notification log schema version {version} is newer than "
                    f"this iacdrift knows ({SCHEMA_VERSION}); upgrade iacdrift or use another "
                    "--log"
                )
            if version == 0:
                tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if tables:
                    raise NotificationLogError(
                        f"{self.path}: is an SQLite database but not an iacdrift notification "
                        "log; point --log at another path"
                    )
                for statement in _SCHEMA_V1.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        with self._read("reading") as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> NotificationLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

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
                sentAt=datetime.fromisoformat(sent_at).astimezone(UTC),
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
        sent = _encode(entry.sentAt, "sentAt")
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
        when = _encode(at, "at")
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
