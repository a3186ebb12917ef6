"""Getting one stack ready for Terraform: target, credentials, engine, scratch copy, init.

Everything a flow needs to run Terraform for a stack comes from here, so
each flow (plan, check, run, sandbox up) prepares stacks the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from iacdrift.aws.session import AwsCredentials, Target
from iacdrift.core.resilience import is_transient
from iacdrift.core.schedule import parse_duration
from iacdrift.credentials import CredentialResolver, SandboxEndpoint, token_source
from iacdrift.engine.base import CallRecord, CliEngine, EngineVersion, PlanReading, StackCall
from iacdrift.engine.engines import select_engine
from iacdrift.engine.seeding import Seeder
from iacdrift.engine.workspace import (
    Workdir,
    locked_providers,
    persistent_copy,
    scratch_copy,
    stack_digest,
    write_cli_config,
)
from iacdrift.errors import SandboxError, StateLockedError, TerraformError, UnknownStackError
from iacdrift.loaders.hcl import provider_requirements
from iacdrift.loaders.registry import Project, RegisteredStack
from iacdrift.models.registry import CloudTarget, DriftManagedUnit, StackType, TokenSourceKind
from iacdrift.sandbox import server as sandbox_server
from iacdrift.sandbox import token_endpoint


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class EngineOptions:
    tf_binary: str | None = None
    tofu_binary: str | None = None


@dataclass(frozen=True)
class StackRef:
    """A stack to work on: registered (with its entry) or just a directory."""

    name: str
    directory: Path
    unit: DriftManagedUnit | None = None

    @property
    def opentofu(self) -> bool:
        return self.unit is not None and self.unit.spec.type is StackType.OPENTOFU


@dataclass(frozen=True)
class Workbench:
    """Project-wide context resolved once per command."""

    project: Project
    target: Target
    cli_config: Path
    scratch_parent: Path
    sandbox: sandbox_server.SandboxState | None
    resolver: CredentialResolver
    engine_options: EngineOptions = field(default_factory=EngineOptions)
    # When set, every Terraform process of checked_out() stacks takes a slot first:
    # a run bounds its Terraform processes with it (see flows/run.py).
    terraform_slots: threading.Semaphore | None = None
    # Writes what init would into fresh working copies, once a real init of the
    # same engine taught it how (see engine/seeding.py); None: always run init.
    seeder: Seeder | None = None

    @classmethod
    def open(
        cls,
        project: Project,
        engine_options: EngineOptions | None = None,
        *,
        cloud: CloudTarget | None = None,
        run_id: str | None = None,
    ) -> Workbench:
        """Resolve the cloud (``cloud`` overrides the settings' cloud.target) and the
        credential resolver of this command (``run_id`` names its STS sessions; a
        fresh one by default)."""
        settings = project.settings
        sandbox_state = None
        sandbox_endpoint: SandboxEndpoint | None = None
        mirror: Path | None = None
        if (cloud or settings.cloud.target) is CloudTarget.SANDBOX:
            sandbox_dir = project.resolve_path(settings.cloud.sandboxDir)
            sandbox_state = sandbox_server.load_state(sandbox_dir)
            if sandbox_state is None or not sandbox_server.is_answering(sandbox_state.port):
                raise SandboxError(
                    f"the sandbox is not running ({sandbox_dir}); start it with "
                    "`iacdrift sandbox up` (iacdrift.yaml: cloud.target is sandbox)"
                )
            target = Target(sandbox_state.region, sandbox_state.endpoint_url)
            mirror = Path(sandbox_state.providerMirror)
            if settings.oidc is not None and settings.oidc.source is TokenSourceKind.SANDBOX:
                record = token_endpoint.load_record(sandbox_dir)
                if record is not None:
                    sandbox_endpoint = SandboxEndpoint(record.request_url, record.requestToken)
        else:
            target = Target(settings.cloud.region)
            if settings.terraform.providerMirror:
                mirror = project.resolve_path(settings.terraform.providerMirror)
        cache = project.resolve_path(settings.terraform.pluginCacheDir)
        cli_config = write_cli_config(
            project.resolve_path(".iacdrift/terraform.rc"),
            plugin_cache_dir=cache,
            provider_mirror=mirror,
        )
        resolver = CredentialResolver(
            settings,
            target,
            run_id=run_id or new_run_id(),
            token_source=token_source(
                settings.oidc, root=project.root, sandbox_endpoint=sandbox_endpoint
            ),
            sandbox=sandbox_state is not None,
        )
        return cls(
            project=project,
            target=target,
            cli_config=cli_config,
            scratch_parent=project.resolve_path(".iacdrift/scratch"),
            sandbox=sandbox_state,
            resolver=resolver,
            engine_options=engine_options or EngineOptions(),
            seeder=Seeder(cache) if settings.terraform.seedWorkdirs else None,
        )

    @property
    def workdir_root(self) -> Path:
        """Where the persistent working copies of stacks live (mode 0700)."""
        return self.project.resolve_path(".iacdrift/workdirs")

    @property
    def run_id(self) -> str:
        """This command's run id (in every STS session name it opens)."""
        return self.resolver.run_id

    # -- stacks -----------------------------------------------------------------
    def stack(self, name_or_dir: str) -> StackRef:
        """A registry name, else a directory holding *.tf files."""
        try:
            registered: RegisteredStack = self.project.get(name_or_dir)
            return StackRef(registered.name, registered.stack_dir, registered.unit)
        except UnknownStackError:
            directory = Path(name_or_dir)
            if directory.is_dir() and any(directory.glob("*.tf")):
                resolved = directory.resolve()
                for registered in self.project.stacks:
                    if registered.stack_dir == resolved:
                        return StackRef(registered.name, registered.stack_dir, registered.unit)
                return StackRef(resolved.name, resolved)
            raise

    def fingerprint_salt(self) -> bytes:
        """The installation's salt for fingerprints of sensitive values.

        Stable across runs (so finding ids are), private to this project
        directory (mode 0600), never printed.
        """
        path = self.project.resolve_path(".iacdrift/fingerprint.salt")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write a private temp file, then link it into place: a concurrent reader
            # sees either no salt file or a complete one, never an empty one.
            fd, tmp = tempfile.mkstemp(prefix=".salt-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(secrets.token_bytes(32))
                with contextlib.suppress(FileExistsError):  # another process won
                    path.hardlink_to(tmp)
            finally:
                Path(tmp).unlink()
        return path.read_bytes()

    def inventory_credentials(self, account_id: str | None = None) -> AwsCredentials:
        """Read-only estate credentials: listing live resources, reading every state
        (the account's inventoryRoles role; never a stack's role)."""
        return self.resolver.for_inventory(account_id)

    def credentials(self, stack: StackRef) -> AwsCredentials:
        """This stack's own credentials (OIDC for its role, or ambient where allowed)."""
        return self.resolver.for_stack(stack.name, stack.unit)

    def orchestrator_credentials(self) -> AwsCredentials:
        """iacdrift's own identity, for leases: never a stack's role."""
        return self.resolver.orchestrator()

    def engine(self, stack: StackRef) -> CliEngine:
        return select_engine(
            opentofu=stack.opentofu,
            tf_binary=self.engine_options.tf_binary,
            tofu_binary=self.engine_options.tofu_binary,
        )

    def backend_config(self, stack: StackRef) -> dict[str, str]:
        """-backend-config values: where the registry says the state is, and how to
        reach a loopback endpoint (nothing of it is written into the stack)."""
        config: dict[str, str] = {}
        if stack.unit is not None:
            state = stack.unit.spec.state
            config.update({"bucket": state.bucket, "key": state.key, "region": state.region})
            if state.lockTable:
                config["dynamodb_table"] = state.lockTable
        if self.target.endpoint_url:
            # Terraform 1.15 and OpenTofu 1.6.2 both take use_path_style (the old
            # force_path_style is deprecated in both).
            config["use_path_style"] = "true"
            for flag in (
                "skip_credentials_validation",
                "skip_requesting_account_id",
                "skip_metadata_api_check",
                "skip_region_validation",
            ):
                config[flag] = "true"
        return config

    def call(
        self,
        stack: StackRef,
        workdir: Path,
        credentials: AwsCredentials,
        extra_values: Mapping[str, str] | None = None,
    ) -> StackCall:
        settings = self.project.settings.terraform
        values = {**self.target.stack_values(), **credentials.stack_values()}
        values.update(extra_values or {})
        return StackCall(
            stack=stack.name,
            workdir=workdir,
            values=values,
            cli_config=self.cli_config,
            backend_config=self.backend_config(stack),
            timeout=parse_duration(settings.timeout).total_seconds(),
            lock_timeout=settings.lockTimeout,
            scratch_parent=self.scratch_parent,
        )


@dataclass(frozen=True)
class PreparedStack:
    ref: StackRef
    engine: CliEngine
    version: EngineVersion
    call: StackCall
    credentials_source: str
    init: CallRecord


@contextmanager
def prepared(
    bench: Workbench, stack: StackRef, *, lock_file: str | None = None
) -> Iterator[PreparedStack]:
    """A stack copied to scratch and initialised; the copy is removed afterwards.

    ``lock_file``: a ``.terraform.lock.hcl`` for a stack that has none, so its
    init links providers from the shared plugin cache instead of writing to it.
    """
    engine = bench.engine(stack)
    credentials = bench.credentials(stack)
    with scratch_copy(stack.directory, bench.scratch_parent) as workdir:
        lock_path = workdir / ".terraform.lock.hcl"
        if lock_file is not None and not lock_path.exists():
            lock_path.write_text(lock_file, encoding="utf-8")
        call = bench.call(stack, workdir, credentials)
        version = engine.version(call)
        init = engine.init(call)
        version = dataclasses.replace(version, providers=locked_providers(workdir))
        yield PreparedStack(stack, engine, version, call, credentials.source, init)


# --- lock files for stacks without one -------------------------------------------
#
# A stack with no committed `.terraform.lock.hcl` gets the lock file that one init of
# its provider requirement produced (flows/run.py warms the plugin cache that way),
# saved under `.iacdrift/locks/` per requirement and CLI config, so `run` and `check`
# give its working copy the same lock file (and so reuse the same copy).


def requirement_key(ref: StackRef) -> str:
    """The engine and the stack's required_providers entries, sorted."""
    flavor = "opentofu" if ref.opentofu else "terraform"
    return flavor + "|" + "|".join(provider_requirements(ref.directory))


def saved_lock_path(bench: Workbench, key: str) -> Path:
    cli_config = bench.cli_config.read_text(encoding="utf-8")
    name = hashlib.sha256(f"{key}\n{cli_config}".encode()).hexdigest()[:32]
    return bench.project.resolve_path(".iacdrift/locks") / f"{name}.lock.hcl"


def save_lock(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def saved_lock(bench: Workbench, ref: StackRef) -> str | None:
    """The saved lock file for a stack without a committed one, if a run saved one."""
    if (ref.directory / ".terraform.lock.hcl").exists():
        return None
    try:
        return saved_lock_path(bench, requirement_key(ref)).read_text(encoding="utf-8")
    except OSError:
        return None


def engine_id(engine: CliEngine, version: EngineVersion) -> tuple[str, ...]:
    """Which engine wrote a working copy's records: its flavor, version, platform
    and program (see engine/seeding.py)."""
    return (version.flavor.value, version.version, version.platform, *engine.program)


def learn_from_init(bench: Workbench, stack: PreparedStack) -> None:
    """Let the seeder learn from a real init (a no-op without one)."""
    if bench.seeder is not None and stack.init.returncode == 0:
        bench.seeder.learn(
            engine_id(stack.engine, stack.version),
            stack.call.workdir,
            dict(stack.call.backend_config),
        )


def needs_init(exc: TerraformError) -> bool:
    """Terraform refused to work because the directory needs (another) init."""
    if isinstance(exc, StateLockedError):
        return False
    for diagnostic in exc.failure.diagnostics:
        text = f"{diagnostic.summary} {diagnostic.detail}".lower()
        if (
            "terraform init" in text
            or "tofu init" in text
            or "initialization required" in text
            or "not installed" in text
        ):
            return True
    return False


@dataclass(frozen=True)
class CheckedOut:
    """A stack in its persistent working copy (see :func:`checked_out`)."""

    ref: StackRef
    engine: CliEngine
    version: EngineVersion  # providers: see locked_version()
    call: StackCall
    credentials_source: str
    workdir: Workdir
    slots: threading.Semaphore | None = None
    seeder: Seeder | None = None

    @property
    def engine_id(self) -> tuple[str, ...]:
        return engine_id(self.engine, self.version)

    def plan_and_show(
        self, *, refresh_only: bool = False, plan_file: str = "iacdrift.tfplan"
    ) -> PlanReading:
        """[init,] plan, show -json; init only when this copy was not initialised with
        the current key, or when Terraform says the copy needs it after all."""
        with _slot(self.slots):
            return self._plan_and_show(refresh_only, plan_file)

    def _plan_and_show(self, refresh_only: bool, plan_file: str) -> PlanReading:
        init = not self.workdir.initialised
        seeded = init and self._seed()
        try:
            reading = self.engine.plan_and_show(
                self.call, init=init and not seeded, refresh_only=refresh_only, plan_file=plan_file
            )
        except TerraformError as exc:
            if seeded:
                return self._after_seed_failed(exc, refresh_only, plan_file)
            if init and exc.failure.command != "init":
                self.workdir.mark_initialised()  # e.g. the plan found the state locked
                raise
            if init or not needs_init(exc):
                raise
            self.workdir.invalidate()
            return self._with_init(refresh_only, plan_file)
        if seeded:
            # Initialised only once the caller confirmed the plan read the state the
            # registry names (confirm_seed); until then the next use seeds again.
            return dataclasses.replace(reading, seeded=True)
        if reading.init is not None:
            self._initialised()
        return reading

    def _after_seed_failed(
        self, exc: TerraformError, refresh_only: bool, plan_file: str
    ) -> PlanReading:
        assert self.seeder is not None
        if needs_init(exc):
            # Refused: the records we wrote do not match the files. The real init.
            self.seeder.refused(self.call.workdir, exc.summary)
            return self._with_init(refresh_only, plan_file)
        # Failed otherwise (a held lock, a plan error): reported as it is. What we
        # wrote is removed; unless the failure looks transient, this copy runs the
        # real init from now on.
        never_again = not isinstance(exc, StateLockedError) and not is_transient(exc.message)
        self._drop_seed(exc.summary, never_again=never_again)
        raise exc

    def _drop_seed(self, why: str, *, never_again: bool) -> None:
        assert self.seeder is not None
        self.seeder.failed(self.call.workdir, why)
        if never_again:
            with contextlib.suppress(OSError):
                self.workdir.refuse_seeding()

    def _with_init(self, refresh_only: bool, plan_file: str) -> PlanReading:
        try:
            reading = self.engine.plan_and_show(
                self.call, init=True, refresh_only=refresh_only, plan_file=plan_file
            )
        except TerraformError as exc:
            if exc.failure.command != "init":
                self.workdir.mark_initialised()  # init succeeded; the plan failed
            raise
        self._initialised()
        return reading

    def _initialised(self) -> None:
        self.workdir.mark_initialised()
        if self.seeder is not None:
            self.seeder.learn(self.engine_id, self.call.workdir, dict(self.call.backend_config))

    def _seed(self) -> bool:
        if self.seeder is None or not self.workdir.seedable:
            return False
        return self.seeder.seed(
            self.engine_id, self.call.workdir, dict(self.call.backend_config), self.version.platform
        )

    def confirm_seed(self) -> None:
        """The seeded copy's plan read the state the registry names: keep the copy."""
        self.workdir.mark_initialised()

    def replan_after_seed(
        self, why: str, *, refresh_only: bool = False, plan_file: str = "iacdrift.tfplan"
    ) -> PlanReading:
        """The seeded copy's plan did not read the state the registry names (or the
        state changed meanwhile): drop the seed, never seed this copy again, and plan
        after the real init."""
        self._drop_seed(why, never_again=True)
        self.workdir.invalidate()
        with _slot(self.slots):
            return self._with_init(refresh_only, plan_file)

    def locked_version(self) -> EngineVersion:
        """The engine version with the provider versions of the copy's lock file."""
        return dataclasses.replace(self.version, providers=locked_providers(self.call.workdir))


def workdir_key(
    bench: Workbench,
    stack: StackRef,
    engine: CliEngine,
    version: EngineVersion,
    lock_file: str | None,
) -> str:
    """What an initialised working copy depends on: the stack's files (local modules
    and a committed lock file included), the lock file we give it, the backend
    config, the CLI config (plugin cache, mirror) and the engine."""
    has_lock = (stack.directory / ".terraform.lock.hcl").exists()
    material = {
        "format": 1,
        "files": stack_digest(stack.directory),
        "lock": None if has_lock else lock_file,
        "backend": sorted(bench.backend_config(stack).items()),
        "cli_config": bench.cli_config.read_text(encoding="utf-8"),
        "engine": [*engine.program, version.flavor.value, version.version, version.platform],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


@contextmanager
def checked_out(
    bench: Workbench, stack: StackRef, *, lock_file: str | None = None
) -> Iterator[CheckedOut]:
    """The stack's persistent working copy, held exclusively until the block ends
    (init is skipped while its key is unchanged: see CheckedOut.plan_and_show).

    ``lock_file``: a ``.terraform.lock.hcl`` for a stack that has none, as for
    :func:`prepared`.
    """
    engine = bench.engine(stack)
    credentials = bench.credentials(stack)
    bench.scratch_parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    version = engine.known_version()
    if version is None:
        with _slot(bench.terraform_slots):
            version = engine.version(bench.call(stack, bench.scratch_parent, credentials))
    key = workdir_key(bench, stack, engine, version, lock_file)
    with persistent_copy(stack.directory, bench.workdir_root, stack.name, key) as workdir:
        lock_path = workdir.path / ".terraform.lock.hcl"
        if lock_file is not None and not lock_path.exists():
            lock_path.write_text(lock_file, encoding="utf-8")
        call = bench.call(stack, workdir.path, credentials)
        yield CheckedOut(
            stack,
            engine,
            version,
            call,
            credentials.source,
            workdir,
            bench.terraform_slots,
            bench.seeder,
        )


@contextmanager
def _slot(slots: threading.Semaphore | None) -> Iterator[None]:
    if slots is None:
        yield
        return
    with slots:
        yield
