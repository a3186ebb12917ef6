"""`iacdrift status` as a user runs it: a project copy, a run history written through
HistoryStore, and (for current locks) the sandbox cloud.

Asserts outcomes: never-checked stacks are STALE, a recent CLEAN check is
current, an old one is STALE, failures are counted with their reason, a held
state lock is shown (and flagged stale by --stale-lock-after), an unreachable
cloud is one note while the history part is still printed, and the exit code
is 0 only when every stack is current and unlocked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iacdrift.aws.session import Target, client
from iacdrift.errors import ExitCode
from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project, load_project
from iacdrift.models.finding import LockHolder, StackResult, StackStatus
from iacdrift.models.run import RunSelection
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.identity import sandbox_credentials
from iacdrift.store.history import HistoryStore, default_history_path
from tests.conftest import copy_example_project, start_sandbox_project

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "status-report.schema.json").read_text())
STACKS = (
    "legacy-storage",
    "prod-app",
    "prod-iam",
    "prod-network",
    "prod-payments",
    "staging-app",
)


def run_status(root: Path, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "iacdrift", "status", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    return proc.returncode, proc.stdout, proc.stderr


def status_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_status(root, "--format", "json", *args)
    assert out, err
    report = json.loads(out)
    jsonschema.validate(report, SCHEMA)
    return code, report


def by_stack(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["stack"]: entry for entry in report["entries"]}


def record(history: Path, run_id: str, *results: StackResult) -> None:
    with HistoryStore(history) as store:
        store.record_run_start(run_id, min(r.checkedAt for r in results), RunSelection.ALL)
        for item in results:
            store.record_result(run_id, item)
        store.record_run_end(run_id, max(r.checkedAt for r in results), ExitCode.OK)


def checked(stack: str, status: StackStatus, ago: timedelta, **extra: Any) -> StackResult:
    return StackResult(stack=stack, status=status, checkedAt=datetime.now(UTC) - ago, **extra)


# -- without a cloud ---------------------------------------------------------------------


@pytest.fixture
def offline_project(tmp_path: Path) -> Path:
    # The settings say sandbox, but no sandbox was started in this copy.
    return copy_example_project(tmp_path)


def test_never_checked_stacks_are_stale_and_the_cloud_is_one_note(offline_project: Path) -> None:
    history = default_history_path(offline_project)
    record(history, "r1", checked("prod-network", StackStatus.CLEAN, timedelta(minutes=10)))
    record(
        history,
        "r2",
        checked("prod-iam", StackStatus.CLEAN, timedelta(hours=3)),
        checked("prod-app", StackStatus.DRIFTED, timedelta(hours=1)),
    )
    for n in (1, 2):
        record(
            history,
            f"r-fail-{n}",
            checked(
                "prod-iam",
                StackStatus.ERROR,
                timedelta(minutes=30 - n),
                reason=f"AccessDenied {n}",
            ),
        )

    code, report = status_json(offline_project)
    assert code == 1
    entries = by_stack(report)
    assert sorted(entries) == list(STACKS)
    for stack in ("prod-payments", "staging-app"):
        assert entries[stack]["status"] == "STALE"
        assert entries[stack]["lastCheckedAt"] is None and entries[stack]["due"] is True
    network = entries["prod-network"]
    assert (network["status"], network["stale"], network["due"]) == ("CLEAN", False, False)
    assert (entries["prod-app"]["status"], entries["prod-app"]["stale"]) == ("DRIFTED", False)
    iam = entries["prod-iam"]  # hourly, last success 3h ago, then two failures
    assert (iam["status"], iam["lastStatus"], iam["consecutiveFailures"]) == ("STALE", "ERROR", 2)
    assert iam["lastReason"] == "AccessDenied 2"
    # The cloud part: one problem line, and each lock is unknown rather than free.
    assert len(report["problems"]) == 1
    assert report["problems"][0].startswith("current state locks not read:")
    assert "sandbox is not running" in report["problems"][0]
    assert all(e["lock"] is None and e["lockError"] for e in entries.values())

    code, out, err = run_status(offline_project)
    assert code == 1
    assert "STALE" in out and "AccessDenied 2" in out
    assert out.count("current state locks not read") == 1
    assert "Traceback" not in out + err


def test_an_explicit_missing_history_is_an_error(offline_project: Path) -> None:
    code, out, err = run_status(offline_project, "--history", "nowhere/history.sqlite")
    assert code == 1
    assert "no run history there" in err and out == ""


def test_no_history_yet_means_everything_stale(offline_project: Path) -> None:
    code, report = status_json(offline_project)
    assert code == 1
    assert {e["status"] for e in report["entries"]} == {"STALE"}
    assert any("no run history yet" in p for p in report["problems"])
    assert not default_history_path(offline_project).exists()  # status never creates one


# -- with the sandbox cloud ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud_project(
    tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path
) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("status-project")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "TF_"))}
    try:
        yield start_sandbox_project(directory, plugin_cache, apply=False)
    finally:
        sandbox.down(load_project(cwd=directory))
        os.environ.update(saved)


def test_all_current_and_unlocked_is_exit_0_and_a_held_lock_is_exit_1(
    cloud_project: Project, tmp_path: Path
) -> None:
    history = tmp_path / "history.sqlite"
    record(
        history,
        "r1",
        *(checked(stack, StackStatus.CLEAN, timedelta(minutes=5)) for stack in STACKS),
    )
    code, report = status_json(cloud_project.root, "--history", str(history))
    assert code == 0, report
    assert report["problems"] == []
    assert {e["status"] for e in report["entries"]} == {"CLEAN"}
    assert all(e["lock"] is None and e["lockError"] is None for e in report["entries"])

    state, _ = sandbox.status(cloud_project)
    assert state is not None
    s3 = client("s3", sandbox_credentials(), Target(state.region, state.endpoint_url))
    created = datetime.now(UTC) - timedelta(minutes=10)
    lock = {
        "ID": "5f0c6c2e-0000-4000-8000-000000000002",
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": "alice@laptop",
        "Version": "1.15.5",
        "Created": created.isoformat().replace("+00:00", "Z"),
        "Path": f"{srv.STATE_BUCKET}/prod/app.tfstate",
    }
    key = "prod/app.tfstate.tflock"
    s3.put_object(Bucket=srv.STATE_BUCKET, Key=key, Body=json.dumps(lock).encode())
    try:
        code, report = status_json(cloud_project.root, "--history", str(history))
        assert code == 1
        held = by_stack(report)["prod-app"]["lock"]
        assert (held["who"], held["operation"], held["stale"]) == (
            "alice@laptop",
            "OperationTypeApply",
            False,
        )
        assert 590 <= held["ageSeconds"] <= 700
        # The stack's last answer still stands; the lock is reported beside it.
        assert by_stack(report)["prod-app"]["status"] == "CLEAN"

        code, report = status_json(
            cloud_project.root, "--history", str(history), "--stale-lock-after", "5m"
        )
        assert code == 1 and by_stack(report)["prod-app"]["lock"]["stale"] is True
        code, out, _ = run_status(
            cloud_project.root, "--history", str(history), "--stale-lock-after", "5m"
        )
        assert "alice@laptop" in out and "STALE LOCK" in out
    finally:
        s3.delete_object(Bucket=srv.STATE_BUCKET, Key=key)


def test_lock_contention_from_the_history(cloud_project: Project, tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite"
    holder = LockHolder(id="x", who="bob@ci", operation="OperationTypePlan", ageSeconds=42)
    record(
        history,
        "r1",
        *(checked(stack, StackStatus.CLEAN, timedelta(minutes=30)) for stack in STACKS),
    )
    record(
        history,
        "r2",
        checked(
            "prod-network",
            StackStatus.LOCKED,
            timedelta(minutes=3),
            reason="state is locked by bob@ci",
            lock=holder,
        ),
    )
    code, report = status_json(cloud_project.root, "--history", str(history))
    assert code == 1
    network = by_stack(report)["prod-network"]
    assert (network["status"], network["consecutiveFailures"]) == ("LOCKED", 1)
    assert [(c["stack"], c["lock"]["who"]) for c in report["contention"]] == [
        ("prod-network", "bob@ci")
    ]
