"""`iacdrift route REPORT.json`: send a saved report's findings where the routes say."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
from pydantic import ValidationError

from iacdrift.cli.common import config_option
from iacdrift.cli.policy_cmd import policies_option
from iacdrift.errors import ExitCode, InputError
from iacdrift.flows.notify import DEFAULT_TIMEOUT, route_report
from iacdrift.loaders.policy import default_policy_dir, load_policies
from iacdrift.loaders.registry import display_path
from iacdrift.models.finding import CheckReport
from iacdrift.models.notification import Delivery, NotificationReport
from iacdrift.models.run import RunReport
from iacdrift.store.notifications import NotificationLog, default_log_path

_PRODUCE = "write it with `iacdrift run --format json` or `iacdrift check --format json`"


def read_report(path: Path) -> RunReport | CheckReport:
    """A saved RunReport or CheckReport; InputError with one line otherwise."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{shown}: not found; {_PRODUCE}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{shown}: cannot be read ({exc}); {_PRODUCE}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{shown}: line {exc.lineno}: not JSON ({exc.msg}); {_PRODUCE}") from None
    kind = document.get("kind") if isinstance(document, dict) else None
    model: type[RunReport] | type[CheckReport]
    if kind == "RunReport":
        model = RunReport
    elif kind == "CheckReport":
        model = CheckReport
    else:
        raise InputError(
            f"{shown}: kind: expected RunReport or CheckReport, got {kind!r}; {_PRODUCE}"
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(
            f"{shown}: {where}: {first['msg']}{more}; is it from another iacdrift version? "
            f"{_PRODUCE}"
        ) from None


def _describe(delivery: Delivery) -> str:
    kind = "page" if delivery.page else f"issue/{delivery.priority.value}"
    where = delivery.stack or "unmanaged"
    return (
        f"{delivery.target} [{delivery.reason.value}] {kind} {delivery.risk.value} "
        f"{where}: {delivery.resourceRef} (finding {delivery.findingId})"
    )


def _render(report: NotificationReport) -> None:
    if report.dryRun:
        for delivery in report.deliveries:
            click.echo(f"would send {_describe(delivery)}")
    else:
        for outcome in report.outcomes:
            if outcome.ok:
                click.echo(f"sent {_describe(outcome.delivery)}")
            else:
                click.echo(f"failed {outcome.error}")
    sent = sum(1 for outcome in report.outcomes if outcome.ok)
    counts = (
        f"{report.skippedDuplicates} already notified, {report.silenced} silenced, "
        f"{report.notAlerting} not alerting, {report.unrouted} unrouted"
    )
    if report.dryRun:
        click.echo(
            f"dry run: {report.findings} findings, {len(report.deliveries)} deliveries "
            f"would be sent; {counts}; {len(report.resolved)} would be marked resolved; "
            "nothing sent or logged"
        )
    else:
        click.echo(
            f"{report.findings} findings: {sent} sent, {len(report.failed)} failed; "
            f"{counts}; {len(report.resolved)} marked resolved"
        )


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
) -> int:
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
    cwd = Path.cwd()
    root = (cwd / config_path).resolve().parent if config_path is not None else cwd
    report = read_report(report_path)
    policies = load_policies(policies_dir if policies_dir is not None else default_policy_dir(root))
    path = log_path if log_path is not None else default_log_path(root)
    now = datetime.now(UTC)
    # A dry run must not create the log: without one, dedupe against an empty log.
    log = NotificationLog.in_memory() if dry_run and not path.exists() else NotificationLog(path)
    with log:
        result = route_report(report, policies, log, now, root, send=not dry_run, timeout=timeout)
    _render(result)
    return ExitCode.FAILED if result.exit_code() else ExitCode.OK
