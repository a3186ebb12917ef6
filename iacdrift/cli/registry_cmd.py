"""``iacdrift registry validate`` and ``iacdrift registry list``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from iacdrift.cli.common import config_option, format_option, registry_option
from iacdrift.errors import ExitCode
from iacdrift.flows.registry import read_registry
from iacdrift.report.registry import units_json, units_table

GROUP_HELP = """\
Check and inspect the registry: one YAML file per stack in registry/,
plus the optional settings file iacdrift.yaml beside it.

\b
Example:
  iacdrift registry validate
  iacdrift registry list --format json
"""

VALIDATE_HELP = """\
Validate iacdrift.yaml and every registry/*.yaml file.

Checks each file against its schema (see schemas/), then across files: unique
names, no two stacks on the same state object, and a source.path that holds
the stack's *.tf files. Every problem is printed as `file: field: what to do`,
all of them at once.

\b
Example:
  iacdrift registry validate
  iacdrift registry validate --config ops/iacdrift.yaml --registry ops/registry

\b
Exit codes: 0 valid (with a warning on stderr when no stack is registered:
`run` and `status` then exit 1), 1 problems found (each printed on stderr).
"""

LIST_HELP = """\
List the registered stacks, sorted by name.

The table shows name, type, environment, risk tier, owner, schedule, state
object and source path. --format json prints each unit as written in its file
(with defaults filled in) plus a `file` key, for scripts.

\b
Example:
  iacdrift registry list
  iacdrift registry list --format json | jq -r '.[].metadata.name'

\b
Exit codes: 0 listed, 1 the registry has problems
(`iacdrift registry validate` prints them all).
"""


@click.group("registry", help=GROUP_HELP)
def registry_group() -> None:
    pass


@registry_group.command("validate", help=VALIDATE_HELP)
@config_option
@registry_option
def validate_command(config_path: Path | None, registry_dir: Path | None) -> ExitCode:
    # Problems propagate as one RegistryError; the handler prints each and exits 1.
    registry = read_registry(config_path, registry_dir)
    noun = "stack" if registry.count == 1 else "stacks"
    click.echo(f"ok: {registry.count} {noun} valid in {registry.directory}/")
    if registry.warning:
        click.echo(f"warning: {registry.warning}", err=True)
    return ExitCode.OK


@registry_group.command("list", help=LIST_HELP)
@config_option
@registry_option
@format_option
def list_command(
    config_path: Path | None, registry_dir: Path | None, output_format: str
) -> ExitCode:
    registry = read_registry(config_path, registry_dir)
    if output_format == "json":
        click.echo(units_json(registry.units, registry.files))
        return ExitCode.OK
    if not registry.units:
        click.echo(f"no stacks in {registry.directory}/", err=True)
        return ExitCode.OK
    _print_table(units_table(registry.units))
    return ExitCode.OK


def _print_table(table: Table) -> None:
    console = Console()
    if console.is_terminal:
        console.print(table)
        return
    # Piped output has no width: rich would assume 80 columns and cut the state URIs.
    # It also pads every cell, so strip the trailing blanks for scripts and diffs.
    console = Console(width=1000)
    with console.capture() as capture:
        console.print(table)
    click.echo("\n".join(line.rstrip() for line in capture.get().splitlines()))
