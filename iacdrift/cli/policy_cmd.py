"""``iacdrift policy lint`` and ``iacdrift policy version``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from iacdrift.cli.common import config_option, format_option
from iacdrift.errors import ExitCode
from iacdrift.flows.policy import lint_policies, read_policies
from iacdrift.report.policy import lint_json, lint_lines

GROUP_HELP = """\
Check and inspect the policy files: field ownership, ignore rules, auto-heal
bounds, guardrails, the decision table and alert routes, as YAML documents in
policies/ beside iacdrift.yaml (see schemas/ for each kind).

\b
Example:
  iacdrift policy lint
  iacdrift policy version
"""

LINT_HELP = """\
Validate every policy file, then review the rules.

Errors: an ignore rule (or a controller/runtime-owned field) that would hide
identity, image, network, privilege, persistence or command-execution fields;
an ignore rule without scope (address, stack, environment or tags) or without
expiry; auto-heal allowed for IAM, network, secrets or database drift.
Warnings: expired ignore rules (no longer applied), expiries more than a year
ahead, rules shadowed by another, decision rows and routes that never match.
Each finding is one line: severity, file, rule id, message.

\b
Example:
  iacdrift policy lint
  iacdrift policy lint --policies ops/policies --today 2026-07-01 --format json

\b
Exit codes: 0 no errors (warnings allowed), 1 errors or invalid files.
"""

VERSION_HELP = """\
Print the policy version: sha256:<hex> over the canonical JSON of every policy
document, by file name. Every finding records it; comments and formatting do
not change it.

\b
Example:
  iacdrift policy version

\b
Exit codes: 0 printed, 1 invalid policy files.
"""

policies_option = click.option(
    "--policies",
    "policies_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="IACDRIFT_POLICIES",
    help="Policy directory (default: policies/ beside the settings file).",
)


@click.group("policy", help=GROUP_HELP)
def policy_group() -> None:
    pass


@policy_group.command("lint", help=LINT_HELP)
@config_option
@policies_option
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Judge expiries as of this day, YYYY-MM-DD (default: today).",
)
@format_option
def lint_command(
    config_path: Path | None,
    policies_dir: Path | None,
    today: datetime | None,
    output_format: str,
) -> ExitCode:
    # Invalid files propagate as one RegistryError; the handler prints each problem.
    result = lint_policies(config_path, policies_dir, today.date() if today is not None else None)
    if output_format == "json":
        click.echo(lint_json(result.policies, result.day, result.findings), nl=False)
    else:
        for line in lint_lines(result.policies, result.directory, result.findings):
            click.echo(line)
    return result.exit_code()


@policy_group.command("version", help=VERSION_HELP)
@config_option
@policies_option
def version_command(config_path: Path | None, policies_dir: Path | None) -> ExitCode:
    click.echo(read_policies(config_path, policies_dir).version)
    return ExitCode.OK
