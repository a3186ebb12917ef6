"""`iacdrift route REPORT.json`: send a saved report's findings where the routes say."""

from __future__ import annotations

from pathlib import Path

import click

from iacdrift.cli.common import config_option
from iacdrift.cli.policy_cmd import policies_option
from iacdrift.errors import ExitCode
from iacdrift.flows.notify import DEFAULT_TIMEOUT, route_saved_report
from iacdrift.report.notification import route_lines


@click.command("route")
@click.argument(
    "report_path", metavar="REPORT.json", type=click.Path(dir_okay=False, path_type=Path)
)
@config_option
@policies_option
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="IACDRIFT_NOTIFICATION_LOG",
    help="Notification log, SQLite (default: .iacdrift/notifications.sqlite under the "
    "project root).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would be sent; send nothing and write nothing to the log.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=120.0),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for each webhook or Slack receiver.",
)
def route_command(
    report_path: Path,
    config_path: Path | None,
    policies_dir: Path | None,
    log_path: Path | None,
    dry_run: bool,
    timeout: float,
) -> ExitCode:
    """Send the findings of a saved report where the Route policies say.

    REPORT.json is the output of `iacdrift run --format json` (or its --out
    run.json) or of `iacdrift check --format json`. Each finding walks the
    Route documents of policies/ in policy order: the first match decides,
    unless it says continueMatching; a route with no targets silences what it
    matches. Targets: webhook (JSON POST), slack (Slack-compatible payload),
    jsonl (one line appended to a file under the project root), stdout.

    A finding with alert: true (not suppressed) pages. Any other finding never
    pages: only a createIssue route files it, as a low-priority issue.

    Dedupe: a finding already sent through a target is not sent there again,
    unless it escalated (higher risk, or it now pages) or its reconcile-by
    deadline passed since. The log (.iacdrift/notifications.sqlite) records
    each successful delivery; a failed one is tried again next time. A logged
    finding absent from a stack this report checked successfully (or, for a
    run of all stacks, from the unmanaged findings) is marked resolved, so if
    it comes back it notifies again. URLs are secrets: they never appear in
    output, errors or the log; targets are named <route id>#<index>:<type>.

    \b
    Examples:
      iacdrift run --all --format json > out/run.json
      iacdrift route out/run.json --dry-run      # what would be sent
      iacdrift route out/run.json                # send, log, dedupe

    \b
    Exit codes: 0 every delivery succeeded (or nothing to send), 1 any delivery
    failed, or bad input (report, policies, log).
    """
    result = route_saved_report(
        report_path,
        config_path=config_path,
        policies_dir=policies_dir,
        log_path=log_path,
        dry_run=dry_run,
        timeout=timeout,
    )
    for line in route_lines(result):
        click.echo(line)
    return result.exit_code()
