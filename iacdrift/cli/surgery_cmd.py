"""`iacdrift surgery`: state migrations planned on a copy, for review."""

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
from iacdrift.errors import ExitCode
from iacdrift.flows.surgery import SurgeryPlanRequest, migration_tf, plan_surgery
from iacdrift.flows.surgery_found import SurgeryRequest
from iacdrift.flows.surgery_review import apply, approve
from iacdrift.flows.surgery_status import status
from iacdrift.flows.workbench import EngineOptions
from iacdrift.report.common import render_json
from iacdrift.report.surgery import render_surgery_markdown

GROUP_HELP = """\
State surgery under review: mv, rm, import, replace-provider and force-unlock of a
registered stack's state, planned on a private copy first.

\b
  surgery plan FILE        run the migration on a copy of the state, plan against
                           it, bind the result, store it for review
  surgery approve PLAN_ID  approve as the caller identity (never the author)
  surgery apply PLAN_ID    with enough approvals: lease, lock, snapshot, push,
                           verify with a fresh plan, roll back on a mismatch;
                           after a crash, the same command resumes;
                           a dry run without --yes
  surgery status PLAN_ID   where a surgery stands, and the one command that
                           finishes or rolls it back
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
    help="Write <stack>.<planId>.surgery.json and .md here, and .migration.tf (the "
    "moved/removed/import blocks to commit instead) when configuration can say it "
    "(never a stack directory; the edited state itself is never written anywhere).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["markdown", "json", "hcl"]),
    default="markdown",
    show_default=True,
    help="What to print: json is a SurgeryPlan (schemas/surgery-plan.schema.json); hcl "
    "the moved/removed/import blocks that say the migration in configuration (exit 1 "
    "when an operation cannot be said so).",
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
    elif output_format == "hcl":
        if plan.configurationAlternative is None:
            why = "; ".join(
                f"{r.operation.op}: {r.configuration.why}"
                for r in plan.operations
                if not r.configuration.expressible
            )
            click.echo(f"error: {plan.planId}: configuration cannot say it: {why}", err=True)
            return ExitCode.FAILED
        click.echo(migration_tf(plan), nl=False)
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


@surgery_group.command("approve")
@click.argument("plan_id", metavar="PLAN_ID")
@click.option("--comment", default=None, help="Why you approve (kept with the approval).")
@config_option
@registry_option
def approve_command(
    plan_id: str, comment: str | None, config_path: Path | None, registry_dir: Path | None
) -> ExitCode:
    """Approve a surgery plan as yourself.

    The reviewer is the caller identity (sts:GetCallerIdentity) of the credentials in
    the environment (AWS_ACCESS_KEY_ID...; else iacdrift's own), never a flag; the
    plan's author cannot approve it, a plan whose result did not match its
    expectation cannot be approved, and each reviewer approves once (the approval is
    written with a conditional put beside the plan, bound to its binding). How many
    distinct approvals apply needs: surgery.approvals in iacdrift.yaml by risk tier
    (default critical 2, high 2, medium 1, low 1). In the sandbox, act as a reviewer
    with `eval $(iacdrift sandbox reviewer 1)`.

    \b
    Exit codes: 0 approved, 1 refused (self-approval, already approved, not
    approvable, unknown plan).
    """
    approval = approve(
        SurgeryRequest(
            plan_id=plan_id, comment=comment, config_path=config_path, registry_dir=registry_dir
        )
    )
    click.echo(f"approved {approval.planId} ({approval.stack}) as {approval.reviewer}")
    return ExitCode.OK


@surgery_group.command("apply")
@click.argument("plan_id", metavar="PLAN_ID")
@click.option(
    "--yes",
    is_flag=True,
    help="Carry the surgery out. Without it: a dry run that checks approvals, staleness "
    "and locks and says what --yes would do.",
)
@text_or_json_option("SurgeryApplyReport", "surgery-apply-report.schema.json")
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@tf_log_option
def apply_command(
    plan_id: str,
    yes: bool,
    output_format: str,
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    tf_log: str | None,
) -> ExitCode:
    """Carry out an approved surgery plan.

    Refused, changing nothing, unless enough distinct reviewers other than the author
    approved this plan's binding, and the state's lineage, serial and version and the
    stack's files are still those planned. A force-unlock releases only the lock the
    plan names, only while it is that same lock and older than
    surgery.staleLockAfterMinutes (default 120). Then, under the stack's orchestrator
    lease (operation surgery): the current state version is the snapshot (a copy is
    kept beside the plan); the state planned on the copy is pushed (terraform state
    push, Terraform's lock, never -force); a fresh plan must match the expectation,
    else the snapshot is pushed back and the report says so. Every step is recorded
    beside the plan.

    After a crash (kill -9, lost runner) run the same command again: it sees where
    the surgery stands (see `surgery status`), kills Terraform processes the dead run
    left, takes over its lease on this host, and verifies a pushed state (rolling
    back on a mismatch) or starts from the beginning when nothing was pushed.

    \b
    Examples:
      iacdrift surgery apply sp-0123456789abcdef          # dry run: checks only
      iacdrift surgery apply sp-0123456789abcdef --yes

    \b
    Exit codes: 0 applied and verified (or already), 2 dry run that would go
    ahead, 1 refused, failed or rolled back.
    """
    report = apply(
        SurgeryRequest(
            plan_id=plan_id,
            yes=yes,
            config_path=config_path,
            registry_dir=registry_dir,
            engine=EngineOptions(tf_binary, tofu_binary, tf_log),
        )
    )
    if output_format == "json":
        click.echo(render_json(report), nl=False)
    else:
        click.echo(f"surgery {report.planId} on {report.stack}: {report.result}")
        if report.approvals:
            click.echo(f"  approved by: {', '.join(report.approvals)}")
        for step in report.steps:
            click.echo(f"  [{step.step}] {step.detail}")
    if report.result == "dry-run":
        click.echo(str(report.reason), err=True)
    elif report.reason and report.exitCode:
        click.echo(f"error: {report.reason}", err=True)
    return ExitCode(report.exitCode)


@surgery_group.command("status")
@click.argument("plan_id", metavar="PLAN_ID")
@text_or_json_option("SurgeryStatus", "surgery-status.schema.json")
@config_option
@registry_option
def status_command(
    plan_id: str, output_format: str, config_path: Path | None, registry_dir: Path | None
) -> ExitCode:
    """Where a surgery stands, and the one command that finishes or rolls it back.

    Reads the steps apply recorded beside the plan, the snapshot it kept and the
    stack's state object now, and says which state the stack is in: not-started (the
    state is the one planned against), pushed-unverified (a crash after the push:
    `surgery apply` verifies it and rolls back on a mismatch), applied, rolled-back,
    or changed-elsewhere. Also shows Terraform's lock on the state, the stack's live
    orchestrator lease and Terraform processes a dead iacdrift left running.
    Changes nothing.

    \b
    Exit codes: 0 nothing left to do (applied or rolled back), 1 a command remains
    (it is printed) or a person must look (the state changed elsewhere, no state).
    """
    found = status(
        SurgeryRequest(plan_id=plan_id, config_path=config_path, registry_dir=registry_dir)
    )
    if output_format == "json":
        click.echo(render_json(found), nl=False)
    else:
        now = found.stateNow
        click.echo(f"surgery {found.planId} on {found.stack}: {found.condition}")
        if now is not None:
            click.echo(
                f"  state now: serial {now.serial}, version {now.versionId} "
                f"(planned against serial {found.planned.serial}, version "
                f"{found.planned.versionId})"
            )
        for step in found.steps:
            click.echo(f"  [{step.step}] {step.at:%Y-%m-%dT%H:%M:%SZ} {step.detail}")
        if found.lock is not None:
            lock = found.lock
            click.echo(
                f"  Terraform lock held: {lock.id} ({lock.operation} by {lock.who} since "
                f"{lock.created})"
            )
        if found.lease:
            click.echo(f"  orchestrator lease held by {found.lease}")
        for leftover in found.leftovers:
            click.echo(f"  left running by a dead iacdrift: {leftover}")
        click.echo(f"next: {found.command or 'nothing to run'}: {found.detail}")
    return ExitCode(found.exitCode)
