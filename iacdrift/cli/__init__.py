"""The ``iacdrift`` command line: click only. Each command parses options, calls
one flow, renders the result and returns an exit code.

Exit codes (everywhere): 0 clean / no changes, 2 drift or changes found,
1 anything that could not be checked or failed (bad input included), 130 on
interrupt. Click's own usage errors exit 1 too: 2 always means "drift".
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from iacdrift import __version__
from iacdrift.cli.check_cmd import check_command
from iacdrift.cli.ci_cmd import ci_group
from iacdrift.cli.common import run_guarded
from iacdrift.cli.explain_cmd import explain_command
from iacdrift.cli.plan_cmd import plan_command
from iacdrift.cli.policy_cmd import policy_group
from iacdrift.cli.provider_diff_cmd import provider_diff_command
from iacdrift.cli.registry_cmd import registry_group
from iacdrift.cli.repair_cmd import repair_group
from iacdrift.cli.route_cmd import route_command
from iacdrift.cli.run_cmd import run_command
from iacdrift.cli.sandbox_cmd import sandbox_group
from iacdrift.cli.status_cmd import status_command
from iacdrift.cli.surgery_cmd import surgery_group

HELP = """\
iacdrift walks a registry of Terraform/OpenTofu stacks and tells, per stack,
which of the three planes diverged: desired (the HCL), recorded (the state)
or actual (the live cloud).

\b
Start with the sandbox (a loopback moto cloud, no AWS account needed):
  iacdrift sandbox up               # cloud, provider mirror, example estate
  iacdrift sandbox drift sg-open-ssh
  iacdrift plan prod-network        # exit 2: changes found

\b
Exit codes: 0 clean, 2 drift/changes found, 1 could not check or failed,
130 interrupted.
"""


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="iacdrift")
def cli() -> None:
    pass


cli.add_command(registry_group)
cli.add_command(policy_group)
cli.add_command(sandbox_group)
cli.add_command(plan_command)
cli.add_command(check_command)
cli.add_command(run_command)
cli.add_command(status_command)
cli.add_command(explain_command)
cli.add_command(route_command)
cli.add_command(repair_group)
cli.add_command(surgery_group)
cli.add_command(provider_diff_command)
cli.add_command(ci_group)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: map every outcome to one of our exit codes."""
    code = run_guarded(lambda: cli.main(args=argv, standalone_mode=False))
    sys.exit(int(code))


__all__ = ["cli", "main"]
