"""`iacdrift provider-diff STACK... | --all --provider SOURCE --to VERSION`."""

from __future__ import annotations

from pathlib import Path

import click

from iacdrift.cli.common import config_option, registry_option, tf_log_option, wide_console
from iacdrift.cli.plan_cmd import tf_binary_option, tofu_binary_option
from iacdrift.errors import ExitCode, InputError
from iacdrift.flows.provider_diff import ProviderDiffRequest, execute_provider_diff
from iacdrift.flows.workbench import EngineOptions
from iacdrift.report.common import render_json
from iacdrift.report.provider_diff import render_markdown, render_suggestions, render_table


@click.command("provider-diff")
@click.argument("stacks", nargs=-1)
@click.option(
    "--all", "all_stacks", is_flag=True, help="Every registered stack that requires --provider."
)
@click.option(
    "--provider",
    default="hashicorp/aws",
    show_default=True,
    help="The provider's source (namespace/type).",
)
@click.option(
    "--to", "to_version", required=True, help="The version to compare against, e.g. 3.39.0."
)
@click.option(
    "--from",
    "from_version",
    default=None,
    help="The version to compare from (default: the version each stack uses now).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
    help="Output format; json validates against schemas/provider-diff-report.schema.json.",
)
@click.option(
    "--suggestions",
    "suggestions_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the suggested IgnoreRule entries (YAML, marked for review) to this file.",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Stacks compared at once (the first always runs alone to fill the plugin cache).",
)
@config_option
@registry_option
@tf_binary_option
@tofu_binary_option
@tf_log_option
def provider_diff_command(
    stacks: tuple[str, ...],
    all_stacks: bool,
    provider: str,
    to_version: str,
    from_version: str | None,
    output_format: str,
    suggestions_file: Path | None,
    max_parallel: int,
    config_path: Path | None,
    registry_dir: Path | None,
    tf_binary: str | None,
    tofu_binary: str | None,
    tf_log: str | None,
) -> ExitCode:
    """Compare what each stack's plan says under the provider version it uses now and
    under --to, before the upgrade lands (a gate for a Renovate PR).

    Each stack's state is pulled once and planned twice in private scratch copies on a
    local copy of that state (-lock=false on the copies only): the stack directory,
    the real state and its lock, and the cloud are never written. Every difference
    is classified: representation (equal once normalized), schema (an attribute
    added, removed, or read differently) or behaviour (the new version plans an
    update, replacement or destroy the current one does not). Drift both versions see
    (a real out-of-band change) is listed apart. Schema and representation
    differences become suggested IgnoreRule entries for review (--suggestions).

    \b
    Examples:
      iacdrift provider-diff legacy-storage --to 3.39.0
      iacdrift provider-diff --all --provider hashicorp/aws --to 3.39.0 --format markdown
      iacdrift provider-diff legacy-storage --to 3.39.0 --suggestions upgrade-rules.yaml

    \b
    Exit codes: 0 safe to upgrade (no behaviour change), 2 behaviour changes,
    1 a stack could not be compared.
    """
    if suggestions_file is not None and suggestions_file.resolve().parent.is_relative_to(
        Path.cwd().resolve() / "stacks"
    ):
        raise InputError(
            f"--suggestions {suggestions_file}: inside stacks/; write it somewhere else "
            "(e.g. policies/ once reviewed)"
        )
    request = ProviderDiffRequest(
        provider=provider,
        to_version=to_version,
        stacks=stacks,
        all_stacks=all_stacks,
        from_version=from_version,
        config_path=config_path,
        registry_dir=registry_dir,
        engine=EngineOptions(tf_binary, tofu_binary, tf_log),
        max_parallel=max_parallel,
    )
    report = execute_provider_diff(request)
    if output_format == "json":
        click.echo(render_json(report))
    elif output_format == "markdown":
        click.echo(render_markdown(report), nl=False)
    else:
        wide_console().print(render_table(report), end="", highlight=False, markup=False)
    if suggestions_file is not None:
        suggestions_file.parent.mkdir(parents=True, exist_ok=True)
        suggestions_file.write_text(render_suggestions(report), encoding="utf-8")
        click.echo(f"suggested rules: {suggestions_file}", err=True)
    return ExitCode(report.exit_code())
