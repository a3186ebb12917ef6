"""`iacdrift repair plan`: what a repair would do, per stack, without doing it."""

from __future__ import annotations

from pathlib import Path

import click

from iacdrift.cli.common import (
    config_option,
    registry_option,
    text_or_json_option,
    tf_log_option,
)
from iacdrift.cli.plan_cmd import tf_binary_option, tofu_binary_option
from iacdrift.cli.policy_cmd import policies_option
from iacdrift.errors import ExitCode
from iacdrift.flows.repair import NO_RECEIVER, RepairPlanRequest, plan_repair
from iacdrift.flows.repair_apply import RepairApplyRequest, apply_repair
from iacdrift.flows.workbench import EngineOptions
from iacdrift.report.common import render_json
from iacdrift.report.repair import (
    render_apply_text,
    render_estate_order,
    render_markdown,
    render_plans_json,
    render_unassigned,
)

GROUP_HELP = """\
Repair drift: plan the steps that make Git, state and cloud agree again.

\b
Today: `repair plan` (read-only). `repair apply` and `run --auto-heal` come next.
"""


@click.group("repair", help=GROUP_HELP)
def repair_group() -> None:
    pass


@repair_group.command("plan")
@click.argument("stacks", nargs=-1)
@click.option("--all", "select_all", is_flag=True, help="Plan every registered stack.")
@click.option(
    "--from",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="REPORT.json",
    help="Plan from a saved `run`/`check --format json` report instead of a fresh check.",
)
@click.option(
    "--into",
    "into",
    metavar="STACK",
    default=None,
    help="The stack that receives unmanaged objects (an INVESTIGATE becomes an import "
    "block there); it must be planned too. Without it they are listed apart, unplanned.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write <stack>.repair.json, <stack>.repair.md and, when there are blocks, "
    "<stack>.iacdrift_repair.tf here (never a stack directory).",
)
@click.option(
    "--graph",
    "graph_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the step graph of every plan as Graphviz DOT to this file.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
    help="What to print without --out; json is an array of plans, each valid against "
    "schemas/repair-plan.schema.json.",
)
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@tf_log_option
@policies_option
def plan_command(
    stacks: tuple[str, ...],
    select_all: bool,
    report_path: Path | None,
    into: str | None,
    out_dir: Path | None,
    graph_file: Path | None,
    output_format: str,
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    tf_log: str | None,
    policies_dir: Path | None,
) -> ExitCode:
    """Plan the repair of each stack's findings; change nothing.

    From a fresh check of STACK... (or --all), or from a saved report (--from),
    each finding's recommended action becomes a step: moved/removed/import
    blocks, targeted reverts, refresh-only applies, the stack's apply, code
    updates, draft ignore rules, or a person's decision (incidents). Steps are
    ordered by phase, by the state's resource dependencies and, across stacks,
    by terraform_remote_state reads; each plan is bound to its findings, the
    stack's files and the state's lineage and serial. Nothing is applied,
    imported or written into a stack directory.

    \b
    Examples:
      iacdrift repair plan prod-network
      iacdrift repair plan --all --into prod-app --out repair/ --graph repair/plan.dot
      iacdrift repair plan --all --from out/run.json --format json

    \b
    Exit codes: 0 nothing to repair, 2 steps to do, 1 could not plan (a stack
    not checked, bad input, a dependency cycle).
    """
    outcome = plan_repair(
        RepairPlanRequest(
            stacks=stacks,
            select_all=select_all,
            report_path=report_path,
            into=into,
            out_dir=out_dir,
            graph_file=graph_file,
            config_path=config_path,
            registry_dir=registry_dir,
            engine=EngineOptions(tf_binary, tofu_binary, tf_log),
            policies_dir=policies_dir,
        )
    )
    for warning in outcome.warnings:
        click.echo(f"warning: {warning}", err=True)
    for item in outcome.unplanned:
        click.echo(f"error: {item.stack}: not planned: {item.reason}", err=True)
    if out_dir is not None or graph_file is not None:
        for path in outcome.written:
            click.echo(f"wrote {path}", err=True)
    if out_dir is None:
        if output_format == "json":
            click.echo(render_plans_json(outcome.plans), nl=False)
        else:
            parts = [render_markdown(plan) for plan in outcome.plans]
            if outcome.unassigned:
                parts.append(render_unassigned(outcome.unassigned, NO_RECEIVER))
            if len(outcome.plans) > 1:
                parts.append(render_estate_order(outcome.order))
            click.echo("\n".join(parts), nl=False)
    else:
        steps = sum(len(plan.steps) for plan in outcome.plans)
        click.echo(
            f"{len(outcome.plans)} plans, {steps} steps, "
            f"{len(outcome.unassigned)} unmanaged objects with no receiving stack"
        )
    return outcome.exit_code()


@repair_group.command("apply")
@click.argument("plan_path", metavar="PLAN", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--yes",
    is_flag=True,
    help="Carry the plan out. Without it: a dry run that plans each step and shows what "
    "it would change and what would be refused.",
)
@click.option(
    "--write-code",
    is_flag=True,
    help="Copy the plan's code (blocks, generated configuration, code patches) into the "
    "stack directory before applying, as a PR would add it. Without it, steps that need "
    "new code are skipped as 'needs a code change (PR)'.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write <stack>.repair-apply.json and, per step, <stack>.<step>.plan.json: the "
    "step's saved plan as JSON with every sensitive value replaced by its fingerprint "
    "(the plan file itself never leaves the private scratch directory).",
)
@click.option(
    "--max-objects",
    type=click.IntRange(min=1),
    default=None,
    help="Refuse when more objects than this would change (default: the AutoHealPolicy's "
    "maxObjectsPerReconcile for the stack, else 25).",
)
@text_or_json_option("RepairApplyReport", "repair-apply-report.schema.json")
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@tf_log_option
@policies_option
def apply_command(
    plan_path: Path,
    yes: bool,
    write_code: bool,
    out_dir: Path | None,
    max_objects: int | None,
    output_format: str,
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    tf_log: str | None,
    policies_dir: Path | None,
) -> ExitCode:
    """Carry out a reviewed repair plan (PLAN: a <stack>.repair.json of `repair plan --out`).

    Refused when the plan is stale (the stack's files, or the state's lineage or
    serial, changed since planning) or edited. Each step is planned again in a
    private scratch copy, targeted at its own addresses, and refused if it would
    touch any other; the saved plan file never leaves that copy. With --yes, under
    the stack's orchestrator lease (operation repair) and Terraform's own lock
    (never force-unlocked): the state's version is recorded, the steps run batch by
    batch and stop at the first failure, each writes a change record (type apply)
    with its outcome, and a fresh check verifies the repair. When verification
    fails, state-only steps (moves, removals, imports, refreshes) are rolled back to
    the recorded version and the report says what could not be undone.

    \b
    Examples:
      iacdrift repair plan prod-network --out repair/
      iacdrift repair apply repair/prod-network.repair.json          # dry run
      iacdrift repair apply repair/prod-network.repair.json --yes
      iacdrift repair apply repair/staging-app.repair.json --yes --write-code

    \b
    Exit codes: 0 repaired and verified (or nothing to do), 2 dry run with steps
    to carry out, 1 refused or failed (the reason is printed).
    """
    report = apply_repair(
        RepairApplyRequest(
            plan_path=plan_path,
            yes=yes,
            write_code=write_code,
            max_objects=max_objects,
            out_dir=out_dir,
            config_path=config_path,
            registry_dir=registry_dir,
            engine=EngineOptions(tf_binary, tofu_binary, tf_log),
            policies_dir=policies_dir,
        )
    )
    if output_format == "json":
        click.echo(render_json(report), nl=False)
    else:
        click.echo(render_apply_text(report), nl=False)
    if report.reason and report.exitCode == ExitCode.FAILED:
        click.echo(f"error: {report.reason}", err=True)
    return ExitCode(report.exitCode)
