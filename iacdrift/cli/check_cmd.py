"""`iacdrift check STACK...`."""

from __future__ import annotations

from pathlib import Path

import click

from iacdrift.cli.common import config_option, registry_option, wide_console
from iacdrift.cli.plan_cmd import tf_binary_option, tofu_binary_option
from iacdrift.cli.policy_cmd import policies_option
from iacdrift.core.routing import findings_of
from iacdrift.flows.check import CheckOptions, check, classifier_for, utc_now
from iacdrift.flows.run import history_path
from iacdrift.flows.workbench import EngineOptions, Workbench
from iacdrift.loaders.registry import load_project
from iacdrift.report.check import render_json, render_markdown, render_table
from iacdrift.store.history import HistoryStore


@click.command("check")
@click.argument("stacks", nargs=-1, required=True)
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
    help="Output format; json validates against schemas/check-report.schema.json.",
)
@click.option(
    "--separate-refresh-only",
    is_flag=True,
    help="Also run a true -refresh-only plan (a second refresh; the normal plan's "
    "resource_drift already gives the same recorded-vs-actual view).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write check.json and check.md into this directory.",
)
@policies_option
@click.option(
    "--history",
    "history_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the findings here for `iacdrift explain` (default .iacdrift/history.sqlite).",
)
def check_command(
    stacks: tuple[str, ...],
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    output_format: str,
    separate_refresh_only: bool,
    out_dir: Path | None,
    policies_dir: Path | None,
    history_file: Path | None,
) -> int:
    """Decide what drifted in a stack: desired (HCL) vs recorded (state) vs actual (cloud).

    STACK is a registry name or a stack directory. One init and one normal plan
    with refresh per stack; its resource_drift and resource_changes, the state
    and a live inventory give one finding per diverged resource, naming the
    relationship that broke, its class (policies/ joined with the audit trail and
    change records), risk and recommended action (see `iacdrift explain`). Live
    resources of the stack's types that no registered state records are
    reported beside it as unmanaged. Sensitive values are never shown: they
    become fingerprints.

    \b
    Example:
      iacdrift check prod-network --format json

    \b
    Exit codes: 0 clean, 2 drift found (an unmanaged resource counts),
    1 could not check (ERROR or LOCKED: an unknown is never 0).
    """
    project = load_project(config_path, registry_dir)
    bench = Workbench.open(project, EngineOptions(tf_binary, tofu_binary))
    refs = [bench.stack(name) for name in stacks]
    now = utc_now()
    classifier = classifier_for(bench, now, policies_dir=policies_dir)
    options = CheckOptions(separate_refresh_only=separate_refresh_only, classifier=classifier)
    report = check(bench, refs, options)
    with HistoryStore(history_path(bench, history_file)) as history:
        history.record_findings(None, findings_of(report))
    if output_format == "json":
        click.echo(render_json(report), nl=False)
    elif output_format == "markdown":
        click.echo(render_markdown(report), nl=False)
    else:
        render_table(report, wide_console())
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "check.json").write_text(render_json(report), encoding="utf-8")
        (out_dir / "check.md").write_text(render_markdown(report), encoding="utf-8")
    return report.exit_code()
