"""The run-history store: schema on first use, what counts as a success, failures in
a row, lock contention, and two writers at once."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from iacdrift.errors import ExitCode
from iacdrift.models.finding import Counts, Finding, LockHolder, StackResult, StackStatus
from iacdrift.models.outcomes import PlanOutcome
from iacdrift.models.run import RunSelection
from iacdrift.store.history import (
    SCHEMA_VERSION,
    HistoryError,
    HistoryStore,
    default_history_path,
)
from tests.factories import make_finding

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def result(
    stack: str,
    status: StackStatus,
    at: datetime,
    *,
    reason: str | None = None,
    lock: LockHolder | None = None,
) -> StackResult:
    outcome = {
        StackStatus.CLEAN: PlanOutcome.NO_CHANGES,
        StackStatus.DRIFTED: PlanOutcome.CHANGES,
        StackStatus.ERROR: PlanOutcome.ERROR,
    }.get(status)
    return StackResult(
        stack=stack,
        status=status,
        reason=reason,
        checkedAt=at,
        planOutcome=outcome,
        lock=lock,
        counts=Counts(drifted=2 if status is StackStatus.DRIFTED else 0),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(tmp_path / "state" / "history.sqlite") as opened:
        yield opened


def run_with(store: HistoryStore, run_id: str, *results: StackResult) -> None:
    store.record_run_start(run_id, results[0].checkedAt if results else T0, RunSelection.DUE)
    for item in results:
        store.record_result(run_id, item)


def test_schema_is_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "history.sqlite"
    with HistoryStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
    db = sqlite3.connect(path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"runs", "stack_checks", "findings"}
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    finally:
        db.close()
    # Reopening an existing history keeps its rows and does not recreate the schema.
    with HistoryStore(path) as store:
        run_with(store, "r1", result("a", StackStatus.CLEAN, T0))
    with HistoryStore(path) as store:
        assert store.last_success("a") == T0


def test_default_path_is_under_the_project_root(tmp_path: Path) -> None:
    assert default_history_path(tmp_path) == tmp_path / ".iacdrift" / "history.sqlite"


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    HistoryStore(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(HistoryError, match="schema version 7 is newer"):
        HistoryStore(path)


def test_a_foreign_database_or_file_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "other.sqlite"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(HistoryError, match="not an iacdrift run history"):
        HistoryStore(foreign)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all, not even close" * 50)
    with pytest.raises(HistoryError, match=r"junk\.sqlite"):
        HistoryStore(junk)


def test_last_success_ignores_error_and_locked(store: HistoryStore) -> None:
    lock = LockHolder(id="1", who="alice@laptop", operation="OperationTypeApply")
    run_with(store, "r1", result("s", StackStatus.CLEAN, T0))
    run_with(store, "r2", result("s", StackStatus.DRIFTED, T0 + timedelta(hours=1)))
    run_with(store, "r3", result("s", StackStatus.ERROR, T0 + timedelta(hours=2), reason="boom"))
    run_with(
        store, "r4", result("s", StackStatus.LOCKED, T0 + timedelta(hours=3), lock=lock, reason="x")
    )
    assert store.last_success("s") == T0 + timedelta(hours=1)
    last = store.last_result("s")
    assert last is not None
    assert (last.status, last.lock) == (StackStatus.LOCKED, lock)
    assert store.consecutive_failures("s") == 2
    assert store.last_success("never") is None
    assert store.last_result("never") is None
    assert store.consecutive_failures("never") == 0
    assert store.last_successes() == {"s": T0 + timedelta(hours=1)}


def test_failures_without_any_success_all_count(store: HistoryStore) -> None:
    for hour in range(3):
        run_with(store, f"r{hour}", result("s", StackStatus.ERROR, T0 + timedelta(hours=hour)))
    assert store.last_success("s") is None
    assert store.consecutive_failures("s") == 3
    run_with(store, "ok", result("s", StackStatus.CLEAN, T0 + timedelta(hours=5)))
    assert store.consecutive_failures("s") == 0


def test_last_result_round_trips_the_whole_result(store: HistoryStore) -> None:
    original = result("s", StackStatus.DRIFTED, T0)
    run_with(store, "r1", original)
    assert store.last_result("s") == original


def test_times_are_compared_as_instants_whatever_the_offset(store: HistoryStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    # 13:30+02:00 is 11:30Z: earlier than 12:00Z although its text sorts later.
    run_with(store, "r1", result("s", StackStatus.CLEAN, T0))
    run_with(
        store, "r2", result("s", StackStatus.ERROR, datetime(2025, 3, 1, 13, 30, tzinfo=plus_two))
    )
    assert store.last_success("s") == T0
    last = store.last_result("s")
    assert last is not None and last.status is StackStatus.CLEAN
    assert store.consecutive_failures("s") == 0


def test_naive_times_are_refused(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.record_run_start("r", datetime(2025, 3, 1), RunSelection.ALL)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.recent_lock_contention(datetime(2025, 3, 1))


def test_run_ids_are_unique_and_results_need_a_started_run(store: HistoryStore) -> None:
    store.record_run_start("r1", T0, RunSelection.NAMED)
    with pytest.raises(HistoryError, match="already recorded"):
        store.record_run_start("r1", T0, RunSelection.ALL)
    with pytest.raises(HistoryError, match="never started"):
        store.record_result("nope", result("s", StackStatus.CLEAN, T0))
    with pytest.raises(HistoryError, match="never started"):
        store.record_run_end("nope", T0, ExitCode.OK)


def test_a_second_result_in_one_run_replaces_the_first(store: HistoryStore) -> None:
    run_with(store, "r1", result("s", StackStatus.ERROR, T0))
    store.record_result("r1", result("s", StackStatus.CLEAN, T0 + timedelta(minutes=1)))
    assert store.consecutive_failures("s") == 0
    assert store.last_success("s") == T0 + timedelta(minutes=1)


def test_run_rows(store: HistoryStore) -> None:
    store.record_run_start("r1", T0, RunSelection.DUE)
    store.record_run_end("r1", T0 + timedelta(minutes=3), ExitCode.DRIFT)
    db = sqlite3.connect(store.path)
    try:
        row = db.execute("SELECT * FROM runs").fetchone()
    finally:
        db.close()
    assert row == (
        "r1",
        "2025-03-01T12:00:00.000000+00:00",
        "2025-03-01T12:03:00.000000+00:00",
        "due",
        2,
        "run",
    )


def test_recent_lock_contention(store: HistoryStore) -> None:
    alice = LockHolder(id="1", who="alice@laptop", operation="OperationTypeApply", ageSeconds=60)
    bob = LockHolder(id="2", who="bob@ci", operation="OperationTypePlan")
    run_with(store, "r1", result("a", StackStatus.LOCKED, T0 - timedelta(days=9), lock=bob))
    run_with(store, "r2", result("b", StackStatus.LOCKED, T0, lock=alice))
    run_with(store, "r3", result("a", StackStatus.LOCKED, T0 - timedelta(hours=1), lock=bob))
    run_with(store, "r4", result("c", StackStatus.CLEAN, T0))
    found = store.recent_lock_contention(T0 - timedelta(days=7))
    assert [(c.stack, c.checked_at, c.lock.who) for c in found] == [
        ("a", T0 - timedelta(hours=1), "bob@ci"),
        ("b", T0, "alice@laptop"),
    ]
    stack, checked_at, lock = found[1]
    assert (stack, checked_at, lock) == ("b", T0, alice)


def test_a_closed_store_says_so(store: HistoryStore) -> None:
    store.close()
    store.close()  # idempotent
    with pytest.raises(HistoryError, match="closed"):
        store.last_success("s")


def test_two_writers_at_once_from_two_threads(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    runs_each = 25
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            # A store of its own, as a second iacdrift process would have.
            with HistoryStore(path) as store:
                start.wait()
                for index in range(runs_each):
                    run_id = f"{name}-{index}"
                    at = T0 + timedelta(minutes=index)
                    store.record_run_start(run_id, at, RunSelection.ALL)
                    store.record_result(run_id, result(name, StackStatus.CLEAN, at))
                    store.record_result(run_id, result("shared", StackStatus.ERROR, at))
                    store.record_run_end(run_id, at + timedelta(seconds=30), ExitCode.FAILED)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with HistoryStore(path) as store:
        assert store.last_success("w1") == store.last_success("w2") == T0 + timedelta(minutes=24)
        assert store.consecutive_failures("shared") == 2 * runs_each
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT count(*) FROM runs WHERE exit_code = 1").fetchone()[0] == 50
    finally:
        db.close()


def test_one_store_shared_by_threads(store: HistoryStore) -> None:
    store.record_run_start("r", T0, RunSelection.ALL)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            start.wait()
            for n in range(10):
                name = f"s{index}-{n}"
                store.record_result("r", result(name, StackStatus.CLEAN, T0))
                assert store.last_success(name) == T0
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.last_successes()) == 40


def test_a_version_1_history_gains_the_findings_table(tmp_path: Path) -> None:
    from iacdrift.store.history import _SCHEMA_V1, _execute_script

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    _execute_script(db, _SCHEMA_V1)
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with HistoryStore(path) as store:
        assert store.schema_version() == 3
        assert store.find_finding("drift-0000000000000000") is None


def test_findings_are_kept_for_explain(tmp_path: Path) -> None:
    def finding(finding_id: str, reason: str, at: datetime) -> Finding:
        return make_finding(finding_id, detectedAt=at, reason=reason)

    with HistoryStore(tmp_path / "h.sqlite") as store:
        store.record_run_start("r1", T0, RunSelection.ALL)
        store.record_findings("r1", [finding("drift-aaaaaaaaaaaaaaaaaaaa", "first", T0)])
        later = T0 + timedelta(hours=1)
        store.record_findings(None, [finding("drift-aaaaaaaaaaaaaaaaaaaa", "second", later)])
        store.record_findings(None, [finding("drift-aaaaaaaaaaaabbbbbbbb", "other", later)])
        found = store.find_finding("drift-aaaaaaaaaaaaaaaaaaaa")
        assert found is not None and found.reason == "second"
        assert store.find_finding("drift-missing") is None
        with pytest.raises(HistoryError, match="matches 2 findings"):
            store.find_finding("drift-aaaaaaaa")
        prefix = store.find_finding("drift-aaaaaaaaaaaab")
        assert prefix is not None and prefix.reason == "other"


def test_a_version_2_history_gains_the_command_column(tmp_path: Path) -> None:
    from iacdrift.store.history import _SCHEMA_V1, _SCHEMA_V2, _execute_script

    path = tmp_path / "v2.sqlite"
    db = sqlite3.connect(path)
    _execute_script(db, _SCHEMA_V1)
    _execute_script(db, _SCHEMA_V2)
    db.execute(
        "INSERT INTO runs (run_id, started_at, selection) VALUES ('old', ?, 'all')",
        ("2025-03-01T12:00:00.000000+00:00",),
    )
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    with HistoryStore(path) as store:
        assert store.schema_version() == 3
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT run_id, command FROM runs").fetchall() == [("old", "run")]
    finally:
        db.close()


def test_a_check_counts_like_a_run(store: HistoryStore) -> None:
    """Item 13: `check` of a registered stack is a check for status and run --due."""
    checked = result("s", StackStatus.DRIFTED, T0)
    store.record_check("c1", T0, T0 + timedelta(seconds=9), [checked], ExitCode.DRIFT)
    assert store.last_success("s") == T0
    assert store.last_result("s") == checked
    assert store.result_of_run("c1", "s") == checked
    db = sqlite3.connect(store.path)
    try:
        row = db.execute("SELECT selection, exit_code, command FROM runs").fetchone()
    finally:
        db.close()
    assert row == ("named", 2, "check")


def test_the_result_a_run_recorded_for_a_stack(store: HistoryStore) -> None:
    run_with(store, "r1", result("a", StackStatus.CLEAN, T0))
    run_with(store, "r2", result("a", StackStatus.DRIFTED, T0 + timedelta(minutes=1)))
    first = store.result_of_run("r1", "a")
    assert first is not None and first.status is StackStatus.CLEAN
    assert store.result_of_run("r1", "b") is None
    assert store.result_of_run("r9", "a") is None


@pytest.mark.parametrize(("errors", "words"), [(1, "(1 problem)"), (2, "(2 problems)")])
def test_an_unreadable_row_counts_its_problems_in_words(
    store: HistoryStore, errors: int, words: str
) -> None:
    run_with(store, "r1", result("a", StackStatus.CLEAN, T0))
    body = result("a", StackStatus.CLEAN, T0).model_dump(mode="json")
    body["status"] = "BOGUS"
    if errors == 2:
        body["planOutcome"] = "BOGUS"
    db = sqlite3.connect(store.path)
    try:
        db.execute("UPDATE stack_checks SET findings_json = ?", (json.dumps(body),))
        db.commit()
    finally:
        db.close()
    with pytest.raises(HistoryError) as raised:
        store.last_result("a")
    assert words in str(raised.value)
