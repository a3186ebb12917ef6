"""`iacdrift surgery`: state migrations planned on a copy, for review."""

from __future__ import annotations

from pathlib import Path

import click

from iacdrift.cli.common import config_option, registry_option, tf_log_option
from iacdrift.cli.plan_cmd import tf_binary_option, tofu_binary_option
from iacdrift.errors import ExitCode
from iacdrift.flows.surgery import SurgeryPlanRequest, plan_surgery
from iacdrift.flows.workbench import EngineOptions
from iacdrift.report.common import render_json
from iacdrift.report.surgery import render_surgery_markdown

GROUP_HELP = """\
State surgery under review: mv, rm, import, replace-provider and force-unlock of a
registered stack's state, planned on a private copy first.

\b
  surgery plan FILE    run the migration on a copy of the state, plan against it,
                       and bind the result (never touches the backend)
Approval by someone else and apply under lock with a snapshot come next.
"""


@click.group("surgery", help=GROUP_HELP)
def surgery_group() -> None:
    pass


@surgery_group.command("plan")
@click.argument("migration_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write <stack>.<planId>.surgery.json and .md here (never a stack directory; "
    "the edited state itself is never written anywhere).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
    help="What to print: json is a SurgeryPlan (schemas/surgery-plan.schema.json).",
)
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@tf_log_option
def plan_command(
    migration_path: Path,
    out_dir: Path | None,
    output_format: str,
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    tf_log: str | None,
) -> ExitCode:
    """Plan a state migration (FILE: a surgery/*.yaml StateMigration) on a copy.

    Reads the stack's state (lineage, serial, S3 version id) with the stack's role,
    runs each operation with real Terraform against a private copy of it (a local
    backend in a scratch copy of the stack; the backend is never touched), plans
    the stack's configuration against the edited copy, and compares the result
    with the migration's expectedPlan. The plan is bound by its id to the
    migration, the state, the stack's files and the Terraform and provider
    versions; the author is the caller identity of the planning credentials. A
    plan whose result does not match its expectation cannot be approved. Where
    configuration can say an operation (moved/removed/import blocks), the plan
    says so and gives the blocks: prefer them.

    \b
    Examples:
      iacdrift surgery plan surgery/example-rename.yaml
      iacdrift surgery plan surgery/rm-ledger.yaml --out surgery-plans/ --format json

    \b
    Exit codes: 0 planned and approvable, 1 not approvable (the result does not
    match: the differences are printed) or bad input.
    """
    outcome = plan_surgery(
        SurgeryPlanRequest(
            migration_path=migration_path,
            out_dir=out_dir,
            config_path=config_path,
            registry_dir=registry_dir,
            engine=EngineOptions(tf_binary, tofu_binary, tf_log),
        )
    )
    plan = outcome.plan
    for path in outcome.written:
        click.echo(f"wrote {path}", err=True)
    if output_format == "json":
        click.echo(render_json(plan), nl=False)
    else:
        click.echo(render_surgery_markdown(plan), nl=False)
    if not plan.approvable:
        click.echo(
            f"error: {plan.planId}: the result does not match the expectation: "
            + "; ".join(plan.expectation.differences),
            err=True,
        )
        return ExitCode.FAILED
    return ExitCode.OK
