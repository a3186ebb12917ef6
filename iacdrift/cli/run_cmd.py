"""`iacdrift run`: the main job."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from iacdrift.cli.common import config_option, registry_option, wide_console
from iacdrift.cli.plan_cmd import tf_binary_option, tofu_binary_option
from iacdrift.cli.policy_cmd import policies_option
from iacdrift.flows.notify import route_report
from iacdrift.flows.run import RunOptions, history_path, run
from iacdrift.flows.workbench import EngineOptions, Workbench
from iacdrift.loaders.policy import default_policy_dir, load_policies
from iacdrift.loaders.registry import Project, load_project
from iacdrift.models.finding import CheckReport, StackResult
from iacdrift.models.run import RunReport
from iacdrift.report.check import render_markdown, render_table
from iacdrift.store.history import HistoryStore
from iacdrift.store.notifications import NotificationLog, default_log_path


def _as_check_report(report: RunReport) -> CheckReport:
    return CheckReport(
        generatedAt=report.finishedAt,
        results=report.results,
        estateFindings=report.estateFindings,
        estateProblems=report.estateProblems,
        policyVersion=report.policyVersion,
        expiredRules=report.expiredRules,
    )


def _line(stack: str, result: StackResult | None, done: int, total: int) -> str:
    if result is None:
        return f"[{done}/{total}] {stack}: skipped (another iacdrift run holds its lease)"
    detail = f" ({result.counts.drifted} drift)" if result.status.value == "DRIFTED" else ""
    reason = f": {result.reason}" if result.reason else ""
    return (
        f"[{done}/{total}] {stack}: {result.status.value}{detail} "
        f"in {result.timings.totalSeconds:.1f}s{reason}"
    )


@click.command("run")
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@click.option("--all", "select_all", is_flag=True, help="Check every registered stack.")
@click.option(
    "--due", "select_due", is_flag=True, help="Check the stacks whose schedule is due (default)."
)
@click.option("--stack", "stacks", multiple=True, help="Check this stack (repeatable).")
@click.option(
    "--max-parallel",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Terraform processes at once (one more stack is prepared meanwhile: lease, "
    "credentials, working copy).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write run.json, run.md and the rendered table (run.txt) here.",
)
@click.option(
    "--history",
    "history_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run-history SQLite file (default .iacdrift/history.sqlite).",
)
@click.option("--separate-refresh-only", is_flag=True, help="Also run true -refresh-only plans.")
@policies_option
@click.option(
    "--notify/--no-notify",
    default=True,
    show_default=True,
    help="Route the findings to the targets of the Route policies (deduplicated: a "
    "persisting drift is not sent again; see `iacdrift route --help`).",
)
@click.option(
    "--notification-log",
    "notification_log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="What was already sent (default .iacdrift/notifications.sqlite).",
)
def run_command(
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    select_all: bool,
    select_due: bool,
    stacks: tuple[str, ...],
    max_parallel: int,
    output_format: str,
    out_dir: Path | None,
    history_file: Path | None,
    separate_refresh_only: bool,
    policies_dir: Path | None,
    notify: bool,
    notification_log: Path | None,
) -> int:
    """Check every due registered stack, each with its own identity, in parallel.

    Stacks are taken critical tier first. Each stack: an orchestrator lease (two
    iacdrift processes never check one stack at once), credentials from its OIDC
    role only, one init and one plan. Unmanaged resources are judged once per run
    from one inventory read per resource type. Every finding is classified by
    the policies (policies/: ownership, ignore rules, guardrails, decision
    table) joined with the audit trail and change records (context: in
    iacdrift.yaml), then routed (Route policies; --no-notify to skip). Results
    go to the run history (see `iacdrift status`, `iacdrift explain`); a stack
    that could not be checked is ERROR or LOCKED, never clean.

    \b
    Examples:
      iacdrift run                         # the due stacks
      iacdrift run --all --max-parallel 4 --out out/
      iacdrift run --stack prod-network --format json

    \b
    Exit codes: 0 all clean, 2 drift found, 1 any stack unchecked (ERROR/LOCKED).
    """
    if sum(bool(x) for x in (select_all, select_due, stacks)) > 1:
        raise click.UsageError("choose one of --all, --due or --stack")
    selection = "all" if select_all else "named" if stacks else "due"
    project = load_project(config_path, registry_dir)
    bench = Workbench.open(project, EngineOptions(tf_binary, tofu_binary))
    options = RunOptions(
        selection=selection,
        names=stacks,
        max_parallel=max_parallel,
        separate_refresh_only=separate_refresh_only,
        policies_dir=policies_dir,
    )
    err = Console(stderr=True)
    interactive = err.is_terminal and not os.environ.get("CI")
    with HistoryStore(history_path(bench, history_file)) as history:
        if interactive:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, console=err, transient=True) as bar:
                task = bar.add_task("checking stacks", total=None)

                def live(stack: str, result: StackResult | None, done: int, total: int) -> None:
                    bar.update(task, total=total, completed=done)
                    bar.console.print(_line(stack, result, done, total))

                report = run(bench, options, history, live)
        else:

            def plain(stack: str, result: StackResult | None, done: int, total: int) -> None:
                print(_line(stack, result, done, total), file=sys.stderr, flush=True)

            report = run(bench, options, history, plain)
    if notify:
        _notify(report, project, policies_dir, notification_log, json_out=output_format == "json")
    as_check = _as_check_report(report)
    body = json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    if output_format == "json":
        click.echo(body, nl=False)
    elif output_format == "markdown":
        click.echo(render_markdown(as_check), nl=False)
    else:
        render_table(as_check, wide_console())
        _summary(report)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "run.json").write_text(body, encoding="utf-8")
        (out_dir / "run.md").write_text(render_markdown(as_check), encoding="utf-8")
        text = Console(width=200, record=True, file=io.StringIO())
        render_table(as_check, text)
        (out_dir / "run.txt").write_text(text.export_text(), encoding="utf-8")
        click.echo(f"wrote {out_dir / 'run.json'}, run.md and run.txt", err=True)
    return report.exit_code()


def _notify(
    report: RunReport,
    project: Project,
    policies_dir: Path | None,
    log_path: Path | None,
    *,
    json_out: bool,
) -> None:
    """Route the run's findings; failures are reported and retried next run."""
    policies = load_policies(
        policies_dir or default_policy_dir(project.root),
        cwd=project.root,
        missing_ok=policies_dir is None,
    )
    if not policies.routes:
        return

    def echo(line: str) -> None:
        # A stdout target must not break `--format json` on standard output.
        click.echo(line, err=json_out)

    with NotificationLog(log_path or default_log_path(project.root)) as log:
        sent = route_report(report, policies, log, report.finishedAt, project.root, echo=echo)
    ok = sum(1 for outcome in sent.outcomes if outcome.ok)
    click.echo(
        f"notified: {ok} sent, {len(sent.failed)} failed (retried next run), "
        f"{sent.skippedDuplicates} already sent",
        err=True,
    )
    for outcome in sent.failed:
        click.echo(f"warning: notification {outcome.delivery.target}: {outcome.error}", err=True)


def _summary(report: RunReport) -> None:
    counts: dict[str, int] = {}
    for result in report.results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    click.echo(
        f"run {report.runId}: {len(report.results)} stacks ({parts or 'none due'}); "
        f"{len(report.estateFindings)} unmanaged; {len(report.skipped)} skipped; "
        f"{(report.finishedAt - report.startedAt).total_seconds():.1f}s"
    )
