"""`iacdrift sandbox up | status | down | drift | token | reviewer`: the loopback cloud
and its estate.

Besides the moto server, `up` starts the stand-in OIDC token endpoint and
creates the least-privilege roles each stack (and the inventory) assumes with
the web identity, so the whole credentials path of a scheduled run works here.
It also creates two surgery reviewers (IAM users with an access key each, allowed
the surgery prefix of the state bucket only), so one person can play the author
and two reviewers of a state surgery.
"""

from __future__ import annotations

import secrets as secrets_module
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from iacdrift.aws import inventory
from iacdrift.aws.out_of_band import OutOfBand
from iacdrift.aws.provisioning import AccountBootstrap, bootstrap_account
from iacdrift.aws.session import Target
from iacdrift.aws.sts import session_name
from iacdrift.clock import Clock, utc_now
from iacdrift.core.ordering import dependency_order
from iacdrift.core.terraform_json import read_state
from iacdrift.credentials import DEFAULT_AUDIENCE, INVENTORY
from iacdrift.errors import InputError, RefusedError, SandboxError, UnknownStackError
from iacdrift.flows.workbench import Workbench, new_run_id
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project
from iacdrift.loaders.stack_hcl import read_configuration, remote_state_reads
from iacdrift.loaders.terraform_json import load_json
from iacdrift.models.context import ChangeRecord
from iacdrift.models.registry import CloudTarget
from iacdrift.primitives.wording import count
from iacdrift.sandbox import cloudtrail, iam, scenarios
from iacdrift.sandbox import server as srv
from iacdrift.sandbox import token_endpoint as tokens
from iacdrift.sandbox.identity import sandbox_credentials
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
    reviewers: list[iam.ReviewerKey] = field(default_factory=list)


def sandbox_dir(project: Project) -> Path:
    return project.resolve_path(project.settings.cloud.sandboxDir)


def _bootstrap_account(state: srv.SandboxState) -> None:
    """What exists in the account before any stack: the state bucket (versioned),
    the DynamoDB lock table, the database team's secret that prod-payments
    reads, corporate IT's office prefix list that prod-network reads, and the
    CloudTrail log bucket that `sandbox drift` delivers records to. Idempotent."""
    account = AccountBootstrap(
        state_bucket=state.stateBucket,
        lock_table=state.lockTable,
        secret_name=srv.BOOTSTRAP_SECRET,
        # A fresh random value per sandbox: nothing real, but it must never leak.
        secret_value=secrets_module.token_urlsafe(24),
        prefix_list_name=scenarios.OFFICE_PREFIX_LIST,
        prefix_list_max_entries=scenarios.OFFICE_PREFIX_LIST_MAX_ENTRIES,
        prefix_list_entries=scenarios.OFFICE_NETWORKS,
        log_bucket=cloudtrail.LOG_BUCKET,
    )
    bootstrap_account(account, sandbox_credentials(), Target(state.region, state.endpoint_url))


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
            pid=pid, port=port, startedAt=utc_now(), providerMirror=str(mirror.resolve())
        )
        started = True
        srv.save_state(directory, state)
    else:
        build_mirror(Path(state.providerMirror))
    _bootstrap_account(state)
    report = UpReport(state=state, started=started, state_dir=directory)
    report.token_endpoint = _ensure_token_endpoint(directory, progress)
    report.roles = provision_roles(project, state)
    report.reviewers = provision_reviewers(project, state).reviewers
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
    logs = settings.context.auditLogs if settings.context else None
    audit_buckets = [logs.bucket] if logs is not None and logs.bucket else []
    specs = iam.role_specs(accesses, settings.inventoryRoles.values(), buckets, audit_buckets)
    target = Target(state.region, state.endpoint_url)
    return iam.provision(specs, audience, sandbox_credentials(), target)


def state_buckets(project: Project, state: srv.SandboxState) -> list[str]:
    """The registered stacks' state buckets and the sandbox's own, sorted."""
    return sorted({s.unit.spec.state.bucket for s in project.stacks} | {state.stateBucket})


def provision_reviewers(project: Project, state: srv.SandboxState) -> iam.ReviewersRecord:
    """Create (or keep) the surgery reviewer users; their keys saved in the sandbox
    directory (reused by the next `up` while the server still knows them)."""
    return iam.provision_reviewers(
        state_buckets(project, state),
        sandbox_dir(project),
        sandbox_credentials(),
        Target(state.region, state.endpoint_url),
    )


def reviewer(project: Project, number: int) -> iam.ReviewerKey:
    """Reviewer ``number`` of the running sandbox (its user, ARN and key)."""
    state, running = status(project)
    if state is None or not running:
        raise SandboxError("the sandbox is not running: start it with `iacdrift sandbox up`")
    record = iam.load_reviewers(sandbox_dir(project))
    found = record.reviewer(number) if record is not None else None
    if found is None:
        known = len(iam.REVIEWER_USERS)
        raise SandboxError(
            f"the sandbox has no reviewer {number} (it makes reviewers 1 to {known}): "
            "run `iacdrift sandbox up` to create them"
        )
    return found


def status(project: Project) -> tuple[srv.SandboxState | None, bool]:
    """The recorded sandbox and whether its server is up and answering."""
    state = srv.load_state(sandbox_dir(project))
    if state is None:
        return None, False
    return state, srv.is_our_server(state.pid, state.port) and srv.is_answering(state.port)


def down(project: Project) -> str:
    directory = sandbox_dir(project)
    said = _stop_token_endpoint(directory)
    # moto keeps the users in memory: their keys die with the server.
    iam.forget_reviewers(directory)
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


DEFAULT_CHANGE_RECORDS = "changes"
CHANGE_RECORD_HEADER = "# Filed by `iacdrift sandbox drift` (sandbox scenario).\n"


@dataclass(frozen=True)
class ScenarioSummary:
    """One drift scenario, as `sandbox drift --list` shows it."""

    name: str
    stack: str | None
    summary: str
    actor: str
    pipeline_stack: str | None
    writes: str


def scenario_list() -> list[ScenarioSummary]:
    """Every drift scenario, sorted by name."""
    return [
        ScenarioSummary(
            name, item.stack, item.summary, item.actor, item.pipeline_stack, item.writes()
        )
        for name, item in sorted(scenarios.SCENARIOS.items())
    ]


@dataclass(frozen=True)
class DriftReport:
    """What `sandbox drift` did: the change, who it was made as, and what it wrote."""

    scenario: str
    message: str
    actor: str
    cloudtrail: str | None
    change_records: tuple[Path, ...] = ()
    # Stack files it edited the way a commit would (resource-renamed).
    edited: tuple[Path, ...] = ()

    def __str__(self) -> str:
        return self.message


def change_record_dir(project: Project) -> Path:
    """The project's change-record directory: `context.changeRecords` of
    iacdrift.yaml when set, else `changes/` beside it."""
    context = project.settings.context
    configured = context.changeRecords if context is not None else None
    return project.resolve_path(configured or DEFAULT_CHANGE_RECORDS)


def resolve_actor(
    project: Project, scenario: scenarios.Scenario, actor: str | None, run_id: str
) -> cloudtrail.Actor:
    """The actor of a scenario's change: ``actor`` (a name or an ARN), else the
    scenario's default. ``pipeline`` is the registered role of the stack the
    scenario applies (or changes), in the session iacdrift opens for ``run_id``."""
    chosen = actor or scenario.actor
    if chosen in cloudtrail.NAMED_ACTORS:
        return cloudtrail.NAMED_ACTORS[chosen]
    if chosen == "pipeline":
        stack = scenario.pipeline_stack
        if stack is None:
            raise InputError(
                f"--actor pipeline: scenario {scenario.name} changes no stack, so it has no "
                "pipeline; choose another actor"
            )
        role = project.get(stack).unit.spec.credentials.oidcRole
        return cloudtrail.pipeline_actor(role, session_name(stack, run_id))
    return cloudtrail.actor_from_arn(chosen)


def _pending_records(
    directory: Path, documents: list[dict[str, Any]]
) -> list[tuple[Path, str | None]]:
    """(path, text to write, or None when the file already holds exactly this record)
    of each record; refuses to overwrite a different record."""
    pending: list[tuple[Path, str | None]] = []
    for document in documents:
        try:
            ChangeRecord.model_validate(document)
        except ValidationError as exc:  # our own scenario built it: a bug, said plainly
            raise SandboxError(
                f"scenario change record {document.get('id')}: invalid "
                f"({count(exc.error_count(), 'problem')}); report this as a bug"
            ) from exc
        path = directory / f"{document['id']}.yaml"
        text = CHANGE_RECORD_HEADER + yaml.safe_dump(
            document, sort_keys=False, default_flow_style=False, allow_unicode=True
        )
        if path.exists():
            if path.read_text(encoding="utf-8") == text:
                pending.append((path, None))
                continue
            raise RefusedError(
                f"{path}: a different change record {document['id']} exists; not "
                "overwritten: move it away, or run the scenario again in a minute"
            )
        pending.append((path, text))
    return pending


def _write_record(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def drift(
    project: Project,
    name: str,
    *,
    actor: str | None = None,
    clock: Clock = utc_now,
) -> DriftReport:
    """Make one scenario's change in the running sandbox, as ``actor`` (default: the
    scenario's); deliver its CloudTrail records to the log bucket and file its
    change record, if it has one, in the change-record directory."""
    if name not in scenarios.SCENARIOS:
        known = ", ".join(sorted(scenarios.SCENARIOS))
        raise InputError(f"unknown scenario {name!r}: choose one of {known} (see --list)")
    scenario = scenarios.SCENARIOS[name]
    run_id = new_run_id()
    who = resolve_actor(project, scenario, actor, run_id)
    directory = sandbox_dir(project)
    state, running = status(project)
    if state is None or not running:
        raise SandboxError("the sandbox is not running: start it with `iacdrift sandbox up`")
    for stack in scenario.needs:
        if stack not in state.appliedStacks:
            raise SandboxError(
                f"scenario {name} changes stack {stack}, which the sandbox has not "
                "applied: run `iacdrift sandbox up`"
            )
    bench = (
        Workbench.open(project, cloud=CloudTarget.SANDBOX, run_id=run_id)
        if scenario.applies
        else None
    )
    records = [scenario.change_record(clock())] if scenario.change_record else []
    records_dir = change_record_dir(project)
    pending = _pending_records(records_dir, records)

    def apply_stack(stack: str) -> None:
        if bench is None or stack != scenario.applies:
            raise SandboxError(f"scenario {name} may not apply stack {stack}")
        with prepared(bench, bench.stack(stack)) as ready:
            ready.engine.apply(ready.call)

    def stack_dir(stack: str) -> Path:
        if scenario.edits is None or stack != scenario.stack:
            raise SandboxError(f"scenario {name} may not edit stack {stack}")
        return project.get(stack).stack_dir

    target = Target(state.region, state.endpoint_url)
    credentials = sandbox_credentials()
    run = scenarios.ScenarioRun(
        cloud=OutOfBand(credentials, target, f"scenario {name}"),
        actor=who,
        clock=clock,
        region=state.region,
        apply_stack=apply_stack,
        stack_dir=stack_dir,
    )
    try:
        done = scenario.inject(run)
    except LookupError as exc:
        raise SandboxError(f"scenario {name}: {exc}") from exc
    for path, text in pending:
        if text is not None:
            _write_record(path, text)
    delivered = (
        cloudtrail.deliver(run.calls, delivered=clock(), credentials=credentials, target=target)
        if run.calls
        else None
    )
    state.scenarios.append(name)
    srv.save_state(directory, state)
    edited = (
        (project.get(scenario.stack).stack_dir / scenario.edits,)
        if scenario.edits is not None and scenario.stack is not None
        else ()
    )
    return DriftReport(name, done, who.arn, delivered, tuple(path for path, _ in pending), edited)
