"""`iacdrift check STACK...`."""

from __future__ import annotations

from pathlib import Path

import click

from iacdrift.cli.common import (
    config_option,
    registry_option,
    report_options,
    tf_log_option,
    wide_console,
)
from iacdrift.cli.plan_cmd import tf_binary_option, tofu_binary_option
from iacdrift.cli.policy_cmd import policies_option
from iacdrift.errors import ExitCode
from iacdrift.flows.check import CheckRequest, execute_check
from iacdrift.flows.ci import CI_FORMATS, ci_output
from iacdrift.flows.registry import open_project
from iacdrift.flows.workbench import EngineOptions
from iacdrift.report.check import render_markdown, render_table
from iacdrift.report.common import render_json


@click.command("check")
@click.argument("stacks", nargs=-1, required=True)
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@tf_log_option
@report_options("check-report.schema.json", "check.json and check.md")
@click.option(
    "--separate-refresh-only",
    is_flag=True,
    help="Also run a true -refresh-only plan (a second refresh; the normal plan's "
    "resource_drift already gives the same recorded-vs-actual view).",
)
@policies_option
def check_command(
    stacks: tuple[str, ...],
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    tf_log: str | None,
    output_format: str,
    out_dir: Path | None,
    history_file: Path | None,
    separate_refresh_only: bool,
    policies_dir: Path | None,
) -> ExitCode:
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
    Examples:
      iacdrift check prod-network --format json
      iacdrift check prod-network --tf-log DEBUG   # keep Terraform's own log

    \b
    Exit codes: 0 clean, 2 drift found (an unmanaged resource counts),
    1 could not check (ERROR or LOCKED: an unknown is never 0).
    """
    outcome = execute_check(
        CheckRequest(
            stacks=stacks,
            config_path=config_path,
            registry_dir=registry_dir,
            engine=EngineOptions(tf_binary, tofu_binary, tf_log),
            separate_refresh_only=separate_refresh_only,
            policies_dir=policies_dir,
            history_file=history_file,
            out_dir=out_dir,
        )
    )
    report = outcome.report
    if output_format in CI_FORMATS:
        project = open_project(config_path, registry_dir)
        click.echo(ci_output(report, output_format, project), nl=False)
    elif output_format == "json":
        click.echo(render_json(report), nl=False)
    elif output_format == "markdown":
        click.echo(render_markdown(report), nl=False)
    else:
        render_table(report, wide_console())
    return report.exit_code()
