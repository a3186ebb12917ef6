"""`iacdrift check STACK`: the three-plane drift decision for one stack.

Cost: ONE normal plan with refresh per stack (and an init only when the
stack's persistent working copy is new or its files changed). The plan's JSON
carries both views we need: ``resource_drift`` (recorded vs actual, what a
refresh-only plan reports) and ``resource_changes`` (refreshed actual vs
desired). ``--separate-refresh-only`` adds a true refresh-only plan, for
audits that want it.

The plan file, its JSON and the pulled state hold secrets in cleartext: they
live in memory only; the plan file is deleted as soon as it is read (the
working copy keeps only .terraform/), and everything leaving this module went
through redaction. Findings are classified by core.decide with the policies,
audit events and change records of flows.classification.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from iacdrift.aws import cloudtrail, inventory, state_versions
from iacdrift.aws.session import AwsCredentials, Target
from iacdrift.aws.state_versions import StateObject
from iacdrift.clock import Clock, utc_now
from iacdrift.core import aggregates, planfacts, upgrade
from iacdrift.core import findings as assemble
from iacdrift.core.normalize import DEFAULT_PROVIDER, provider_defaults
from iacdrift.core.planes import Divergence, analyze, drift_view
from iacdrift.core.routing import findings_of
from iacdrift.core.samestate import disagreements
from iacdrift.core.state_history import ForgottenResource, claimed_ids, forgotten_resources
from iacdrift.core.subject import StackFacts
from iacdrift.core.terraform_json import PlanView, StateView, read_plan, read_state
from iacdrift.core.unmanaged import LiveResource, find_unmanaged
from iacdrift.engine.diagnostics import parse_lock_time
from iacdrift.errors import (
    IacdriftError,
    StateLockedError,
    TerraformError,
    TerraformFormatError,
    TerraformTimeoutError,
)
from iacdrift.flows.classification import (
    Classifier,
    audit_reader,
    role_account,
    state_regression,
)
from iacdrift.flows.lockfiles import requirement_key, save_lock, saved_lock, saved_lock_path
from iacdrift.flows.saved_report import write_check_files
from iacdrift.flows.state_history import read_history
from iacdrift.flows.workbench import EngineOptions, StackRef, Workbench
from iacdrift.flows.working_copy import CheckedOut, checked_out
from iacdrift.loaders.registry import load_project
from iacdrift.loaders.stack_hcl import read_configuration
from iacdrift.loaders.terraform_json import load_json
from iacdrift.locking import DEFAULT_STALE_LOCK_AFTER
from iacdrift.models.context import AuditEvent
from iacdrift.models.finding import (
    CheckReport,
    Finding,
    LockHolder,
    StackResult,
    StackStatus,
    StateRegression,
    Timings,
)
from iacdrift.models.outcomes import PlanOutcome
from iacdrift.models.registry import StateBackend
from iacdrift.store.history import HistoryStore, default_history_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckOptions:
    separate_refresh_only: bool = False
    clock: Clock = utc_now
    # `check` lists the stack's types (inventory identity); `run` reads the
    # inventory once per type for all stacks instead.
    per_stack_inventory: bool = True
    # A lock file to give a stack that has none (plugin-cache safety in runs).
    lock_file: str | None = None
    # A held state lock older than this is reported as stale (never force-unlocked).
    stale_lock_after: timedelta = DEFAULT_STALE_LOCK_AFTER
    # Policies, change records and audit events (loaded once per check or run).
    classifier: Classifier | None = None
    # The last result of each stack from the run history (state-regression check).
    previous: Mapping[str, StackResult] = field(default_factory=dict)
    # The provider versions of each stack's recent checks, newest first (provider
    # upgrades, core.upgrade).
    provider_history: Mapping[str, Sequence[Mapping[str, str]]] = field(default_factory=dict)


@dataclass
class Observation:
    """What one stack's check saw, for the estate-level (unmanaged) judgement."""

    managed_types: set[str] = field(default_factory=set)
    live: list[LiveResource] = field(default_factory=list)


def facts_for(ref: StackRef) -> StackFacts:
    unit = ref.unit
    if unit is None:
        return StackFacts(stack=ref.name, source_of_truth=f"file://{ref.directory}")
    spec = unit.spec
    source = f"git://{spec.source.repo}/{spec.source.path}"
    if spec.source.ref:
        source += f"?ref={spec.source.ref}"
    return StackFacts(
        stack=ref.name,
        environment=spec.environment,
        owner=spec.owner,
        risk_tier=spec.riskTier.value,
        source_of_truth=source,
        state_backend=spec.state.uri,
        auto_heal=spec.policies.autoHeal,
    )


def _unchecked(
    ref: StackRef, status: StackStatus, reason: str, checked_at: datetime, started: float
) -> StackResult:
    facts = facts_for(ref)
    return StackResult(
        stack=ref.name,
        status=status,
        reason=reason,
        checkedAt=checked_at,
        planOutcome=PlanOutcome.ERROR if status is StackStatus.ERROR else None,
        environment=facts.environment,
        owner=facts.owner,
        riskTier=facts.risk_tier,
        timings=Timings(totalSeconds=round(time.monotonic() - started, 3)),
    )


def _lock_holder(exc: StateLockedError, now: datetime, stale_after: timedelta) -> LockHolder:
    created = parse_lock_time(exc.lock.created)
    age = max(0.0, (now - created).total_seconds()) if created else None
    return LockHolder(
        id=exc.lock.id,
        operation=exc.lock.operation,
        who=exc.lock.who,
        created=exc.lock.created,
        path=exc.lock.path,
        ageSeconds=age,
        stale=age is not None and age > stale_after.total_seconds(),
    )


def check_stack(
    bench: Workbench, ref: StackRef, options: CheckOptions
) -> tuple[StackResult, Observation]:
    """Check one stack. Never raises for a stack that could not be checked: that is a
    result (ERROR or LOCKED), never CLEAN."""
    started = time.monotonic()
    checked_at = options.clock()
    observation = Observation()
    try:
        return _check_stack(bench, ref, options, checked_at, started, observation), observation
    except StateLockedError as exc:
        result = _unchecked(ref, StackStatus.LOCKED, exc.message, checked_at, started)
        result = result.model_copy(
            update={"lock": _lock_holder(exc, checked_at, options.stale_lock_after)}
        )
        return result, observation
    except IacdriftError as exc:
        result = _unchecked(ref, StackStatus.ERROR, exc.message, checked_at, started)
        if isinstance(exc, TerraformError | TerraformTimeoutError) and exc.log is not None:
            result = result.model_copy(update={"terraformLog": str(exc.log)})
        return result, observation


def _check_stack(
    bench: Workbench,
    ref: StackRef,
    options: CheckOptions,
    checked_at: datetime,
    started: float,
    observation: Observation,
) -> StackResult:
    salt = bench.fingerprint_salt()
    refresh_outcome: PlanOutcome | None = None
    refresh_seconds: float | None = None
    refresh_json: dict[str, Any] | None = None
    # The stack's persistent working copy: init only when its key changed. Plan and
    # show run in one engine call, which deletes the plan file before returning.
    # Without a lock file of its own, the one a run saved: `check` and `run` then share
    # the stack's working copy; else init writes one, saved for both from then on.
    lock_file = options.lock_file or saved_lock(bench, ref)
    with checked_out(bench, ref, lock_file=lock_file) as stack:
        reading = stack.plan_and_show()
        if lock_file is None and not (ref.directory / ".terraform.lock.hcl").exists():
            produced = stack.call.workdir / ".terraform.lock.hcl"
            if reading.init is not None and produced.is_file():
                save_lock(
                    saved_lock_path(bench, requirement_key(ref)),
                    produced.read_text(encoding="utf-8"),
                )
        t_state = time.monotonic()
        state_json, state_object = _recorded_state(bench, ref, stack)
        state_seconds = time.monotonic() - t_state
        plan = read_plan(reading.plan_json, f"{ref.name}: show -json of the plan")
        state = _state_view(ref, state_json)
        problem = _seed_problem(ref, stack, plan, state) if reading.seeded else None
        if problem is not None:
            reading = stack.replan_after_seed(problem)
            state_json, state_object = _recorded_state(bench, ref, stack)
            plan = read_plan(reading.plan_json, f"{ref.name}: show -json of the plan")
            state = _state_view(ref, state_json)
        plan_run, plan_json, show_seconds = reading.plan, reading.plan_json, reading.show_seconds
        if options.separate_refresh_only:
            refresh = stack.plan_and_show(refresh_only=True, plan_file="refresh-only.tfplan")
            refresh_json = refresh.plan_json
            refresh_outcome = refresh.plan.outcome
            refresh_seconds = refresh.plan.record.seconds
        credentials_source = stack.credentials_source
        version = stack.locked_version()
        engine_name = stack.engine.name
        init_seconds = reading.init.seconds if reading.init is not None else 0.0
    desired = read_configuration(ref.directory)
    providers = dict(version.providers) or _providers_from_plan(plan_json)
    divergences = analyze(
        plan,
        ignore_changes=desired.ignore_changes,
        salt=salt,
        defaults=provider_defaults(DEFAULT_PROVIDER, _version_of(providers, DEFAULT_PROVIDER)),
    )
    views_match: bool | None = None
    if refresh_json is not None:
        refresh_plan = read_plan(refresh_json, f"{ref.name}: show -json of the refresh-only plan")
        defaults = provider_defaults(DEFAULT_PROVIDER, _version_of(providers, DEFAULT_PROVIDER))
        refresh_view = drift_view(refresh_plan, salt=salt, defaults=defaults)
        views_match = drift_view(plan, salt=salt, defaults=defaults) == refresh_view
        if refresh_outcome is PlanOutcome.CHANGES and not refresh_view:
            # Terraform exits 2 on a refresh-only plan whenever a data source is
            # re-read (hashicorp/terraform#37406): judge by what the plan holds.
            outputs = refresh_json.get("output_changes") or {}
            moved = any(
                (change or {}).get("actions") not in (["no-op"], None)
                for change in outputs.values()
            )
            refresh_outcome = PlanOutcome.CHANGES if moved else PlanOutcome.NO_CHANGES

    recorded_types = {r.type for r in state.resources if r.mode == "managed"} if state else set()
    observation.managed_types = recorded_types | set(desired.resource_types)
    t_inventory = time.monotonic()
    if options.per_stack_inventory:
        # The read-only inventory identity: a least-privilege stack role may not list.
        observation.live = _inventory(bench, observation.managed_types)
    inventory_seconds = time.monotonic() - t_inventory

    t_history = time.monotonic()
    went_back = _went_back(bench, ref, options, state_object, state, divergences, observation)
    state_seconds += time.monotonic() - t_history

    facts = facts_for(ref)
    classifier = options.classifier or classifier_for(bench, checked_at)
    situation = classifier.situation(
        facts,
        checked_at,
        pipeline_roles=pipeline_roles(ref),
        previous=options.previous.get(ref.name),
        lineage=state.lineage if state else None,
        serial=state.serial if state else None,
    )
    if went_back.why is not None:
        # The backend's own history outranks this machine's run history.
        situation = dataclasses.replace(situation, state_regressed=went_back.why)
    live = planfacts.live_resources(plan_json, salt=salt)
    # Other registered states are read (once per run) only for aggregate drift that this
    # state's own members leave unexplained.
    own = aggregates.index_members(aggregates.members_of_live(live))
    others = (
        classifier.other_members() if aggregates.needs_other_states(divergences, live, own) else ()
    )
    stack_plan = assemble.StackPlan(
        live=live,
        other_members=others,
        account=stack_account(ref),
        data_changes=planfacts.data_source_changes(plan_json, state_json, salt=salt),
        data_dependencies=planfacts.data_dependencies(plan_json),
        refactor_pairs=planfacts.refactor_pairs(plan),
        ignore_changes=desired.ignore_changes,
        forgotten=went_back.forgotten,
        recorded=upgrade.recorded_by_address(state.resources) if state else {},
        providers=providers,
        upgrades=upgrade.upgrades(providers, options.provider_history.get(ref.name, ())),
    )
    found = assemble.stack_findings(divergences, stack_plan, situation, checked_at)
    if went_back.record is not None and situation.state_regressed:
        found = sorted(
            [
                *found,
                assemble.from_state_regression(
                    went_back.record, situation, checked_at, state_object_ref(ref)
                ),
            ],
            key=lambda f: (f.resourceRef, f.relationship.value, f.findingId),
        )
    resources = sum(1 for r in state.resources if r.mode == "managed") if state else 0
    status, counts = assemble.status_and_counts(found, resources)
    return StackResult(
        stack=ref.name,
        status=status,
        checkedAt=checked_at,
        planOutcome=plan_run.outcome,
        refreshOnlyOutcome=refresh_outcome,
        refreshOnlyViewMatches=views_match,
        engine=engine_name,
        terraformFlavor=version.flavor.value,
        terraformVersion=version.version,
        providers=providers,
        credentialsSource=credentials_source,
        environment=facts.environment,
        owner=facts.owner,
        riskTier=facts.risk_tier,
        stateLineage=state.lineage if state else None,
        stateSerial=state.serial if state else None,
        stateVersionId=state_object.version_id if state_object else None,
        stateRegression=went_back.record,
        warnings=list(went_back.warnings),
        counts=counts,
        timings=Timings(
            initSeconds=round(init_seconds, 3),
            planSeconds=round(plan_run.record.seconds, 3),
            showSeconds=round(show_seconds, 3),
            stateSeconds=round(state_seconds, 3),
            inventorySeconds=round(inventory_seconds, 3),
            refreshOnlySeconds=round(refresh_seconds, 3) if refresh_seconds else None,
            totalSeconds=round(time.monotonic() - started, 3),
        ),
        findings=found,
    )


def pipeline_roles(ref: StackRef) -> tuple[str, ...]:
    """The identities whose changes to this stack's resources are Terraform applies: its
    own role (and any session of it)."""
    if ref.unit is None:
        return ()
    role = ref.unit.spec.credentials.oidcRole
    name = role.rsplit("/", 1)[-1]
    account = role.split(":")[4] if role.count(":") >= 5 else "*"
    return (role, f"arn:aws:sts::{account}:assumed-role/{name}/*")


def _state_view(ref: StackRef, state_json: dict[str, Any] | None) -> StateView | None:
    return read_state(state_json, f"{ref.name}: state pull") if state_json is not None else None


def _seed_problem(
    ref: StackRef, stack: CheckedOut, plan: PlanView, state: StateView | None
) -> str | None:
    """Why a seeded working copy's plan cannot have read the state the registry names
    (core/samestate.py); None, and the copy kept, when it did."""
    problems = disagreements(plan, state) if ref.unit is not None else []
    if not problems:  # unregistered: the recorded plane came from that same copy
        stack.confirm_seed()
        return None
    assert ref.unit is not None
    log.warning(
        "%s: the plan in a seeded working copy did not read %s (%s); planning again after init",
        ref.name,
        ref.unit.spec.state.uri,
        problems[0],
    )
    return problems[0]


def _recorded_state(
    bench: Workbench, ref: StackRef, stack: CheckedOut
) -> tuple[dict[str, Any] | None, StateObject | None]:
    """The recorded plane. For a registered S3 stack: the state object itself, read
    with the stack's own credentials (what `state pull` returns, without starting
    Terraform and its provider again), with its S3 version id; otherwise
    `terraform state pull`."""
    if ref.unit is None:
        return stack.engine.state_pull(stack.call), None
    spec = ref.unit.spec.state
    found = state_versions.read_current(
        spec.bucket, spec.key, bench.credentials(ref), bench.target.with_region(spec.region)
    )
    if found is None:
        return None, None
    data = load_json(found.body, spec.uri)
    if not isinstance(data, dict):
        raise TerraformFormatError(f"{spec.uri}: the state is not a JSON object")
    return data, found


def _version_of(providers: Mapping[str, str], name: str) -> str | None:
    """The version of provider ``name`` (``hashicorp/aws``) among ``providers``
    (source -> version), whatever its registry host."""
    for source, version in providers.items():
        if upgrade.short_provider(source) == name:
            return version
    return None


def state_object_ref(ref: StackRef) -> str:
    """How a finding about the state object itself names it."""
    return ref.unit.spec.state.uri if ref.unit is not None else f"state:{ref.name}"


@dataclass(frozen=True)
class WentBack:
    """Whether the state went back behind one recorded before, and what that lost."""

    why: str | None = None
    record: StateRegression | None = None
    forgotten: Mapping[str, ForgottenResource] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _went_back(
    bench: Workbench,
    ref: StackRef,
    options: CheckOptions,
    state_object: StateObject | None,
    state: StateView | None,
    divergences: Sequence[Divergence],
    observation: Observation,
) -> WentBack:
    """The state's regression: from the backend's version history (core/state_history.py)
    when it can be read, else from the previous result in this machine's run history."""
    if ref.unit is None:
        return WentBack()
    spec = ref.unit.spec.state
    target = bench.target.with_region(spec.region)
    reading = read_history(spec, state_object, state, bench.credentials(ref), target)
    warnings = (reading.warning,) if reading.warning else ()
    regression = reading.regression
    if regression is None:
        previous = options.previous.get(ref.name)
        why = state_regression(
            previous, state.lineage if state else None, state.serial if state else None
        )
        if why is None or previous is None or previous.stateSerial is None or state is None:
            return WentBack(warnings=warnings)
        record = StateRegression(
            currentSerial=state.serial or 0,
            earlierSerial=previous.stateSerial,
            currentVersionId=state_object.version_id if state_object else None,
            earlierVersionId=previous.stateVersionId,
            earlierWrittenAt=previous.checkedAt,
            source="history",
        )
        return WentBack(why, record, warnings=warnings)
    record = StateRegression(
        currentSerial=regression.current.serial or 0,
        earlierSerial=regression.newer.serial or 0,
        currentVersionId=regression.current.version_id,
        earlierVersionId=regression.newer.version_id,
        earlierWrittenAt=regression.newer.last_modified,
        source="backend",
    )
    forgotten: dict[str, ForgottenResource] = {}
    creates = {d.address for d in divergences if "create" in d.planned_actions}
    if reading.newer_state is not None and creates:
        lost_types = {
            r.type for r in reading.newer_state.resources if r.address in creates and r.id
        }
        live, problem = _live_pairs(bench, options, observation, lost_types)
        if problem is not None:
            warnings = (*warnings, problem)
        forgotten = forgotten_resources(regression, reading.newer_state, state, creates, live)
    return WentBack(regression.describe(), record, forgotten, warnings)


def _live_pairs(
    bench: Workbench, options: CheckOptions, observation: Observation, types: set[str]
) -> tuple[set[tuple[str, str]], str | None]:
    """(type, id) of the live resources of ``types`` that the inventory can list (the
    check's own listing when it made one), and why that could not be read."""
    listable = {t for t in types if inventory.supported(t)}
    if not listable:
        return set(), None
    if options.per_stack_inventory and listable <= observation.managed_types:
        return {(r.type, r.id) for r in observation.live}, None
    try:
        live = inventory.list_live(listable, bench.inventory_credentials(), bench.target)
    except IacdriftError as exc:
        return set(), (
            f"the live {', '.join(sorted(listable))} were not listed ({exc.message}): "
            "resources the restored state lost are not told apart from new ones"
        )
    return {(r.type, r.id) for r in live}, None


def _providers_from_plan(plan_json: dict[str, Any]) -> dict[str, str]:
    """Provider versions as the plan's configuration section pins them."""
    config = plan_json.get("configuration") or {}
    found: dict[str, str] = {}
    for item in (config.get("provider_config") or {}).values():
        if isinstance(item, dict) and item.get("full_name"):
            found[str(item["full_name"])] = str(item.get("version_constraint") or "")
    return dict(sorted(found.items()))


def _inventory(bench: Workbench, types: set[str]) -> list[LiveResource]:
    listable = {t for t in types if inventory.supported(t)}
    return inventory.list_live(listable, bench.inventory_credentials(), bench.target)


def classifier_for(
    bench: Workbench, now: datetime, *, policies_dir: Path | None = None
) -> Classifier:
    """Policies, change records and a lazy audit reader for one check or run; audit logs
    in a bucket are read with the read-only inventory identity."""

    def read_bucket(
        bucket: str,
        prefix: str,
        account: str,
        regions: Sequence[str],
        since: datetime,
        until: datetime,
    ) -> list[AuditEvent]:
        credentials = bench.inventory_credentials(account)
        return cloudtrail.read_bucket(
            bucket, prefix, account, regions, since, until, credentials, bench.target
        )

    return Classifier.load(
        bench.project,
        policies_dir=policies_dir,
        read_audit=audit_reader(bench.project, read_bucket, now),
        read_members=lambda: aggregate_members_of_estate(bench),
    )


def stack_account(ref: StackRef) -> str | None:
    """The account of a registered stack's role; None for an unregistered directory."""
    return role_account(ref.unit.spec.credentials.oidcRole) if ref.unit is not None else None


def read_registered_state(spec: StateBackend, credentials: AwsCredentials, target: Target) -> Any:
    """A registered stack's state object, parsed, read-only with ``credentials`` (the
    inventory identity); None when there is none yet. IacdriftError when unreadable."""
    raw = inventory.read_state_object(spec.bucket, spec.key, credentials, target)
    return load_json(raw, spec.uri) if raw is not None else None


def aggregate_members_of_estate(bench: Workbench) -> list[aggregates.Member]:
    """The members of aggregates (core.aggregates) every registered state records, read
    with the inventory credentials. A state that cannot be read is skipped with a
    warning: it explains nothing, so more drift is reported, never less."""
    try:
        credentials = bench.inventory_credentials()
    except IacdriftError as exc:
        log.warning("no other state explains an aggregate: %s", exc.message)
        return []
    salt = bench.fingerprint_salt()
    found: list[aggregates.Member] = []
    for registered in bench.project.stacks:
        try:
            data = read_registered_state(registered.unit.spec.state, credentials, bench.target)
        except IacdriftError as exc:
            log.warning("%s: its state explains no aggregate: %s", registered.name, exc.message)
            continue
        if isinstance(data, dict):
            account = role_account(registered.unit.spec.credentials.oidcRole)
            found.extend(
                aggregates.members_of_state(data, stack=registered.name, account=account, salt=salt)
            )
    return found


def recorded_ids_of_estate(
    bench: Workbench, results: Sequence[StackResult] = ()
) -> tuple[dict[str, set[str]], list[str]]:
    """Every id recorded in every registered stack's state, read-only, with the
    inventory credentials, and the ids that ``results`` claim as lost by a restored
    state (the stack's IMPORT finding, never unmanaged). Returns (ids by type, problems)."""
    credentials = bench.inventory_credentials()
    ids: dict[str, set[str]] = {}
    for resource_type, claimed in claimed_ids(f for r in results for f in r.findings).items():
        ids.setdefault(resource_type, set()).update(claimed)
    problems: list[str] = []
    for registered in bench.project.stacks:
        state_spec = registered.unit.spec.state
        try:
            data = read_registered_state(state_spec, credentials, bench.target)
            if data is None:
                continue
            state = read_state(data, state_spec.uri)
        except IacdriftError as exc:
            problems.append(f"{registered.name}: {exc.message}")
            continue
        for resource in state.resources:
            if resource.mode == "managed" and resource.id:
                ids.setdefault(resource.type, set()).add(resource.id)
    return ids, problems


def check(
    bench: Workbench, stacks: Sequence[StackRef], options: CheckOptions | None = None
) -> CheckReport:
    """Check the given stacks, then judge unmanaged resources of the types they manage."""
    opts = options or CheckOptions()
    generated = opts.clock()
    if opts.classifier is None:
        opts = dataclasses.replace(opts, classifier=classifier_for(bench, generated))
    assert opts.classifier is not None
    classifier = opts.classifier
    results: list[StackResult] = []
    observations: list[Observation] = []
    for ref in stacks:
        result, observation = check_stack(bench, ref, opts)
        results.append(result)
        observations.append(observation)
    estate: list[Finding] = []
    problems: list[str] = []
    types = set().union(*(o.managed_types for o in observations)) if observations else set()
    live = sorted({item for o in observations for item in o.live})
    if live:
        recorded, problems = recorded_ids_of_estate(bench, results)
        for resource_type in types:
            recorded.setdefault(resource_type, set())
        if not problems:
            # An unreadable state would make its resources look unmanaged: judge nothing.
            exclusions = bench.project.settings.exclusions
            situation = classifier.situation(None, generated)
            estate = [
                assemble.from_unmanaged(item, situation, generated)
                for item in find_unmanaged(live, recorded, exclusions)
            ]
    return CheckReport(
        generatedAt=generated,
        results=results,
        estateFindings=estate,
        estateProblems=[*problems, *classifier.problems],
        policyVersion=classifier.policies.version,
        expiredRules=classifier.expired_rules(generated),
    )


@dataclass(frozen=True)
class CheckRequest:
    """What ``iacdrift check`` asks for."""

    stacks: tuple[str, ...]  # registry names or stack directories
    config_path: Path | None = None
    registry_dir: Path | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)
    separate_refresh_only: bool = False
    policies_dir: Path | None = None
    # None: .iacdrift/history.sqlite under the project root.
    history_file: Path | None = None
    # Also write check.json and check.md here.
    out_dir: Path | None = None


@dataclass(frozen=True)
class CheckOutcome:
    report: CheckReport
    written: tuple[Path, ...] = ()  # the --out files


def execute_check(request: CheckRequest, clock: Clock = utc_now) -> CheckOutcome:
    """``iacdrift check``: check the stacks, keep the registered stacks' results and the
    findings in the run history (for ``status``, ``run --due`` and ``iacdrift explain``)
    and write the ``--out`` files."""
    project = load_project(request.config_path, request.registry_dir)
    bench = Workbench.open(project, request.engine)
    refs = [bench.stack(name) for name in request.stacks]
    classifier = classifier_for(bench, clock(), policies_dir=request.policies_dir)
    history_path = request.history_file or default_history_path(project.root)
    with HistoryStore(history_path) as history:
        provider_history = {ref.name: history.recent_providers(ref.name) for ref in refs}
    options = CheckOptions(
        separate_refresh_only=request.separate_refresh_only,
        clock=clock,
        classifier=classifier,
        provider_history=provider_history,
    )
    report = check(bench, refs, options)
    # A check of a registered stack is a check: `status` and `run --due` count it.
    registered = [
        result for ref, result in zip(refs, report.results, strict=True) if ref.unit is not None
    ]
    with HistoryStore(history_path) as history:
        if registered:
            history.record_check(
                bench.run_id, report.generatedAt, clock(), registered, report.exit_code()
            )
        history.record_findings(None, findings_of(report))
    written = write_check_files(request.out_dir, report) if request.out_dir else []
    return CheckOutcome(report, tuple(written))
