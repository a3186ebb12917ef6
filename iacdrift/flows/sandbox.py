"""`iacdrift sandbox up | status | down | drift`: the loopback cloud and its estate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws.session import AwsCredentials, Target, client, describe_cloud_error
from iacdrift.configuration import remote_state_reads
from iacdrift.core.ordering import dependency_order
from iacdrift.errors import InputError, SandboxError
from iacdrift.flows.workbench import Workbench, prepared
from iacdrift.models.registry import CloudTarget
from iacdrift.registry import Project
from iacdrift.sandbox import scenarios
from iacdrift.sandbox import server as srv
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


def sandbox_dir(project: Project) -> Path:
    return project.resolve_path(project.settings.cloud.sandboxDir)


def sandbox_credentials() -> AwsCredentials:
    return AwsCredentials(srv.ACCESS_KEY_ID, srv.SECRET_ACCESS_KEY, source="sandbox")


def _ensure_backend(state: srv.SandboxState) -> None:
    """The state bucket (versioned) and the DynamoDB lock table, idempotently."""
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
    except (BotoCoreError, ClientError) as exc:
        raise describe_cloud_error(exc, "creating the sandbox state backend", target) from exc


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
    _ensure_backend(state)
    report = UpReport(state=state, started=started, state_dir=directory)
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
    return report


def status(project: Project) -> tuple[srv.SandboxState | None, bool]:
    """The recorded sandbox and whether its server is up and answering."""
    state = srv.load_state(sandbox_dir(project))
    if state is None:
        return None, False
    return state, srv.is_our_server(state.pid, state.port) and srv.is_answering(state.port)


def down(project: Project) -> str:
    directory = sandbox_dir(project)
    state = srv.load_state(directory)
    if state is None:
        return "no sandbox recorded; nothing to stop"
    stopped = srv.stop_server(state.pid, state.port)
    (directory / srv.STATE_FILE).unlink(missing_ok=True)
    if stopped:
        return f"stopped the moto server (pid {state.pid}, port {state.port})"
    return f"pid {state.pid} is no longer our moto server; forgot the record only"


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
