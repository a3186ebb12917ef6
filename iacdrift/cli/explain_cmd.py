"""`iacdrift explain FINDING_ID`: why a finding got its class, risk and action."""

from __future__ import annotations

from pathlib import Path

import click

from iacdrift.cli.common import config_option, registry_option
from iacdrift.errors import ExitCode
from iacdrift.flows.explain import find_finding
from iacdrift.report.common import render_json
from iacdrift.report.explain import render_explanation


@click.command("explain")
@click.argument("finding_id")
@config_option
@registry_option
@click.option(
    "--history",
    "history_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run-history SQLite file (default .iacdrift/history.sqlite beside iacdrift.yaml).",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Look in this saved `run`/`check --format json` report instead of the history.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def explain_command(
    finding_id: str,
    config_path: Path | None,
    registry_dir: Path | None,
    history_file: Path | None,
    report_file: Path | None,
    output_format: str,
) -> ExitCode:
    """Show which rules, audit events and change records decided a finding.

    FINDING_ID is the findingId of a finding (`drift-...`, as `run` and `check`
    print it; 12 or more leading characters are enough when unique). The most
    recent record of it is read from the run history (every `run` and `check`
    keeps its findings there) or from a saved report with --report.

    \b
    Examples:
      iacdrift explain drift-3f2a9c01b7d4e5f6a7b8
      iacdrift explain drift-3f2a9c01b7d4 --report out/run.json --format json

    \b
    Exit codes: 0 shown, 1 not found or unreadable input.
    """
    finding = find_finding(
        finding_id,
        config_path=config_path,
        registry_dir=registry_dir,
        history_file=history_file,
        report_file=report_file,
    )
    if output_format == "json":
        click.echo(render_json(finding), nl=False)
    else:
        click.echo(render_explanation(finding), nl=False)
    return ExitCode.OK
