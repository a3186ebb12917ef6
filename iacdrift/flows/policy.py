"""`iacdrift policy lint | version`: read the policy files, review the rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from iacdrift.clock import today
from iacdrift.core.policy_lint import has_errors, lint
from iacdrift.errors import ExitCode
from iacdrift.loaders.policy import default_policy_dir, load_policies
from iacdrift.loaders.registry import display_path
from iacdrift.models.policy import LintFinding, PolicySet


@dataclass(frozen=True)
class PolicyLint:
    """What ``iacdrift policy lint`` found."""

    policies: PolicySet
    directory: str  # the policy directory, as shown to the user
    day: date  # expiries were judged as of this day
    findings: tuple[LintFinding, ...]

    def exit_code(self) -> ExitCode:
        """1 when any finding is an error (warnings allowed), else 0."""
        return ExitCode.FAILED if has_errors(list(self.findings)) else ExitCode.OK


def policy_dir(config_path: Path | None, policies_dir: Path | None) -> Path:
    """``policies_dir``, else ``policies/`` beside the settings file (or here)."""
    if policies_dir is not None:
        return policies_dir
    root = config_path.parent if config_path is not None else Path()
    return default_policy_dir(root)


def lint_policies(
    config_path: Path | None, policies_dir: Path | None, day: date | None = None
) -> PolicyLint:
    """Read every policy file (invalid ones: one RegistryError listing each problem),
    then lint the rules as of ``day`` (default: today)."""
    directory = policy_dir(config_path, policies_dir)
    policies = load_policies(directory)
    when = day if day is not None else today()
    return PolicyLint(policies, display_path(directory), when, tuple(lint(policies, when)))


def read_policies(config_path: Path | None, policies_dir: Path | None) -> PolicySet:
    """The policy set (``iacdrift policy version`` prints its version)."""
    return load_policies(policy_dir(config_path, policies_dir))
