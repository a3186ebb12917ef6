"""`iacdrift sandbox up | status | down | drift | token | reviewer`."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

from iacdrift.cli.common import config_option, registry_option
from iacdrift.errors import ExitCode
from iacdrift.flows import sandbox as flow
from iacdrift.flows.registry import open_project


def _progress(message: str) -> None:
    click.echo(f"... {message}", err=True)


@click.group("sandbox")
def sandbox_group() -> None:
    """A loopback AWS (a moto server) with the example estate applied on it.

    Needs the `sandbox` extra: pip install 'iacdrift[sandbox]'. The provider is
    the real hashicorp/aws 3.39.0, served from a local filesystem mirror.

    \b
    Example:
      iacdrift sandbox up && iacdrift sandbox drift sg-open-ssh
      iacdrift sandbox drift break-glass   # with CloudTrail records and an incident
    """


@sandbox_group.command("up")
@config_option
@registry_option
@click.option("--no-apply", is_flag=True, help="Start the cloud only; apply no stack.")
def up_command(config_path: Path | None, registry_dir: Path | None, no_apply: bool) -> ExitCode:
    """Start the sandbox (idempotent) and apply every registered stack once.

    Starts a moto server on a free 127.0.0.1 port (pid and port recorded in the
    sandbox directory, default .iacdrift/sandbox/), builds the provider mirror,
    creates the state bucket and lock table, then applies the registry's stacks
    in dependency order. Running it again reuses the server and applies only
    stacks not yet applied: injected drift is left in place.

    It also starts the stand-in OIDC token endpoint (GitHub Actions protocol, on
    loopback) and creates each stack's least-privilege role and the read-only
    inventory role, which `oidc: {source: sandbox}` in iacdrift.yaml uses, and
    two surgery reviewers (IAM users; see `iacdrift sandbox reviewer`).

    Exit codes: 0 up, 1 failed.
    """
    project = open_project(config_path, registry_dir)
    report = flow.up(project, apply=not no_apply, progress=_progress)
    verb = "started" if report.started else "already running"
    click.echo(f"sandbox {verb}: {report.state.endpoint_url} (pid {report.state.pid})")
    if report.token_endpoint is not None:
        endpoint = report.token_endpoint
        click.echo(f"token endpoint: {endpoint.request_url} (pid {endpoint.pid})")
    if report.roles:
        click.echo(f"roles: {', '.join(report.roles)}")
    if report.reviewers:
        names = ", ".join(r.user for r in report.reviewers)
        click.echo(f"surgery reviewers: {names} (iacdrift sandbox reviewer N)")
    if report.applied:
        click.echo(f"applied: {', '.join(report.applied)}")
    click.echo(f"record: {report.state_dir / 'sandbox.json'}")
    return ExitCode.OK


@sandbox_group.command("status")
@config_option
@registry_option
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
def status_command(
    config_path: Path | None, registry_dir: Path | None, output_format: str
) -> ExitCode:
    """Say whether the sandbox runs, where, and what was applied and injected.

    Exit codes: 0 running, 1 not running.
    """
    project = open_project(config_path, registry_dir)
    state, running = flow.status(project)
    if output_format == "json":
        body = {"running": running, "sandbox": state.model_dump(mode="json") if state else None}
        click.echo(json.dumps(body, indent=2, sort_keys=True))
    elif state is None:
        click.echo("sandbox: not started (run `iacdrift sandbox up`)")
    else:
        click.echo(f"sandbox: {'running' if running else 'NOT running'} at {state.endpoint_url}")
        click.echo(f"  pid {state.pid}, started {state.startedAt.isoformat()}")
        click.echo(f"  applied stacks: {', '.join(state.appliedStacks) or '-'}")
        click.echo(f"  injected drift: {', '.join(state.scenarios) or '-'}")
        record, answering = flow.token_endpoint_status(project)
        if record is None:
            click.echo("  token endpoint: not started")
        else:
            shown = "running" if answering else "NOT running"
            click.echo(f"  token endpoint: {shown} at {record.request_url} (pid {record.pid})")
        click.echo(f"  refused tokens: {', '.join(flow.token_refusals(project)) or '-'}")
    return ExitCode.OK if running else ExitCode.FAILED


@sandbox_group.command("down")
@config_option
@registry_option
def down_command(config_path: Path | None, registry_dir: Path | None) -> ExitCode:
    """Stop the moto server this sandbox started (no other process is touched).

    moto keeps everything in memory: the estate and its state are gone after this.
    """
    project = open_project(config_path, registry_dir)
    click.echo(flow.down(project))
    return ExitCode.OK


@sandbox_group.command("drift")
@click.argument("scenario", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and what they write.")
@click.option(
    "--actor",
    metavar="NAME|ARN",
    default=None,
    help="Who makes the change, as CloudTrail will show it: human, break-glass, "
    "controller, rotation, pipeline (the CI role of the stack), or an ARN "
    "(assumed-role session, role, user). Default: the scenario's.",
)
@config_option
@registry_option
def drift_command(
    scenario: str | None,
    list_only: bool,
    actor: str | None,
    config_path: Path | None,
    registry_dir: Path | None,
) -> ExitCode:
    """Make a realistic change in the sandbox, with the records that come with it.

    The change is made with boto3 (or, for remote-state-change, a real apply of
    the upstream stack). moto has no CloudTrail, so the records the real service
    would deliver for the change are written too: gzipped, to the bucket
    iacdrift-sandbox-cloudtrail-logs, under the usual
    AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/ prefix. Scenarios made
    under a change record (break-glass, approved-change) also file it as
    changes/<id>.yaml beside iacdrift.yaml.

    \b
    Example:
      iacdrift sandbox drift --list
      iacdrift sandbox drift sg-open-ssh
      iacdrift sandbox drift sg-open-ssh --actor break-glass
      iacdrift sandbox drift break-glass

    Exit codes: 0 done, 1 failed (unknown scenario or actor, sandbox not up).
    """
    if list_only or scenario is None:
        listed = flow.scenario_list()
        width = max(len(item.name) for item in listed)
        for item in listed:
            stack = item.stack or "(no stack)"
            click.echo(f"{item.name:<{width}}  {stack:<14} {item.summary}")
            who = item.actor
            if who == "pipeline":
                who = f"pipeline (the {item.pipeline_stack} CI role)"
            click.echo(f"{'':<{width}}  {'':<14} actor {who}; writes {item.writes}")
        return ExitCode.OK
    project = open_project(config_path, registry_dir)
    report = flow.drift(project, scenario, actor=actor)
    click.echo(f"{scenario}: {report.message}")
    click.echo(f"  actor: {report.actor}")
    if report.cloudtrail:
        click.echo(f"  cloudtrail: {report.cloudtrail}")
    for path in report.change_records:
        click.echo(f"  change record: {path}")
    return ExitCode.OK


@sandbox_group.group("token")
def token_group() -> None:
    """The sandbox's stand-in OIDC token endpoint: make it refuse or allow a stack.

    moto's STS accepts any token for any role, so a refused assumption is
    simulated here: the endpoint answers HTTP 403 for a refused stack, and that
    stack's check is an ERROR naming the cause while the others proceed.

    \b
    Example:
      iacdrift sandbox token refuse prod-payments
      iacdrift sandbox token list
      iacdrift sandbox token allow prod-payments
    """


@token_group.command("refuse")
@click.argument("stack")
@config_option
@registry_option
def token_refuse_command(
    stack: str, config_path: Path | None, registry_dir: Path | None
) -> ExitCode:
    """Refuse tokens for STACK (a registered stack, or `inventory`) from now on.

    Exit codes: 0 done, 1 unknown stack.
    """
    project = open_project(config_path, registry_dir)
    refused = flow.refuse_token(project, stack)
    click.echo(f"refused: {', '.join(refused)}")
    return ExitCode.OK


@token_group.command("allow")
@click.argument("stack")
@config_option
@registry_option
def token_allow_command(
    stack: str, config_path: Path | None, registry_dir: Path | None
) -> ExitCode:
    """Lift the refusal of STACK (allowing one not refused is fine).

    Exit codes: 0 done, 1 failed.
    """
    project = open_project(config_path, registry_dir)
    refused = flow.allow_token(project, stack)
    click.echo(f"refused: {', '.join(refused) or '-'}")
    return ExitCode.OK


@token_group.command("list")
@config_option
@registry_option
def token_list_command(config_path: Path | None, registry_dir: Path | None) -> ExitCode:
    """List the refused stacks, one per line.

    Exit codes: 0 always.
    """
    project = open_project(config_path, registry_dir)
    for name in flow.token_refusals(project):
        click.echo(name)
    return ExitCode.OK


@sandbox_group.command("reviewer")
@click.argument("number", metavar="N", type=click.IntRange(1, 2))
@config_option
@registry_option
def reviewer_command(number: int, config_path: Path | None, registry_dir: Path | None) -> ExitCode:
    """Print shell lines that make you surgery reviewer N (1 or 2) of the sandbox.

    `sandbox up` creates two IAM users, surgery-reviewer-1 and surgery-reviewer-2,
    allowed to read and write surgery plans and approvals under iacdrift/surgery/
    of the state bucket and nothing else (no stack's state). This prints the
    access key of one as `export AWS_ACCESS_KEY_ID=...` and
    `export AWS_SECRET_ACCESS_KEY=...` lines (and unsets AWS_SESSION_TOKEN), so
    the commands you run next act as that reviewer: approve a plan someone else
    made, as sts:GetCallerIdentity will say. The user's ARN goes to stderr. The
    keys are the sandbox's own (in .iacdrift/sandbox/reviewers.json, mode 0600).

    \b
    Example:
      eval "$(iacdrift sandbox reviewer 1)"
      iacdrift surgery approve sp-0123456789abcdef --comment "checked the moves"

    Exit codes: 0 printed, 1 sandbox not up (or N not 1 or 2).
    """
    project = open_project(config_path, registry_dir)
    found = flow.reviewer(project, number)
    click.echo(f"# surgery reviewer {number}: {found.arn}", err=True)
    click.echo(f"export AWS_ACCESS_KEY_ID={shlex.quote(found.accessKeyId)}")
    click.echo(f"export AWS_SECRET_ACCESS_KEY={shlex.quote(found.secretAccessKey)}")
    click.echo("unset AWS_SESSION_TOKEN")
    return ExitCode.OK
