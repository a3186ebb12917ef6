"""`iacdrift sandbox up | status | down | drift | token`: the loopback cloud and its estate.

Besides the moto server, `up` starts the stand-in OIDC token endpoint and
creates the least-privilege roles each stack (and the inventory) assumes with
the web identity, so the whole credentials path of a scheduled run works here.
"""

from __future__ import annotations

import secrets as secrets_module
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws import inventory
from iacdrift.aws.session import AwsCredentials, Target, client, describe_cloud_error
from iacdrift.configuration import read_configuration, remote_state_reads
from iacdrift.core.ordering import dependency_order
from iacdrift.core.terraform_json import load_json, read_state
from iacdrift.credentials import DEFAULT_AUDIENCE, INVENTORY
from iacdrift.errors import InputError, SandboxError, UnknownStackError
from iacdrift.flows.workbench import Workbench, prepared
from iacdrift.models.registry import CloudTarget
from iacdrift.registry import Project
from iacdrift.sandbox import iam, scenarios
from iacdrift.sandbox import server as srv
from iacdrift.sandbox import token_endpoint as tokens
from iacdrift.sandbox.mirror import build_mirror

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class UpReport:
    state: srv.SandboxState
    started: bool
    applied: list[str] = field(default_factory=list)
    state_dir: Path = Path()
    token_endpoint: tokens.TokenEndpointRecord | None = None
    roles: list[str] = field(default_factory=list)


def sandbox_dir(project: Project) -> Path:
    return project.resolve_path(project.settings.cloud.sandboxDir)


def sandbox_credentials() -> AwsCredentials:
    return AwsCredentials(srv.ACCESS_KEY_ID, srv.SECRET_ACCESS_KEY, source="sandbox")


def _bootstrap_account(state: srv.SandboxState) -> None:
    """What exists in the account before any stack: the state bucket (versioned),
    the DynamoDB lock table, and the database team's secret that prod-payments
    reads. Idempotent."""
    target = Target(state.region, state.endpoint_url)
    creds = sandbox_credentials()
    try:
        s3 = client("s3", creds, target)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if state.stateBucket not in existing:
            s3.create_bucket(Bucket=state.stateBucket)
            s3.put_bucket_versioning(
                Bucket=state.stateBucket, VersioningConfiguration={"Status": "Enabled"}
            )
        dynamodb = client("dynamodb", creds, target)
        if state.lockTable not in dynamodb.list_tables().get("TableNames", []):
            dynamodb.create_table(
                TableName=state.lockTable,
                KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        secrets = client("secretsmanager", creds, target)
        listed = secrets.list_secrets(
            Filters=[{"Key": "name", "Values": [srv.BOOTSTRAP_SECRET]}]
        ).get("SecretList", [])
        if not any(item.get("Name") == srv.BOOTSTRAP_SECRET for item in listed):
            # A fresh random value per sandbox: nothing real, but it must never leak.
            secrets.create_secret(
                Name=srv.BOOTSTRAP_SECRET, SecretString=secrets_module.token_urlsafe(24)
            )
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(exc, "bootstrapping the sandbox account", target) from exc


def estate_order(project: Project) -> list[str]:
    """Registered stacks, each after the stacks whose state it reads."""
    by_state = {(s.unit.spec.state.bucket, s.unit.spec.state.key): s.name for s in project.stacks}
    reads = {
        s.name: {by_state[r] for r in remote_state_reads(s.stack_dir) if r in by_state}
        for s in project.stacks
    }
    try:
        return dependency_order({s.name for s in project.stacks}, reads)
    except ValueError as exc:
        raise InputError(f"{project.registry_dir}: {exc}") from exc


def up(project: Project, *, apply: bool = True, progress: Progress = _quiet) -> UpReport:
    """Start (or reuse) the sandbox, then apply every registered stack not yet applied."""
    srv.require_moto()
    directory = sandbox_dir(project)
    state = srv.load_state(directory)
    started = False
    if state is None or not (
        srv.is_our_server(state.pid, state.port) and srv.is_answering(state.port)
    ):
        progress("starting the moto server on 127.0.0.1")
        pid, port = srv.start_server(directory)
        mirror = build_mirror(directory / "mirror")
        state = srv.SandboxState(
            pid=pid, port=port, startedAt=srv.now(), providerMirror=str(mirror.resolve())
        )
        started = True
        srv.save_state(directory, state)
    else:
        build_mirror(Path(state.providerMirror))
    _bootstrap_account(state)
    report = UpReport(state=state, started=started, state_dir=directory)
    report.token_endpoint = _ensure_token_endpoint(directory, progress)
    report.roles = provision_roles(project, state)
    if not apply:
        return report
    bench = Workbench.open(project, cloud=CloudTarget.SANDBOX)
    for name in estate_order(project):
        if name in state.appliedStacks:
            continue
        progress(f"applying {name}")
        with prepared(bench, bench.stack(name)) as stack:
            stack.engine.apply(stack.call)
        state.appliedStacks.append(name)
        srv.save_state(directory, state)
        report.applied.append(name)
    if report.applied:
        # Now the states name each stack's buckets: narrow the roles to them.
        provision_roles(project, state)
    return report


def _ensure_token_endpoint(directory: Path, progress: Progress) -> tokens.TokenEndpointRecord:
    record = tokens.load_record(directory)
    if (
        record is not None
        and tokens.is_ours(record.pid, record.port)
        and tokens.is_answering(record.port)
    ):
        return record
    progress("starting the OIDC token endpoint stand-in on 127.0.0.1")
    return tokens.start(directory)


def stack_access(project: Project, state: srv.SandboxState) -> list[iam.StackAccess]:
    """What each registered stack's role must reach; bucket names from its state
    once the sandbox holds one (read with the sandbox's own key)."""
    target = Target(state.region, state.endpoint_url)
    accesses = []
    for registered in project.stacks:
        spec = registered.unit.spec
        configuration = read_configuration(registered.stack_dir)
        accesses.append(
            iam.StackAccess(
                stack=registered.name,
                role_arn=spec.credentials.oidcRole,
                state_bucket=spec.state.bucket,
                state_key=spec.state.key,
                lock_table=spec.state.lockTable,
                resource_types=configuration.resource_types,
                remote_state_reads=frozenset(remote_state_reads(registered.stack_dir)),
                bucket_names=_recorded_buckets(spec.state.bucket, spec.state.key, target),
            )
        )
    return accesses


def _recorded_buckets(bucket: str, key: str, target: Target) -> frozenset[str] | None:
    raw = inventory.read_state_object(bucket, key, sandbox_credentials(), target)
    if raw is None:
        return None
    uri = f"s3://{bucket}/{key}"
    recorded = read_state(load_json(raw, uri), uri)
    names = {
        r.id
        for r in recorded.resources
        if r.mode == "managed" and r.type == "aws_s3_bucket" and r.id
    }
    return frozenset(names) if names else None


def provision_roles(project: Project, state: srv.SandboxState) -> list[str]:
    """Create or update every stack role and inventory role (idempotent)."""
    settings = project.settings
    audience = settings.oidc.audience if settings.oidc else DEFAULT_AUDIENCE
    accesses = stack_access(project, state)
    buckets = {a.state_bucket for a in accesses} | {state.stateBucket}
    specs = iam.role_specs(accesses, settings.inventoryRoles.values(), buckets)
    target = Target(state.region, state.endpoint_url)
    return iam.provision(specs, audience, sandbox_credentials(), target)


def status(project: Project) -> tuple[srv.SandboxState | None, bool]:
    """The recorded sandbox and whether its server is up and answering."""
    state = srv.load_state(sandbox_dir(project))
    if state is None:
        return None, False
    return state, srv.is_our_server(state.pid, state.port) and srv.is_answering(state.port)


def down(project: Project) -> str:
    directory = sandbox_dir(project)
    said = _stop_token_endpoint(directory)
    state = srv.load_state(directory)
    if state is None:
        return "; ".join([*said, "no sandbox recorded; nothing to stop"])
    stopped = srv.stop_server(state.pid, state.port)
    (directory / srv.STATE_FILE).unlink(missing_ok=True)
    if stopped:
        said.insert(0, f"stopped the moto server (pid {state.pid}, port {state.port})")
    else:
        said.insert(0, f"pid {state.pid} is no longer our moto server; forgot the record only")
    return "; ".join(said)


def _stop_token_endpoint(directory: Path) -> list[str]:
    """Stop our token endpoint and forget its record and refusals (a new sandbox
    starts with none)."""
    said: list[str] = []
    try:
        record = tokens.load_record(directory)
    except SandboxError:
        record = None
    if record is not None:
        if tokens.stop(record):
            said.append(f"stopped the token endpoint (pid {record.pid}, port {record.port})")
        else:
            said.append(f"pid {record.pid} is no longer our token endpoint; forgot it")
    tokens.forget_record(directory)
    (directory / tokens.REFUSALS_FILE).unlink(missing_ok=True)
    return said


def token_endpoint_status(project: Project) -> tuple[tokens.TokenEndpointRecord | None, bool]:
    """The recorded token endpoint and whether it is ours and answering."""
    record = tokens.load_record(sandbox_dir(project))
    if record is None:
        return None, False
    return record, tokens.is_ours(record.pid, record.port) and tokens.is_answering(record.port)


def _token_subject(project: Project, stack: str) -> str:
    if stack == INVENTORY:
        return stack
    try:
        return project.get(stack).name
    except UnknownStackError as exc:
        raise InputError(f"{exc.message} (or `{INVENTORY}` for the inventory role)") from exc


def token_refusals(project: Project) -> list[str]:
    """Stacks the sandbox token endpoint refuses, sorted."""
    return tokens.read_refusals(sandbox_dir(project))


def refuse_token(project: Project, stack: str) -> list[str]:
    """Make the sandbox token endpoint refuse ``stack`` (HTTP 403) from now on."""
    name = _token_subject(project, stack)
    directory = sandbox_dir(project)
    refused = sorted({*tokens.read_refusals(directory), name})
    tokens.write_refusals(directory, refused)
    return refused


def allow_token(project: Project, stack: str) -> list[str]:
    """Lift a refusal; allowing a stack that is not refused is not an error."""
    directory = sandbox_dir(project)
    refused = [item for item in tokens.read_refusals(directory) if item != stack]
    tokens.write_refusals(directory, refused)
    return refused


def drift(project: Project, name: str) -> str:
    """Inject one drift scenario into the running sandbox."""
    if name not in scenarios.SCENARIOS:
        known = ", ".join(sorted(scenarios.SCENARIOS))
        raise InputError(f"unknown scenario {name!r}: choose one of {known} (see --list)")
    directory = sandbox_dir(project)
    state, running = status(project)
    if state is None or not running:
        raise SandboxError("the sandbox is not running: start it with `iacdrift sandbox up`")
    scenario = scenarios.SCENARIOS[name]
    if scenario.stack and scenario.stack not in state.appliedStacks:
        raise SandboxError(
            f"scenario {name} changes stack {scenario.stack}, which the sandbox has not "
            "applied: run `iacdrift sandbox up`"
        )
    target = Target(state.region, state.endpoint_url)
    try:
        done = scenarios.inject(name, sandbox_credentials(), target)
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(exc, f"scenario {name}", target) from exc
    except LookupError as exc:
        raise SandboxError(f"scenario {name}: {exc}") from exc
    state.scenarios.append(name)
    srv.save_state(directory, state)
    return done
