"""`iacdrift plan STACK`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from iacdrift.cli.common import config_option, registry_option, tf_log_option
from iacdrift.errors import ExitCode
from iacdrift.flows.plan import plan_stack
from iacdrift.flows.registry import open_project
from iacdrift.flows.workbench import EngineOptions, Workbench
from iacdrift.models.outcomes import PlanOutcome

tf_binary_option = click.option(
    "--tf-binary",
    envvar="IACDRIFT_TF_BINARY",
    default=None,
    help="Use this terraform (or tofu) executable instead of the embedded Terraform "
    "[env: IACDRIFT_TF_BINARY].",
)
tofu_binary_option = click.option(
    "--tofu-binary",
    envvar="IACDRIFT_TOFU_BINARY",
    default=None,
    help="The tofu executable for opentofu-stack entries (default: PATH, then beside "
    "iacdrift's Python) [env: IACDRIFT_TOFU_BINARY].",
)


@click.command("plan")
@click.argument("stack")
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@tf_log_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def plan_command(
    stack: str,
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    tf_log: str | None,
    output_format: str,
) -> ExitCode:
    """Init and plan one stack with its own credentials, in a scratch copy.

    STACK is a registry name (see `iacdrift registry list`) or a stack directory.
    Prints NO_CHANGES, CHANGES or ERROR and the addresses Terraform would change.
    A debugging aid: `iacdrift check` gives the drift decision.

    \b
    Examples:
      iacdrift plan prod-network
      iacdrift plan prod-network --tf-log TRACE   # and keep Terraform's own log

    \b
    Exit codes: 0 NO_CHANGES, 2 CHANGES, 1 ERROR (could not plan).
    """
    project = open_project(config_path, registry_dir)
    bench = Workbench.open(project, EngineOptions(tf_binary, tofu_binary, tf_log))
    report = plan_stack(bench, stack)
    log = bench.terraform_log()
    if log is not None:
        click.echo(
            f"Terraform's log ({log.level}; it can hold secret values): "
            f"{log.directory(report.stack)}",
            err=True,
        )
    if output_format == "json":
        click.echo(
            json.dumps(
                {
                    "stack": report.stack,
                    "outcome": report.outcome.value,
                    "engine": report.engine,
                    "flavor": report.version.flavor.value,
                    "version": report.version.version,
                    "changes": [
                        {"address": c.address, "actions": list(c.actions)} for c in report.changes
                    ],
                    "resource_drift": [
                        {"address": c.address, "actions": list(c.actions)} for c in report.drifted
                    ],
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        click.echo(
            f"{report.stack}: {report.outcome.value} ({report.version.flavor.value} "
            f"{report.version.version}, {report.engine} engine, plan {report.seconds:.1f}s)"
        )
        for change in report.drifted:
            click.echo(
                f"  changed outside Terraform: {change.address} ({'/'.join(change.actions)})"
            )
        for change in report.changes:
            click.echo(f"  planned: {change.address} ({'/'.join(change.actions)})")
    return ExitCode.DRIFT if report.outcome is PlanOutcome.CHANGES else ExitCode.OK
