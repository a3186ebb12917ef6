"""Summaries that tell the truth (issue 23, items 11-13), with plain data.

* 12: nothing registered is an error for `run` and `status` (exit 1, saying how to
  register a stack); `registry validate` stays 0 with a warning.
* 13: a LOCKED result's text shows the lock's age and stale flag; counted words
  agree with their number; the sandbox-not-running message names the settings file
  actually read (--config); a `check` of a registered stack counts for `status`.
* 11: the run summary and progress lines say what was skipped and who held it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iacdrift.cli import main
from iacdrift.errors import InputError, SandboxError
from iacdrift.flows import check as check_flow
from iacdrift.flows.check import CheckRequest, execute_check
from iacdrift.flows.status import StatusOptions, status
from iacdrift.flows.workbench import Workbench
from iacdrift.loaders.registry import load_project
from iacdrift.locking import holder_name, holder_run_id
from iacdrift.models.finding import CheckReport, Counts, LockHolder, StackResult, StackStatus
from iacdrift.models.notification import NotificationReport
from iacdrift.models.outcomes import PlanOutcome
from iacdrift.models.run import RunReport, RunSelection, SkippedStack
from iacdrift.primitives.wording import count
from iacdrift.report.check import render_markdown, table_text
from iacdrift.report.notification import route_lines
from iacdrift.report.run import progress_line, run_summary
from iacdrift.store.history import HistoryStore
from tests.unit.test_registry import unit, write_unit

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

AWS_SETTINGS = """\
apiVersion: iacdrift.dev/v1
kind: Settings
cloud: {target: aws, region: us-east-1}
allowAmbientCredentials: true
"""


def project_dir(root: Path, *names: str, settings: str = AWS_SETTINGS) -> Path:
    (root / "registry").mkdir(parents=True, exist_ok=True)
    (root / "iacdrift.yaml").write_text(settings, encoding="utf-8")
    for name in names:
        write_unit(root, f"{name}.yaml", unit(name))
    return root


def cli(monkeypatch: pytest.MonkeyPatch, cwd: Path, *args: str) -> int:
    monkeypatch.chdir(cwd)
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)


# --- item 12: nothing registered ------------------------------------------------------


@pytest.mark.parametrize("args", [["run", "--all"], ["run"], ["status"]])
def test_nothing_registered_is_an_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
) -> None:
    project_dir(tmp_path)
    assert cli(monkeypatch, tmp_path, *args) == 1
    out, err = capsys.readouterr()
    assert "all current" not in out and "none due" not in out
    (line,) = err.splitlines()
    assert line.startswith("error: no stacks are registered in registry/")
    assert "registry/prod-network.yaml with kind: DriftManagedUnit" in line


def test_nothing_registered_is_said_before_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # cloud.target sandbox with no sandbox running: the empty registry is the first fix.
    settings = "apiVersion: iacdrift.dev/v1\nkind: Settings\ncloud: {target: sandbox}\n"
    project_dir(tmp_path, settings=settings)
    assert cli(monkeypatch, tmp_path, "run", "--all") == 1
    assert "no stacks are registered" in capsys.readouterr().err


def test_registry_validate_warns_but_stays_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project_dir(tmp_path)
    assert cli(monkeypatch, tmp_path, "registry", "validate") == 0
    out, err = capsys.readouterr()
    assert out == "ok: 0 stacks valid in registry/\n"
    assert err.startswith("warning: no stacks are registered in registry/")


def test_status_flow_refuses_an_empty_registry(tmp_path: Path) -> None:
    project = load_project(cwd=project_dir(tmp_path))
    with pytest.raises(InputError, match="no stacks are registered"):
        status(project, StatusOptions(read_locks=False))


# --- item 13: small truths -------------------------------------------------------------


def locked_result(stale: bool) -> StackResult:
    return StackResult(
        stack="prod-iam",
        status=StackStatus.LOCKED,
        checkedAt=NOW,
        reason="prod-iam: state is locked by alice@laptop (operation OperationTypeApply)",
        lock=LockHolder(
            id="7",
            operation="OperationTypeApply",
            who="alice@laptop",
            ageSeconds=2 * 3600 + 600 if stale else 95,
            stale=stale,
        ),
    )


@pytest.mark.parametrize(
    ("stale", "shown"),
    [
        (True, "state lock held by alice@laptop (OperationTypeApply, 2h10m) STALE LOCK"),
        (False, "state lock held by alice@laptop (OperationTypeApply, 95s)\n"),
    ],
)
def test_a_locked_result_shows_the_locks_age_and_stale_flag(stale: bool, shown: str) -> None:
    report = CheckReport(generatedAt=NOW, results=[locked_result(stale)])
    assert shown in table_text(report)
    markdown = render_markdown(report)
    assert f"State lock held by `{shown.removeprefix('state lock held by ').strip()}`" in markdown


@pytest.mark.parametrize(
    ("number", "words"), [(0, "0 problems"), (1, "1 problem"), (2, "2 problems")]
)
def test_counted_words_agree_with_their_number(number: int, words: str) -> None:
    assert count(number, "problem") == words
    assert count(number, "delivery", "deliveries").endswith("delivery" if number == 1 else "ies")


def test_route_summary_counts_in_words() -> None:
    report = NotificationReport(generatedAt=NOW, dryRun=False, findings=1)
    assert route_lines(report)[-1].startswith("1 finding: 0 sent, 0 failed;")
    dry = NotificationReport(generatedAt=NOW, dryRun=True, findings=1)
    assert route_lines(dry)[-1].startswith("dry run: 1 finding, 0 deliveries would be sent;")


@pytest.mark.parametrize("config", [None, "ops/drift.yaml"])
def test_sandbox_not_running_names_the_settings_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str | None
) -> None:
    settings = "apiVersion: iacdrift.dev/v1\nkind: Settings\ncloud: {target: sandbox}\n"
    if config is None:
        project_dir(tmp_path, "prod-app", settings=settings)
        project = load_project(cwd=tmp_path)
        expected = "`iacdrift sandbox up` (iacdrift.yaml: cloud.target is sandbox)"
    else:
        root = project_dir(tmp_path / "ops", "prod-app", settings=settings)
        (root / "iacdrift.yaml").rename(root / "drift.yaml")
        monkeypatch.chdir(tmp_path)
        project = load_project(Path(config))
        expected = f"`iacdrift sandbox up --config {config}` ({config}: cloud.target is sandbox)"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SandboxError) as raised:
        Workbench.open(project)
    assert expected in raised.value.message
    if config is not None:
        assert "iacdrift.yaml" not in raised.value.message


def test_a_check_of_a_registered_stack_counts_for_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`status` used to say STALE "never" after a successful `check prod-app`."""
    root = project_dir(tmp_path, "prod-app", "prod-db")
    monkeypatch.chdir(root)
    checked = StackResult(
        stack="prod-app",
        status=StackStatus.CLEAN,
        checkedAt=NOW,
        planOutcome=PlanOutcome.NO_CHANGES,
        counts=Counts(resources=3),
    )
    unregistered = checked.model_copy(update={"stack": "scratch"})
    scratch = root / "scratch"
    scratch.mkdir()
    (scratch / "main.tf").write_text("", encoding="utf-8")

    def check(bench: Workbench, stacks: Any, options: Any = None) -> CheckReport:
        assert [ref.name for ref in stacks] == ["prod-app", "scratch"]
        return CheckReport(generatedAt=NOW, results=[checked, unregistered])

    # Terraform is not the subject here: the check's report is plain data.
    monkeypatch.setattr(check_flow, "check", check)
    execute_check(CheckRequest(stacks=("prod-app", "scratch")), clock=lambda: NOW)
    report = status(
        load_project(cwd=root),
        StatusOptions(read_locks=False, clock=lambda: NOW + timedelta(minutes=10)),
    )
    entries = {entry.stack: entry for entry in report.entries}
    assert entries["prod-app"].lastSuccessAt == NOW
    assert entries["prod-app"].status is StackStatus.CLEAN
    assert entries["prod-db"].status is StackStatus.STALE  # never checked
    with HistoryStore(root / ".iacdrift/history.sqlite") as history:
        assert history.last_result("scratch") is None  # a directory is not a registered stack


# --- item 11: what the run says about skipped stacks -----------------------------------


def run_with(*skipped: SkippedStack, results: list[StackResult] | None = None) -> RunReport:
    return RunReport(
        runId="run2",
        startedAt=NOW,
        finishedAt=NOW + timedelta(seconds=3),
        registry="registry",
        selection=RunSelection.ALL,
        maxParallel=2,
        results=results or [],
        skipped=list(skipped),
    )


HELD = SkippedStack(
    stack="prod-app",
    reason="prod-app: another iacdrift holds its orchestrator lease (h:1:run1, ...)",
    holder="h:1:run1",
    holderRunId="run1",
)


def test_a_run_that_skipped_stacks_is_not_green() -> None:
    clean = StackResult(stack="prod-db", status=StackStatus.CLEAN, checkedAt=NOW)
    report = run_with(HELD, results=[clean])
    assert report.exit_code() == 1
    assert run_summary(report) == (
        "run run2: 1 stack (1 CLEAN); 0 unmanaged; 1 skipped (1 unknown); 3.0s"
    )
    assert progress_line("prod-app", HELD, 2, 2) == (
        "[2/2] prod-app: skipped, answer unknown (lease held by h:1:run1)"
    )


def test_a_waited_for_result_names_the_run_that_recorded_it() -> None:
    drifted = StackResult(stack="prod-app", status=StackStatus.DRIFTED, checkedAt=NOW)
    answered = HELD.model_copy(update={"result": drifted})
    report = run_with(answered)
    assert report.exit_code() == 2
    assert "1 skipped (1 answered by the lease holder's run)" in run_summary(report)
    assert progress_line("prod-app", answered, 1, 1) == (
        "[1/1] prod-app: DRIFTED (result recorded by run run1, which held its lease)"
    )


def test_the_lease_holder_names_its_run() -> None:
    assert holder_run_id(holder_name("abc123")) == "abc123"
    assert holder_run_id("ci-host.example:4242:run0000000a") == "run0000000a"
    assert holder_run_id("(changing hands)") is None
    assert holder_run_id("host:notapid:run") is None
