"""`iacdrift ci matrix | merge | report | pr-comment | github-workflow`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import click

from iacdrift.cli.common import config_option, registry_option
from iacdrift.errors import ExitCode, InputError
from iacdrift.flows import ci
from iacdrift.flows.registry import open_project
from iacdrift.report.common import render_json


@click.group("ci")
def ci_group() -> None:
    """Run iacdrift from CI: split a sweep across jobs, merge the shards, report in
    the formats CI systems read (JUnit, SARIF, GitHub step summary), and write a
    ready GitHub Actions workflow.

    \b
    A sweep in GitHub Actions (what `iacdrift ci github-workflow` writes):
      iacdrift ci matrix --due > matrix.json          # job 1: the shards
      iacdrift run --stack a --stack b --out out/     # one job per matrix entry
      iacdrift ci merge shard-*/run.json --out merged.json   # the summary job
      iacdrift ci report merged.json --format github  # $GITHUB_STEP_SUMMARY
      iacdrift ci report merged.json --format sarif > drift.sarif
    """


@ci_group.command("matrix")
@click.option("--due", "due_only", is_flag=True, help="Only the stacks due now (default).")
@click.option("--all", "all_stacks", is_flag=True, help="Every registered stack.")
@click.option(
    "--max-jobs",
    type=click.IntRange(1, 256),
    default=256,
    show_default=True,
    help="At most this many matrix entries (GitHub Actions allows 256).",
)
@click.option(
    "--history",
    "history_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run-history file (default .iacdrift/history.sqlite): each stack's last "
    "check time balances the shards.",
)
@config_option
@registry_option
def matrix_command(
    due_only: bool,
    all_stacks: bool,
    max_jobs: int,
    history_file: Path | None,
    config_path: Path | None,
    registry_dir: Path | None,
) -> ExitCode:
    """Print the GitHub Actions matrix ({"include": [...]}) of the stacks to check.

    Entries are grouped by risk tier (critical first); each holds the stack names of
    one shard, space-separated, balanced by each stack's last check time. Every
    stack is in exactly one entry. No stack due: an empty include list, exit 0.

    \b
    Examples:
      iacdrift ci matrix --due
      iacdrift ci matrix --all --max-jobs 20

    \b
    Exit codes: 0 printed, 1 bad input (registry, history).
    """
    if due_only and all_stacks:
        raise InputError("choose --due or --all, not both")
    project = open_project(config_path, registry_dir)
    matrix = ci.matrix_for(
        project, due_only=not all_stacks, max_jobs=max_jobs, history_file=history_file
    )
    click.echo(matrix.model_dump_json())
    return ExitCode.OK


@ci_group.command("merge")
@click.argument("reports", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the merged run report here (default: standard output).",
)
@click.option(
    "--expect",
    "expect_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The sweep's matrix (what `ci matrix` printed): a stack it names that no "
    "shard reported is unanswered (exit 1), never silently clean.",
)
def merge_command(
    reports: tuple[Path, ...], out_file: Path | None, expect_file: Path | None
) -> ExitCode:
    """Merge the shards' run reports (run.json) into one, for the summary job.

    Results, skipped stacks and unmanaged findings are united (a finding two shards
    saw is listed once); shards classified under different policy versions are not
    merged silently. The exit code is what a single run over every shard's stacks
    would return.

    \b
    Example:
      iacdrift ci merge shard-*/run.json --expect matrix.json --out merged.json

    \b
    Exit codes: 0 all clean, 2 drift found, 1 anything unchecked or bad input.
    """
    merged = ci.merge_files(list(reports), expect_file)
    _emit(render_json(merged), out_file)
    return merged.exit_code()


@ci_group.command("report")
@click.argument("report_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(ci.CI_FORMATS)),
    required=True,
    help="junit: JUnit XML; sarif: SARIF 2.1.0 for code scanning; github: Markdown, "
    "also appended to $GITHUB_STEP_SUMMARY when set.",
)
@config_option
@registry_option
def report_command(
    report_file: Path,
    output_format: str,
    config_path: Path | None,
    registry_dir: Path | None,
) -> ExitCode:
    """Render a check or run report (check.json, run.json, merged.json) for CI.

    \b
    Examples:
      iacdrift ci report merged.json --format github
      iacdrift ci report out/run.json --format junit > drift-junit.xml

    \b
    Exit codes: the report's own (0 clean, 2 drift found, 1 unchecked).
    """
    report = ci.read_report(report_file)
    project = open_project(config_path, registry_dir)
    click.echo(ci.ci_output(report, output_format, project), nl=False)
    return report.exit_code()


@ci_group.command("pr-comment")
@click.argument("report_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--changed-files",
    "changed_files",
    type=click.File("r"),
    default="-",
    show_default=True,
    help="The paths the pull request changes, one per line (`git diff --name-only "
    "origin/main...HEAD`); - reads standard input.",
)
@config_option
@registry_option
def pr_comment_command(
    report_file: Path,
    changed_files: TextIO,
    config_path: Path | None,
    registry_dir: Path | None,
) -> ExitCode:
    """Markdown for a pull request: what has drifted in the stacks it touches.

    Run it on a recent run report before merging, so the author knows that the
    stack's live state already differs from its code (an apply would revert it).

    \b
    Example:
      git diff --name-only origin/main...HEAD | iacdrift ci pr-comment merged.json

    \b
    Exit codes: 0 printed (whatever drifted), 1 bad input.
    """
    report = ci.read_report(report_file)
    project = open_project(config_path, registry_dir)
    changed = [line.strip() for line in changed_files if line.strip()]
    click.echo(ci.pr_comment(report, project, changed), nl=False)
    return ExitCode.OK


@ci_group.command("github-workflow")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the workflow here, e.g. .github/workflows/iacdrift.yml (default: standard output).",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Matrix jobs of one tier at once.",
)
@config_option
@registry_option
def workflow_command(
    out_file: Path | None,
    max_parallel: int,
    config_path: Path | None,
    registry_dir: Path | None,
) -> ExitCode:
    """Write a GitHub Actions workflow that sweeps this registry on schedule.

    A schedule from the shortest registry frequency and workflow_dispatch; one
    matrix job per risk tier (id-token: write for each stack's OIDC role); a
    concurrency group so two sweeps never overlap; pinned actions; the reports
    uploaded as artifacts; a final job that merges the shards, writes the step
    summary and uploads SARIF (the only job with security-events: write).

    \b
    Example:
      iacdrift ci github-workflow --out .github/workflows/iacdrift.yml

    \b
    Exit codes: 0 written, 1 bad input.
    """
    project = open_project(config_path, registry_dir)
    _emit(ci.workflow_for(project, max_parallel=max_parallel), out_file)
    return ExitCode.OK


def _emit(text: str, out_file: Path | None) -> None:
    """``text`` on standard output, or into ``out_file`` (saying so on stderr)."""
    if out_file is None:
        sys.stdout.write(text)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out_file}", err=True)
