"""What our SQLite stores share: opening the file, serialised transactions, schema
migrations by ``PRAGMA user_version``, and sqlite errors said as one line naming the file.

Each store (the run history, the notification log) must survive two iacdrift
processes writing at once: the database is in WAL mode (readers never block the
writer), every write is one ``BEGIN IMMEDIATE`` transaction (a writer waits for the
other up to the busy timeout instead of failing on a lock upgrade), and one store
may be used from several threads (calls are serialised on the store's own lock).

A store subclasses :class:`SqliteStore` and states, as class attributes, its error
class, what its database is called in messages (``run history``), the option that
points at it (``--history``) and its schema scripts: script N takes a database from
version N to N + 1, so the schema version is the number of scripts. A file at
version 0 with tables in it is someone else's database and is refused, as is a
version newer than the scripts know.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from iacdrift.errors import ExecutionError
from iacdrift.primitives.moments import require_aware

# Long enough for another process's write transaction, short enough that a wedged
# process is reported rather than waited on forever.
DEFAULT_BUSY_TIMEOUT = 30.0
MEMORY = ":memory:"


def execute_script(db: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements inside the caller's transaction.

    ``Connection.executescript`` would COMMIT the open ``BEGIN IMMEDIATE`` first.
    """
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def encode_time(moment: datetime, what: str) -> str:
    """ISO 8601 UTC text with microseconds: a fixed width, so text order is time order."""
    return require_aware(moment, what).isoformat(timespec="microseconds")


def decode_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class SqliteStore:
    """One SQLite file at ``path`` (``:memory:`` for none), created with its schema if absent.

    Usable as a context manager; safe to share between threads of one process and
    between processes.
    """

    error: ClassVar[type[ExecutionError]]
    # What the database is, in messages: "<path>: reading the run history failed: ...".
    noun: ClassVar[str]
    # The command-line option that names the file: "point --history at another path".
    option: ClassVar[str]
    # What a file given by that option must be: "point --history at <this> (or a new path)".
    expected: ClassVar[str]
    # Script N migrates from version N to N + 1.
    schema: ClassVar[tuple[str, ...]]

    def __init__(self, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        with self._translate("opening"):
            if str(path) != MEMORY:
                path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread
            # off: the store's own lock serialises use across threads.
            self._db = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        try:
            with self._translate("opening"):
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                # NORMAL is durable in WAL mode except for the last commits on power loss.
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except BaseException:
            self.close()
            raise

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """sqlite and OS errors inside as ``self.error``: ``<path>: <what> the <noun> failed``."""
        failed = f"{self.path}: {what} the {self.noun} failed"
        try:
            yield
        except sqlite3.OperationalError as exc:
            hint = (
                "another process held the database past the busy timeout; retry"
                if "locked" in str(exc) or "busy" in str(exc)
                else "check the path and its permissions"
            )
            raise self.error(f"{failed}: {exc}; {hint}") from exc
        except sqlite3.DatabaseError as exc:
            raise self.error(
                f"{failed}: {exc}; point {self.option} at {self.expected} (or a new path)"
            ) from exc
        except OSError as exc:
            raise self.error(f"{failed}: {exc.strerror or exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise self.error(f"{self.path}: the {self.noun} is closed")
        return self._db

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken immediately so a concurrent writer waits."""
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
        latest = len(self.schema)
        with self._write("creating the schema of") as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > latest:
                raise self.error(
                    f"{self.path}: {self.noun} schema version {version} is newer than this "
                    f"iacdrift knows ({latest}); upgrade iacdrift or use another {self.option}"
                )
            if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise self.error(
                    f"{self.path}: is an SQLite database but not an iacdrift {self.noun}; "
                    f"point {self.option} at another path"
                )
            for script in self.schema[version:]:
                execute_script(db, script)
            if version < latest:
                db.execute(f"PRAGMA user_version = {latest}")

    def schema_version(self) -> int:
        with self._read("reading") as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
