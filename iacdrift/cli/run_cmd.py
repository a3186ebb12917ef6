"""`iacdrift run`: the main job."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from iacdrift.cli.common import (
    config_option,
    registry_option,
    report_options,
    tf_log_option,
    wide_console,
)
from iacdrift.cli.plan_cmd import tf_binary_option, tofu_binary_option
from iacdrift.cli.policy_cmd import policies_option
from iacdrift.cli.status_cmd import duration_value
from iacdrift.errors import ExitCode
from iacdrift.flows.ci import CI_FORMATS, ci_output
from iacdrift.flows.registry import open_project
from iacdrift.flows.run import Progress as ProgressCallback
from iacdrift.flows.run import RunRequest, execute_run
from iacdrift.flows.workbench import EngineOptions
from iacdrift.models.finding import StackResult
from iacdrift.models.notification import NotificationReport
from iacdrift.models.run import RunSelection, SkippedStack
from iacdrift.report.common import literal, render_json
from iacdrift.report.notification import run_notification_lines
from iacdrift.report.run import (
    heal_lines,
    progress_line,
    render_run_markdown,
    render_run_table,
    run_summary,
)


def shard_value(value: str | None) -> tuple[int, int] | None:
    """``--shard I/N`` -> (I, N), 1 <= I <= N."""
    if value is None:
        return None
    index, sep, count = value.partition("/")
    if not sep or not index.isdigit() or not count.isdigit():
        raise click.BadParameter(f"{value!r}: give I/N, e.g. 2/4", param_hint="--shard")
    i, n = int(index), int(count)
    if not 1 <= i <= n:
        raise click.BadParameter(f"{value!r}: I must be between 1 and N", param_hint="--shard")
    return i, n


@contextmanager
def _progress() -> Iterator[ProgressCallback]:
    """A line per finished stack on stderr; on a terminal (not CI) under a progress bar."""
    err = Console(stderr=True)
    if not err.is_terminal or os.environ.get("CI"):

        def plain(stack: str, outcome: StackResult | SkippedStack, done: int, total: int) -> None:
            print(progress_line(stack, outcome, done, total), file=sys.stderr, flush=True)

        yield plain
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("checking stacks", total=None)

        def live(stack: str, outcome: StackResult | SkippedStack, done: int, total: int) -> None:
            bar.update(task, total=total, completed=done)
            # Stack names and reasons are data: printed literally, never as rich markup.
            bar.console.print(literal(progress_line(stack, outcome, done, total)))

        yield live


@click.command("run")
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@tf_log_option
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
@report_options("run-report.schema.json", "run.json, run.md and the rendered table (run.txt)")
@click.option("--separate-refresh-only", is_flag=True, help="Also run true -refresh-only plans.")
@click.option(
    "--wait-for-lease",
    "wait_for_lease",
    metavar="DURATION",
    default=None,
    callback=duration_value,
    help="When another iacdrift run holds a stack's lease, wait up to DURATION (e.g. "
    "10m) after the other stacks for it to finish and report the result that run "
    "recorded, naming it. Default: skip the stack (unknown: exit 1).",
)
@policies_option
@click.option(
    "--notify/--no-notify",
    default=True,
    show_default=True,
    help="Route the findings to the targets of the Route policies (deduplicated: a "
    "persisting drift is not sent again; see `iacdrift route --help`).",
)
@click.option(
    "--auto-heal",
    is_flag=True,
    help="Revert, without a person, the drift an AutoHealPolicy allows (autoHealAllowed) "
    "on stacks whose registry entry says policies.autoHeal: true: after a healthy check, "
    "within maxObjectsPerReconcile, rate-limited, behind the circuit breaker; never an "
    "incident, never iam, network, secrets or database; each heal verified by a fresh "
    "check and listed with it.",
)
@click.option(
    "--notification-log",
    "notification_log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="What was already sent (default .iacdrift/notifications.sqlite).",
)
@click.option(
    "--shard",
    callback=lambda _ctx, _param, value: shard_value(value),
    default=None,
    metavar="I/N",
    help="Check only the I-th of N shards of the selected stacks (--all or --due): "
    "stable across machines (by stack name hash, critical tiers spread first), so N CI "
    "jobs with I = 1..N cover every stack once. Leases still keep two shards off one "
    "stack.",
)
def run_command(
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    tf_log: str | None,
    select_all: bool,
    select_due: bool,
    stacks: tuple[str, ...],
    max_parallel: int,
    output_format: str,
    out_dir: Path | None,
    history_file: Path | None,
    separate_refresh_only: bool,
    wait_for_lease: timedelta | None,
    policies_dir: Path | None,
    notify: bool,
    auto_heal: bool,
    notification_log: Path | None,
    shard: tuple[int, int] | None,
) -> ExitCode:
    """Check every due registered stack, each with its own identity, in parallel.

    Stacks are taken critical tier first. Each stack: an orchestrator lease (two
    iacdrift processes never check one stack at once), credentials from its OIDC
    role only, one init and one plan. Unmanaged resources are judged once per run
    from one inventory read per resource type. Every finding is classified by
    the policies (policies/: ownership, ignore rules, guardrails, decision
    table) joined with the audit trail and change records (context: in
    iacdrift.yaml), then routed (Route policies; --no-notify to skip). Results
    go to the run history (see `iacdrift status`, `iacdrift explain`); a stack
    that could not be checked is ERROR or LOCKED, never clean. A stack whose
    lease another iacdrift run holds is skipped and listed with the holder in
    every output; it is unchecked by this run unless --wait-for-lease gets the
    result the holder's run recorded.

    \b
    Examples:
      iacdrift run                         # the due stacks
      iacdrift run --all --max-parallel 4 --out out/
      iacdrift run --stack prod-network --format json
      iacdrift run --all --wait-for-lease 15m   # CI: another run may hold leases
      iacdrift run --all --auto-heal       # revert what AutoHealPolicy allows
      iacdrift run --all --shard 2/4 --format junit   # CI job 2 of 4

    \b
    Exit codes: 0 all clean, 2 drift found, 1 any stack unchecked (ERROR/LOCKED,
    skipped without a known answer) or no stack registered.
    """
    if sum(bool(x) for x in (select_all, select_due, stacks)) > 1:
        raise click.UsageError("choose one of --all, --due or --stack")
    if shard is not None and stacks:
        raise click.UsageError(
            "--shard splits --all or --due; with --stack, name the shard's stacks"
        )
    selection = (
        RunSelection.ALL if select_all else RunSelection.NAMED if stacks else RunSelection.DUE
    )
    request = RunRequest(
        config_path=config_path,
        registry_dir=registry_dir,
        engine=EngineOptions(tf_binary, tofu_binary, tf_log),
        selection=selection,
        names=stacks,
        max_parallel=max_parallel,
        separate_refresh_only=separate_refresh_only,
        policies_dir=policies_dir,
        history_file=history_file,
        out_dir=out_dir,
        notify=notify,
        notification_log=notification_log,
        wait_for_lease=wait_for_lease,
        auto_heal=auto_heal,
        shard=shard,
    )
    # Machine formats own standard output: stdout notification targets go to stderr.
    json_out = output_format in ("json", *CI_FORMATS)

    def echo(line: str) -> None:
        # A stdout notification target must not break `--format json` on standard output.
        click.echo(line, err=json_out)

    def notified(notifications: NotificationReport) -> None:
        for line in run_notification_lines(notifications):
            click.echo(line, err=True)

    outcome = execute_run(request, _progress, echo=echo, notified=notified)
    report = outcome.report
    if output_format in CI_FORMATS:
        project = open_project(config_path, registry_dir)
        click.echo(ci_output(report, output_format, project), nl=False)
    elif json_out:
        click.echo(render_json(report), nl=False)
    elif output_format == "markdown":
        click.echo(render_run_markdown(report), nl=False)
    else:
        render_run_table(report, wide_console())
        for line in heal_lines(report):
            click.echo(line)
        click.echo(run_summary(report))
    if outcome.written:
        first, *rest = outcome.written
        names = [path.name for path in rest]
        listed = f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else "".join(names)
        click.echo(f"wrote {first}" + (f", {listed}" if listed else ""), err=True)
    return report.exit_code()
