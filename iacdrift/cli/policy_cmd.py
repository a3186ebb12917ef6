"""``iacdrift policy lint`` and ``iacdrift policy version``."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import click

from iacdrift.cli.common import config_option, format_option
from iacdrift.core.policy_lint import has_errors, lint
from iacdrift.errors import ExitCode
from iacdrift.loaders.policy import default_policy_dir, load_policies
from iacdrift.loaders.registry import display_path

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


def _policy_dir(config_path: Path | None, policies_dir: Path | None) -> Path:
    if policies_dir is not None:
        return policies_dir
    root = config_path.parent if config_path is not None else Path()
    return default_policy_dir(root)


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
) -> int:
    directory = _policy_dir(config_path, policies_dir)
    # Invalid files propagate as one RegistryError; the handler prints each problem.
    policies = load_policies(directory)
    day = today.date() if today is not None else date.today()
    findings = lint(policies, day)
    code = ExitCode.FAILED if has_errors(findings) else ExitCode.OK
    if output_format == "json":
        report = {
            "policyVersion": policies.version,
            "documents": len(policies.sources),
            "today": day.isoformat(),
            "findings": [finding.model_dump(mode="json") for finding in findings],
        }
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        return code
    for finding in findings:
        click.echo(f"{finding.severity.value}: {finding.file}: {finding.ruleId}: {finding.message}")
    errors = sum(1 for finding in findings if finding.severity.value == "error")
    warnings = len(findings) - errors
    count = len(policies.sources)
    click.echo(
        f"{'ok' if code is ExitCode.OK else 'failed'}: {count} "
        f"{'document' if count == 1 else 'documents'} in {display_path(directory)}/, "
        f"{errors} {'error' if errors == 1 else 'errors'}, "
        f"{warnings} {'warning' if warnings == 1 else 'warnings'}; "
        f"policy version {policies.version}"
    )
    return code


@policy_group.command("version", help=VERSION_HELP)
@config_option
@policies_option
def version_command(config_path: Path | None, policies_dir: Path | None) -> int:
    policies = load_policies(_policy_dir(config_path, policies_dir))
    click.echo(policies.version)
    return ExitCode.OK
