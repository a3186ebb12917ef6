"""The project context of one command: target, credentials, engine and Terraform call
of each stack (working copies: flows/working_copy.py; lock files: flows/lockfiles.py).

Everything a flow needs to run Terraform for a stack comes from here, so
each flow (plan, check, run, sandbox up) prepares stacks the same way.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from iacdrift.aws.session import AwsCredentials, Target, endpoint_target, require_reachable
from iacdrift.credentials import CredentialResolver, TokenSource, token_source
from iacdrift.engine.base import CliEngine, StackCall
from iacdrift.engine.engines import select_engine
from iacdrift.engine.seeding import Seeder
from iacdrift.engine.terraform_log import LEVELS, TerraformLog
from iacdrift.engine.workspace import (
    write_cli_config,
)
from iacdrift.errors import IacdriftError, InputError, SandboxError, UnknownStackError
from iacdrift.loaders.registry import SETTINGS_FILE, Project, RegisteredStack, display_path
from iacdrift.models.registry import CloudTarget, DriftManagedUnit, StackType, TokenSourceKind
from iacdrift.primitives.duration import parse_duration
from iacdrift.sandbox import identity, token_endpoint
from iacdrift.sandbox import server as sandbox_server
from iacdrift.store.salt import fingerprint_salt


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _sandbox_not_running(project: Project, sandbox_dir: Path, cloud: CloudTarget | None) -> str:
    """Why the sandbox was wanted, naming the settings file actually read (--config)."""
    path = project.settings_path
    default = (Path.cwd() / SETTINGS_FILE).resolve()
    config = f" --config {display_path(path)}" if path is not None and path != default else ""
    if cloud is not None:
        why = "this command works on the sandbox"
    elif path is None:
        why = f"no settings file ({SETTINGS_FILE}, --config): cloud.target defaults to sandbox"
    else:
        why = f"{display_path(path)}: cloud.target is sandbox"
    return (
        f"the sandbox is not running ({sandbox_dir}); start it with "
        f"`iacdrift sandbox up{config}` ({why})"
    )


# What --tf-log accepts (Terraform's TF_LOG levels).
TF_LOG_LEVELS: tuple[str, ...] = LEVELS


@dataclass(frozen=True)
class EngineOptions:
    tf_binary: str | None = None
    tofu_binary: str | None = None
    # --tf-log: Terraform's log at this TF_LOG level, a file per call under
    # .iacdrift/logs/<run>/<stack>/ (engine/terraform_log.py); None keeps none.
    tf_log: str | None = None

    def __post_init__(self) -> None:
        if self.tf_log is not None and self.tf_log not in TF_LOG_LEVELS:
            raise InputError(
                f"--tf-log / IACDRIFT_TF_LOG: {self.tf_log!r} is not a TF_LOG level; "
                f"use one of {', '.join(TF_LOG_LEVELS)}"
            )


@dataclass(frozen=True)
class StackRef:
    """A stack to work on: registered (with its entry) or just a directory."""

    name: str
    directory: Path
    unit: DriftManagedUnit | None = None

    @classmethod
    def of(cls, registered: RegisteredStack) -> StackRef:
        return cls(registered.name, registered.stack_dir, registered.unit)

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
        sandbox_tokens: TokenSource | None = None
        mirror: Path | None = None
        if (cloud or settings.cloud.target) is CloudTarget.SANDBOX:
            sandbox_dir = project.resolve_path(settings.cloud.sandboxDir)
            sandbox_state = sandbox_server.load_state(sandbox_dir)
            if sandbox_state is None or not sandbox_server.is_answering(sandbox_state.port):
                raise SandboxError(_sandbox_not_running(project, sandbox_dir, cloud))
            target = Target(sandbox_state.region, sandbox_state.endpoint_url)
            mirror = Path(sandbox_state.providerMirror)
            if settings.oidc is not None and settings.oidc.source is TokenSourceKind.SANDBOX:
                record = token_endpoint.load_record(sandbox_dir)
                sandbox_tokens = identity.token_source_of(record, settings.oidc.audience)
        else:
            if (cloud or settings.cloud.target) is CloudTarget.ENDPOINT:
                # Once per command: a dead endpoint is one line now, not a connect
                # timeout (and retries) per stack later.
                target = endpoint_target(settings.cloud)
                require_reachable(target)
            else:
                target = Target(settings.cloud.region)
            if settings.oidc is not None and settings.oidc.source is TokenSourceKind.SANDBOX:
                sandbox_tokens = identity.token_source_of(None, settings.oidc.audience)
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
            token_source=token_source(settings.oidc, root=project.root, sandbox=sandbox_tokens),
            ambient=identity.sandbox_credentials if sandbox_state is not None else None,
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

    @property
    def log_root(self) -> Path:
        """Where --tf-log keeps Terraform's logs: ``<run>/<stack>/NN-<commands>.log``."""
        return self.project.resolve_path(".iacdrift/logs")

    def terraform_log(self) -> TerraformLog | None:
        """--tf-log for this command's Terraform calls (None: off, the default)."""
        level = self.engine_options.tf_log
        if level is None:
            return None
        return TerraformLog(level, self.log_root, self.run_id)

    # -- stacks -----------------------------------------------------------------
    def stack(self, name_or_dir: str) -> StackRef:
        """A registry name, else a directory holding *.tf files."""
        try:
            registered: RegisteredStack = self.project.get(name_or_dir)
            return StackRef.of(registered)
        except UnknownStackError:
            directory = Path(name_or_dir)
            if directory.is_dir() and any(directory.glob("*.tf")):
                resolved = directory.resolve()
                for registered in self.project.stacks:
                    if registered.stack_dir == resolved:
                        return StackRef.of(registered)
                return StackRef(resolved.name, resolved)
            raise

    def fingerprint_salt(self) -> bytes:
        """The installation's salt for fingerprints of sensitive values (see
        :func:`iacdrift.store.salt.fingerprint_salt`)."""
        return fingerprint_salt(self.project.resolve_path(".iacdrift/fingerprint.salt"))

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
        reach a custom endpoint (the sandbox, or cloud.target: endpoint, whose URLs
        reach the backend as AWS_ENDPOINT_URL_*); nothing of it is written into the
        stack."""
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

    def lease_table(self) -> str:
        """The DynamoDB table of the orchestrator leases (locking.Lease)."""
        table = self.project.settings.leaseTable
        if table:
            return table
        if self.sandbox is not None:
            return str(self.sandbox.lockTable)
        raise IacdriftError(
            "no lease table: set leaseTable in iacdrift.yaml (a DynamoDB table with "
            "hash key LockID, e.g. your Terraform lock table)"
        )

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
            log=self.terraform_log(),
        )
