"""Getting one stack ready for Terraform: target, credentials, engine, scratch copy, init.

Everything a flow needs to run Terraform for a stack comes from here, so
each flow (plan, check, run, sandbox up) prepares stacks the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from iacdrift.aws.session import AwsCredentials, Target
from iacdrift.core.schedule import parse_duration
from iacdrift.credentials import stack_credentials
from iacdrift.engine.base import CliEngine, EngineVersion, Flavor, StackCall
from iacdrift.engine.engines import select_engine
from iacdrift.engine.workspace import scratch_copy, write_cli_config
from iacdrift.errors import SandboxError, UnknownStackError
from iacdrift.models.registry import CloudTarget, DriftManagedUnit, StackType
from iacdrift.registry import Project, RegisteredStack
from iacdrift.sandbox import server as sandbox_server


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
    engine_options: EngineOptions = field(default_factory=EngineOptions)

    @classmethod
    def open(
        cls,
        project: Project,
        engine_options: EngineOptions | None = None,
        *,
        cloud: CloudTarget | None = None,
    ) -> Workbench:
        """Resolve the cloud (``cloud`` overrides the settings' cloud.target)."""
        settings = project.settings
        sandbox_state = None
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
        return cls(
            project=project,
            target=target,
            cli_config=cli_config,
            scratch_parent=project.resolve_path(".iacdrift/scratch"),
            sandbox=sandbox_state,
            engine_options=engine_options or EngineOptions(),
        )

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

    def credentials(self, stack: StackRef) -> AwsCredentials:
        return stack_credentials(
            stack.name, stack.unit, self.project.settings, sandbox=self.sandbox is not None
        )

    def engine(self, stack: StackRef) -> CliEngine:
        return select_engine(
            opentofu=stack.opentofu,
            tf_binary=self.engine_options.tf_binary,
            tofu_binary=self.engine_options.tofu_binary,
        )

    def backend_config(self, stack: StackRef, flavor: Flavor) -> dict[str, str]:
        """-backend-config values: where the registry says the state is, and how to
        reach a loopback endpoint (nothing of it is written into the stack)."""
        config: dict[str, str] = {}
        if stack.unit is not None:
            state = stack.unit.spec.state
            config.update({"bucket": state.bucket, "key": state.key, "region": state.region})
            if state.lockTable:
                config["dynamodb_table"] = state.lockTable
        if self.target.endpoint_url:
            # Terraform 1.15 renamed force_path_style to use_path_style; OpenTofu 1.6
            # knows only the old name.
            path_style = "force_path_style" if flavor is Flavor.OPENTOFU else "use_path_style"
            config[path_style] = "true"
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
        flavor: Flavor,
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
            backend_config=self.backend_config(stack, flavor),
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


@contextmanager
def prepared(bench: Workbench, stack: StackRef) -> Iterator[PreparedStack]:
    """A stack copied to scratch and initialised; the copy is removed afterwards."""
    engine = bench.engine(stack)
    credentials = bench.credentials(stack)
    with scratch_copy(stack.directory, bench.scratch_parent) as workdir:
        probe = bench.call(stack, workdir, credentials, Flavor.TERRAFORM)
        version = engine.version(probe)
        call = bench.call(stack, workdir, credentials, version.flavor)
        engine.init(call)
        yield PreparedStack(stack, engine, version, call, credentials.source)
