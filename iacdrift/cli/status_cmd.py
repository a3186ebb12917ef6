"""`iacdrift status`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from iacdrift.cli.common import config_option, format_option, registry_option, wide_console
from iacdrift.errors import ExitCode
from iacdrift.flows.status import StatusOptions, project_status
from iacdrift.primitives.duration import parse_duration
from iacdrift.report.common import render_json
from iacdrift.report.status import render_table


def duration_value(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> timedelta | None:
    """A duration option (30m, 2h, 7d) as a timedelta (None when not given); a usage
    error otherwise."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def _duration_text(value: timedelta) -> str:
    hours = int(value.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


@click.command("status")
@config_option
@registry_option
@click.option(
    "--history",
    "history_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="IACDRIFT_HISTORY",
    help="Run-history database (default: .iacdrift/history.sqlite under the project root).",
)
@format_option
@click.option(
    "--stale-lock-after",
    metavar="DURATION",
    default=_duration_text(StatusOptions.stale_lock_after),
    callback=duration_value,
    show_default=True,
    help="A state lock held longer than this is reported as a STALE LOCK.",
)
@click.option(
    "--contention-window",
    metavar="DURATION",
    default=_duration_text(StatusOptions.contention_window),
    callback=duration_value,
    show_default=True,
    help="List checks that found a state lock held within this window.",
)
def status_command(
    config_path: Path | None,
    registry_dir: Path | None,
    history_path: Path | None,
    output_format: str,
    stale_lock_after: timedelta,
    contention_window: timedelta,
) -> ExitCode:
    """Show, per registered stack, whether its last drift answer still holds.

    Reads the run history that `iacdrift run` and `iacdrift check` write: the
    last result, the last successful check (CLEAN or DRIFTED), whether a check is due, and failed
    checks in a row with the last reason. A stack whose last successful check is
    older than its schedule.frequency, or that was never checked, is STALE:
    unknown, never green. Terraform's state lock is read from the cloud (S3
    .tflock object or DynamoDB item) to show who holds it and for how long;
    iacdrift never unlocks it. If the cloud cannot be reached, that is one note
    and the history part is still shown.

    \b
    Example:
      iacdrift status --format json --stale-lock-after 1h

    \b
    Exit codes: 0 every stack has a current successful check and no state lock
    held, 1 anything else (STALE, ERROR, LOCKED, a lock held or unreadable, no
    stack registered).
    """
    report = project_status(
        config_path,
        registry_dir,
        StatusOptions(
            history_path=history_path,
            stale_lock_after=stale_lock_after,
            contention_window=contention_window,
        ),
    )
    if output_format == "json":
        click.echo(render_json(report), nl=False)
    else:
        render_table(report, wide_console())
    return report.exit_code()
