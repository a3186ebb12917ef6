"""The SQLite store base: schema scripts applied by version, foreign and newer files
refused, sqlite errors said as one line naming the file, transactions, closing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from iacdrift.errors import ExecutionError
from iacdrift.store.sqlite import SqliteStore, decode_time, encode_time


class NotesError(ExecutionError):
    pass


_V1 = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
_V2 = """
CREATE TABLE tags (note_id INTEGER NOT NULL REFERENCES notes (id), tag TEXT NOT NULL);
CREATE INDEX tags_by_tag ON tags (tag)
"""


class Notes(SqliteStore):
    error = NotesError
    noun = "note book"
    option = "--notes"
    expected = "an iacdrift note book"
    schema = (_V1, _V2)

    def add(self, body: str, *, fail: bool = False) -> None:
        with self._write("adding a note to") as db:
            db.execute("INSERT INTO notes (body) VALUES (?)", (body,))
            if fail:
                raise RuntimeError("after the insert")

    def tag(self, note_id: int, tag: str) -> bool:
        with self._write("tagging in") as db:
            # Like the stores: a constraint is checked inside the transaction.
            try:
                db.execute("INSERT INTO tags (note_id, tag) VALUES (?, ?)", (note_id, tag))
            except sqlite3.IntegrityError:
                return False
        return True

    def bodies(self) -> list[str]:
        with self._read("reading") as db:
            return [row[0] for row in db.execute("SELECT body FROM notes ORDER BY id")]


def _tables(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [row[0] for row in rows]
    finally:
        db.close()


def test_a_new_file_gets_every_script_and_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "notes.sqlite"
    with Notes(path) as notes:
        assert notes.schema_version() == 2
        notes.add("first")
        assert notes.bodies() == ["first"]
    assert _tables(path) == ["notes", "tags"]
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_an_older_file_runs_only_the_scripts_after_its_version(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(_V1)
    db.execute("INSERT INTO notes (body) VALUES ('kept')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Notes(path) as notes:
        assert notes.schema_version() == 2
        assert notes.bodies() == ["kept"]
    assert _tables(path) == ["notes", "tags"]
    # Reopening a current file changes nothing.
    with Notes(path) as notes:
        assert notes.schema_version() == 2 and notes.bodies() == ["kept"]


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (
            ["CREATE TABLE t (x)", "PRAGMA user_version = 9"],
            "{path}: note book schema version 9 is newer than this iacdrift knows (2); "
            "upgrade iacdrift or use another --notes",
        ),
        (
            ["CREATE TABLE t (x)"],
            "{path}: is an SQLite database but not an iacdrift note book; "
            "point --notes at another path",
        ),
    ],
    ids=["newer", "foreign"],
)
def test_a_newer_or_foreign_database_is_refused_and_left_alone(
    tmp_path: Path, statements: list[str], expected: str
) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.close()
    with pytest.raises(NotesError) as caught:
        Notes(path)
    assert str(caught.value) == expected.format(path=path)
    assert _tables(path) == ["t"]


def test_a_file_that_is_not_sqlite_says_what_to_point_at(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"not a database at all " * 100)
    with pytest.raises(NotesError) as caught:
        Notes(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: opening the note book failed: ") or message.startswith(
        f"{path}: creating the schema of the note book failed: "
    )
    assert message.endswith("; point --notes at an iacdrift note book (or a new path)")
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_an_unopenable_path_is_an_operational_error_with_a_hint(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    with pytest.raises(NotesError, match=r"opening the note book failed: ") as caught:
        Notes(blocker / "notes.sqlite")
    assert str(caught.value).startswith(f"{blocker / 'notes.sqlite'}: ")


def test_a_failed_write_rolls_back_and_a_constraint_holds(tmp_path: Path) -> None:
    with Notes(tmp_path / "notes.sqlite") as notes:
        with pytest.raises(RuntimeError, match="after the insert"):
            notes.add("lost", fail=True)
        assert notes.bodies() == []
        # Foreign keys are on: a tag of a missing note is refused.
        assert notes.tag(42, "x") is False
        notes.add("kept")
        assert notes.tag(1, "x") is True


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    notes = Notes(tmp_path / "notes.sqlite")
    notes.close()
    notes.close()
    with pytest.raises(NotesError) as caught:
        notes.bodies()
    assert str(caught.value) == f"{tmp_path / 'notes.sqlite'}: the note book is closed"


def test_in_memory_creates_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Notes(Path(":memory:")) as notes:
        notes.add("x")
        assert notes.bodies() == ["x"]
    assert list(tmp_path.iterdir()) == []


def test_times_are_fixed_width_utc_and_naive_ones_refused() -> None:
    moment = datetime(2025, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    text = encode_time(moment, "at")
    assert text == "2025-03-01T10:00:00.000000+00:00"
    assert decode_time(text) == moment and decode_time(text).tzinfo == UTC
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        encode_time(datetime(2025, 3, 1), "at")
