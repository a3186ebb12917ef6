"""`iacdrift sandbox up | status | down | drift`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from iacdrift.cli.common import config_option, registry_option
from iacdrift.errors import ExitCode
from iacdrift.flows import sandbox as flow
from iacdrift.registry import load_project
from iacdrift.sandbox.scenarios import SCENARIOS


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
    """


@sandbox_group.command("up")
@config_option
@registry_option
@click.option("--no-apply", is_flag=True, help="Start the cloud only; apply no stack.")
def up_command(config_path: Path | None, registry_dir: Path | None, no_apply: bool) -> int:
    """Start the sandbox (idempotent) and apply every registered stack once.

    Starts a moto server on a free 127.0.0.1 port (pid and port recorded in the
    sandbox directory, default .iacdrift/sandbox/), builds the provider mirror,
    creates the state bucket and lock table, then applies the registry's stacks
    in dependency order. Running it again reuses the server and applies only
    stacks not yet applied: injected drift is left in place.

    Exit codes: 0 up, 1 failed.
    """
    project = load_project(config_path, registry_dir)
    report = flow.up(project, apply=not no_apply, progress=_progress)
    verb = "started" if report.started else "already running"
    click.echo(f"sandbox {verb}: {report.state.endpoint_url} (pid {report.state.pid})")
    if report.applied:
        click.echo(f"applied: {', '.join(report.applied)}")
    click.echo(f"record: {report.state_dir / 'sandbox.json'}")
    return ExitCode.OK


@sandbox_group.command("status")
@config_option
@registry_option
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
def status_command(config_path: Path | None, registry_dir: Path | None, output_format: str) -> int:
    """Say whether the sandbox runs, where, and what was applied and injected.

    Exit codes: 0 running, 1 not running.
    """
    project = load_project(config_path, registry_dir)
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
    return ExitCode.OK if running else ExitCode.FAILED


@sandbox_group.command("down")
@config_option
@registry_option
def down_command(config_path: Path | None, registry_dir: Path | None) -> int:
    """Stop the moto server this sandbox started (no other process is touched).

    moto keeps everything in memory: the estate and its state are gone after this.
    """
    project = load_project(config_path, registry_dir)
    click.echo(flow.down(project))
    return ExitCode.OK


@sandbox_group.command("drift")
@click.argument("scenario", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the scenarios, one line each.")
@config_option
@registry_option
def drift_command(
    scenario: str | None, list_only: bool, config_path: Path | None, registry_dir: Path | None
) -> int:
    """Make a realistic out-of-band change in the sandbox (with boto3, as a human would).

    \b
    Example:
      iacdrift sandbox drift --list
      iacdrift sandbox drift sg-open-ssh
    """
    if list_only or scenario is None:
        width = max(len(name) for name in SCENARIOS)
        for name, item in sorted(SCENARIOS.items()):
            stack = item.stack or "(no stack)"
            click.echo(f"{name:<{width}}  {stack:<14} {item.summary}")
        return ExitCode.OK
    project = load_project(config_path, registry_dir)
    click.echo(f"{scenario}: {flow.drift(project, scenario)}")
    return ExitCode.OK
