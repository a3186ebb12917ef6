"""`iacdrift run`: check every due (or named, or every) registered stack, safely.

Per stack: an orchestrator lease (so two iacdrift processes never check one
stack at once), the stack's own credentials, one init and one plan. Across
the run: a bounded worker pool, a start rate limit and a circuit breaker per
endpoint, bounded retries with jittered backoff on transient failures, and
ONE inventory read per resource type for unmanaged detection.

Terraform's plugin cache is not safe for concurrent writes (two inits without
a lock file racing to write the same cached binary fail with "text file
busy"). So the run warms the cache first, serially: one init per distinct
provider requirement; every later init of a stack without a lock file gets
the lock file that warm-up produced, so Terraform only links from the cache.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from iacdrift import locking
from iacdrift.aws import inventory
from iacdrift.ci.matrix import shard_members
from iacdrift.clock import Clock, utc_now
from iacdrift.core import findings as assemble
from iacdrift.core.reconcile.heal import heal_candidates, stack_policies
from iacdrift.core.reconcile.plan import files_digest, plan_repairs
from iacdrift.core.resilience import (
    Backoff,
    CircuitBreaker,
    RateLimiter,
    is_endpoint_failure,
    is_transient,
)
from iacdrift.core.routing import findings_of
from iacdrift.core.staleness import due_stacks
from iacdrift.core.unmanaged import find_unmanaged
from iacdrift.engine.workspace import prune_copies, slot_name, stack_files
from iacdrift.errors import IacdriftError
from iacdrift.flows.check import (
    CheckOptions,
    check_stack,
    classifier_for,
    recorded_ids_of_estate,
)
from iacdrift.flows.classification import Classifier
from iacdrift.flows.lockfiles import requirement_key, save_lock, saved_lock_path
from iacdrift.flows.notify import notify_run
from iacdrift.flows.registry import require_stacks
from iacdrift.flows.repair_apply import ApplyOptions, execute_plan
from iacdrift.flows.saved_report import write_run_files
from iacdrift.flows.workbench import EngineOptions, StackRef, Workbench
from iacdrift.flows.working_copy import learn_from_init, prepared
from iacdrift.loaders.registry import load_project
from iacdrift.loaders.stack_hcl import read_configuration
from iacdrift.models.finding import Finding, StackResult, StackStatus, Timings
from iacdrift.models.notification import NotificationReport
from iacdrift.models.repair import RepairResult
from iacdrift.models.run import (
    HealOutcome,
    HealRecord,
    RunReport,
    RunSelection,
    SkippedStack,
    WarmUp,
)
from iacdrift.primitives.duration import parse_duration
from iacdrift.store.history import HistoryError, HistoryStore, default_history_path

log = logging.getLogger(__name__)

# A full garbage collection after every this many stacks (see _Run.execute).
COLLECT_EVERY = 8

# Hears of each stack as it finishes: its result, or why this run skipped it.
Progress = Callable[[str, StackResult | SkippedStack, int, int], None]

# How often a run waiting for another holder's lease (--wait-for-lease) looks again.
LEASE_POLL_SECONDS = 2.0


def _no_progress(stack: str, outcome: StackResult | SkippedStack, done: int, total: int) -> None:
    pass


@contextmanager
def _silent() -> Iterator[Progress]:
    yield _no_progress


@dataclass(frozen=True)
class RunOptions:
    selection: RunSelection = RunSelection.DUE
    names: tuple[str, ...] = ()
    max_parallel: int = 2
    separate_refresh_only: bool = False
    lease_seconds: int = 1800
    starts_per_second: float = 4.0
    backoff: Backoff = field(default_factory=Backoff)
    breaker_threshold: int = 3
    clock: Clock = utc_now
    # Policies, change records, audit events: loaded once at the start of the run.
    classifier: Classifier | None = None
    policies_dir: Path | None = None
    # None: a stack whose lease another iacdrift holds is skipped (unknown: exit 1).
    # Else, once the other stacks are done, wait up to this long for the holder to
    # finish and report the result its run recorded (or check the stack if it left
    # none, e.g. a run on another machine with its own history).
    wait_for_lease: timedelta | None = None
    lease_poll_seconds: float = LEASE_POLL_SECONDS
    # Revert what AutoHealPolicy allows, bounded (see _Run.heal).
    auto_heal: bool = False
    # (I, N): only the stacks of the I-th of N shards (ci.matrix.shard_members).
    shard: tuple[int, int] | None = None


def select(bench: Workbench, options: RunOptions, history: HistoryStore) -> list[StackRef]:
    """The stacks of this run, critical tiers first."""
    project = bench.project
    # Nothing registered is not a clean estate: say so (exit 1) instead of "none due".
    require_stacks(project)
    if options.selection is RunSelection.NAMED:
        names = list(dict.fromkeys(options.names))
        for name in names:
            project.get(name)  # unknown names fail before anything runs
    else:
        units = [s.unit for s in project.stacks]
        if options.selection is RunSelection.DUE:
            last = {s.name: history.last_success(s.name) for s in project.stacks}
            names = due_stacks(units, last, options.clock())
        else:
            names = due_stacks(units, dict.fromkeys(project.names), options.clock())
    tiers = {s.name: s.unit.spec.riskTier.rank for s in project.stacks}
    if options.shard is not None:
        # Shards are dealt over the whole registry, not over what is due now: a stack
        # is in the same shard on every machine and at every hour.
        index, count = options.shard
        registered = [(s.name, s.unit.spec.riskTier.value) for s in project.stacks]
        mine = set(shard_members(registered, index, count))
        names = [name for name in names if name in mine]
    # Stable: within a tier, the order due_stacks (or the user) gave is kept.
    names = sorted(names, key=lambda n: tiers.get(n, 9))
    return [bench.stack(name) for name in names]


def endpoint_of(bench: Workbench) -> str:
    return bench.target.endpoint_url or f"aws:{bench.target.region}"


def warm_plugin_cache(
    bench: Workbench, refs: Sequence[StackRef]
) -> tuple[dict[str, str], list[WarmUp]]:
    """Init one stack per distinct provider requirement, serially; return the lock
    file each requirement produced (requirement key -> lock file text) and how each
    was obtained.

    The lock files are kept in ``.iacdrift/locks/`` (per requirement and CLI
    config): later runs take them from there and init nothing here.
    """
    locks: dict[str, str] = {}
    warmed: list[WarmUp] = []
    for ref in refs:
        key = requirement_key(ref)
        if key in locks or (ref.directory / ".terraform.lock.hcl").exists():
            continue
        saved = saved_lock_path(bench, key)
        if saved.is_file():
            locks[key] = saved.read_text(encoding="utf-8")
            warmed.append(WarmUp(requirement=key, source="saved"))
            continue
        try:
            with prepared(bench, ref) as stack:
                learn_from_init(bench, stack)  # fresh copies are seeded from here on
                warmed.append(
                    WarmUp(
                        requirement=key, source="init", stack=ref.name, seconds=stack.init.seconds
                    )
                )
                lock_path = stack.call.workdir / ".terraform.lock.hcl"
                if lock_path.exists():
                    locks[key] = lock_path.read_text(encoding="utf-8")
                    save_lock(saved, locks[key])
        except IacdriftError as exc:
            # The stack's own check reports the failure properly.
            warmed.append(WarmUp(requirement=key, source="init", stack=ref.name, error=exc.message))
            continue
    return locks, warmed


class _Run:
    def __init__(
        self,
        bench: Workbench,
        options: RunOptions,
        history: HistoryStore,
        run_id: str,
        progress: Progress,
    ) -> None:
        self.bench = bench
        self.options = options
        self.history = history
        self.run_id = run_id
        self.progress = progress
        self.limiter = RateLimiter(options.starts_per_second)
        self.breaker = CircuitBreaker(options.breaker_threshold)
        self.guard = threading.Lock()
        self.random = random.Random()
        self.done = 0
        self.total = 0
        self.skipped: list[SkippedStack] = []
        self.warmed: list[WarmUp] = []
        self.holders: dict[str, dict[str, str]] = {}
        self.heals: list[HealRecord] = []
        self.first_held: dict[str, float] = {}

    def _wait_for_slot(self, endpoint: str) -> bool:
        """False when the endpoint's circuit is open; else wait for our start slot.

        A reservation is taken once and then honoured: reserving again after the
        wait would push the bucket further negative and starve the workers.
        """
        with self.guard:
            now = time.monotonic()
            if not self.breaker.allow(endpoint, now):
                return False
            wait = self.limiter.reserve(endpoint, now)
        if wait > 0:
            time.sleep(wait)
        return True

    def _circuit_open(self, ref: StackRef, endpoint: str) -> StackResult:
        reason = (
            f"{ref.name}: not checked: the circuit for {endpoint} is open after repeated "
            f"failures (last: {self.breaker.reason(endpoint)}); fix the endpoint and rerun"
        )
        return self._error(ref, reason)

    def check_one(
        self, ref: StackRef, lock_file: str | None, *, wait_until: float | None = None
    ) -> StackResult | SkippedStack:
        """Check one stack under its lease and record the result, or say why not.

        ``wait_until`` (a ``time.monotonic()`` moment): while another iacdrift holds
        the lease, look again until then; the result that holder's run recorded
        answers for the stack (it records before it releases the lease). None: skip
        the stack at once.
        """
        with self.guard:
            # Run id -> holder of the lease holders met, kept across passes: a holder
            # met in the first pass may be done (and its result recorded) by the next.
            holders = self.holders.setdefault(ref.name, {})
        try:
            lease = locking.Lease(
                ref.name,
                table=self.bench.lease_table(),
                credentials=self.bench.orchestrator_credentials(),
                target=self.bench.target,
                run_id=self.run_id,
                duration=timedelta(seconds=self.options.lease_seconds),
                clock=self.options.clock,
            )
            while True:
                try:
                    with lease:
                        answer = self._recorded_answer(ref, holders)
                        if answer is not None:
                            return answer
                        previous = self.history.last_result(ref.name)
                        result = self._check_leased(ref, lock_file)
                        # Before the lease is released: a run waiting for it finds this.
                        self.history.record_result(self.run_id, result)
                        if self.options.auto_heal:
                            heal = self.heal(ref, result, previous, lease, lock_file)
                            if heal is not None:
                                with self.guard:
                                    self.heals.append(heal)
                        return result
                except locking.LeaseHeldError as exc:
                    now = time.monotonic()
                    run_id = locking.holder_run_id(exc.holder)
                    with self.guard:
                        if run_id is not None:
                            holders[run_id] = exc.holder
                        held_since = self.first_held.setdefault(ref.name, now)
                    answer = self._recorded_answer(ref, holders)
                    if answer is not None:
                        return answer
                    if wait_until is None or now >= wait_until:
                        return self._skipped(ref, exc, run_id, now - held_since, wait_until)
                    time.sleep(min(self.options.lease_poll_seconds, wait_until - now))
        except HistoryError:
            raise  # the run history is the run's own record: stop the run
        except IacdriftError as exc:
            # E.g. the lease table unreachable: this stack is unknown, the others go on.
            return self._record(self._error(ref, exc.message))
        except Exception as exc:
            # A bug must not take the whole run down: this stack is ERROR, others proceed.
            log.exception("%s: unexpected failure", ref.name)
            return self._record(
                self._error(ref, f"{ref.name}: unexpected {type(exc).__name__}: {exc}")
            )

    def _check_leased(self, ref: StackRef, lock_file: str | None) -> StackResult:
        """Check a stack whose lease this run holds: bounded retries, the circuit breaker."""
        endpoint = endpoint_of(self.bench)
        options = CheckOptions(
            separate_refresh_only=self.options.separate_refresh_only,
            clock=self.options.clock,
            per_stack_inventory=False,
            lock_file=lock_file,
            classifier=self.options.classifier,
            previous=_previous(self.history, ref.name),
            provider_history={ref.name: self.history.recent_providers(ref.name)},
        )
        result: StackResult | None = None
        earlier: StackResult | None = None  # the first failed attempt
        for attempt in range(1, self.options.backoff.attempts + 1):
            if not self._wait_for_slot(endpoint):
                return self._circuit_open(ref, endpoint)
            result, _ = check_stack(self.bench, ref, options)
            if earlier is not None:
                result = own_leftover_lock(result, earlier)
            failed = result.status is StackStatus.ERROR and result.reason
            with self.guard:
                if failed and is_endpoint_failure(result.reason or ""):
                    self.breaker.record_failure(endpoint, result.reason or "", time.monotonic())
                elif not failed:
                    self.breaker.record_success(endpoint)
            if not failed or not is_transient(result.reason or ""):
                break
            earlier = earlier or result
            if attempt < self.options.backoff.attempts:
                time.sleep(self.options.backoff.delay(attempt, self.random.random))
        assert result is not None  # backoff.attempts >= 1
        return result

    def heal(
        self,
        ref: StackRef,
        result: StackResult,
        previous: StackResult | None,
        lease: locking.Lease,
        lock_file: str | None,
    ) -> HealRecord | None:
        """Bounded auto-heal of one checked stack, under the run's lease: the candidates
        and preconditions of :func:`heal_candidates`, the run's rate limit and circuit
        breaker, then ``repair apply``'s machinery as an unattended caller (no incident
        revert, object cap, targeted-plan bounds, change records, verification,
        rollback). None when there is nothing to heal."""
        classifier = self.options.classifier
        spec = ref.unit.spec if ref.unit is not None else None
        policies = (
            stack_policies(
                classifier.policies.auto_heal_policies,
                risk_tier=spec.riskTier.value,
                environment=spec.environment,
            )
            if classifier is not None and spec is not None
            else []
        )
        decision = heal_candidates(
            result,
            previous,
            enabled=spec is not None and spec.policies.autoHeal,
            require_healthy=not policies or any(p.requireHealthyBeforeHeal for p in policies),
        )
        if not decision.findings:
            return None
        ids = sorted(f.findingId for f in decision.findings)
        addresses = sorted({f.resourceRef for f in decision.findings})

        def record(outcome: HealOutcome, reason: str | None, **extra: Any) -> HealRecord:
            return HealRecord(
                stack=ref.name,
                findingIds=ids,
                addresses=addresses,
                outcome=outcome,
                reason=reason,
                **extra,
            )

        if decision.skip is not None:
            return record(HealOutcome.SKIPPED, decision.skip)
        endpoint = endpoint_of(self.bench)
        if not self._wait_for_slot(endpoint):
            return record(
                HealOutcome.SKIPPED, f"the circuit for {endpoint} is open; healed next time"
            )
        try:
            plan = plan_repairs(
                ref.name,
                decision.findings,
                files_digest=files_digest(stack_files(ref.directory)),
                state_lineage=result.stateLineage,
                state_serial=result.stateSerial,
                today=self.options.clock().date(),
            )
            done = execute_plan(
                self.bench,
                ref,
                plan,
                ApplyOptions(
                    yes=True,
                    person=False,
                    clock=self.options.clock,
                    classifier=classifier,
                    lease=lease,
                    lock_file=lock_file,
                    known_findings=frozenset(f.findingId for f in result.findings),
                ),
            )
        except IacdriftError as exc:
            self._heal_failed(endpoint, exc.message)
            return record(HealOutcome.FAILED, exc.message)
        outcome = {
            RepairResult.REPAIRED: HealOutcome.HEALED,
            RepairResult.REFUSED: HealOutcome.REFUSED,
            RepairResult.NOTHING_TO_DO: HealOutcome.SKIPPED,
            RepairResult.ROLLED_BACK: HealOutcome.ROLLED_BACK,
        }.get(done.result, HealOutcome.FAILED)
        if outcome in (HealOutcome.FAILED, HealOutcome.ROLLED_BACK):
            self._heal_failed(endpoint, done.reason or outcome.value)
        return record(
            outcome,
            done.reason,
            planId=plan.planId,
            changeRecords=[s.changeRecord for s in done.steps if s.changeRecord],
            verification=done.verification,
        )

    def _heal_failed(self, endpoint: str, reason: str) -> None:
        """A heal that failed counts against the endpoint's circuit: repeated failures
        stop further heals (and checks) there for the run."""
        with self.guard:
            self.breaker.record_failure(endpoint, f"auto-heal failed: {reason}", time.monotonic())

    def _recorded_answer(self, ref: StackRef, holders: dict[str, str]) -> SkippedStack | None:
        """The result one of the lease holders met recorded for this stack."""
        for run_id, holder in list(holders.items()):
            if run_id == self.run_id:
                continue
            result = self.history.result_of_run(run_id, ref.name)
            if result is None:
                continue
            waited = time.monotonic() - self.first_held.get(ref.name, time.monotonic())
            return SkippedStack(
                stack=ref.name,
                reason=(
                    f"{ref.name}: another iacdrift run held its orchestrator lease ({holder}); "
                    f"waited {waited:.0f}s for it; its result is the one run {run_id} recorded"
                ),
                holder=holder,
                holderRunId=run_id,
                result=result,
            )
        return None

    def _skipped(
        self,
        ref: StackRef,
        exc: locking.LeaseHeldError,
        run_id: str | None,
        waited: float,
        wait_until: float | None,
    ) -> SkippedStack:
        reason = exc.message
        if wait_until is not None:
            reason += (
                f"; waited {waited:.0f}s (--wait-for-lease) and it was still held, so this "
                "run has no answer for it"
            )
        else:
            reason += "; this run has no answer for it (--wait-for-lease waits for one)"
        return SkippedStack(stack=ref.name, reason=reason, holder=exc.holder, holderRunId=run_id)

    def _record(self, result: StackResult) -> StackResult:
        self.history.record_result(self.run_id, result)
        return result

    def _error(self, ref: StackRef, reason: str) -> StackResult:
        return StackResult(
            stack=ref.name,
            status=StackStatus.ERROR,
            reason=reason,
            checkedAt=self.options.clock(),
            timings=Timings(),
        )

    def execute(self, refs: Sequence[StackRef]) -> list[StackResult]:
        """Check ``refs``; return this run's own results (``self.skipped``: the others).

        Stacks whose lease another iacdrift holds are skipped in a first pass; with
        ``wait_for_lease`` they are then waited for, together, once the rest is done.
        """
        self.total = len(refs)
        locks, self.warmed = warm_plugin_cache(self.bench, refs)
        results: list[StackResult] = []
        # Terraform runs for at most max_parallel stacks at once; one more worker gets
        # the next stack's lease, credentials and working copy meanwhile, so a core is
        # not left idle between two stacks' Terraform processes.
        parallel = max(1, self.options.max_parallel)
        self.bench = dataclasses.replace(self.bench, terraform_slots=threading.Semaphore(parallel))
        wait = self.options.wait_for_lease
        with ThreadPoolExecutor(max_workers=parallel + 1) as pool:
            held = self._pass(pool, refs, locks, None, results, final=wait is None)
            if wait is not None and held:
                until = time.monotonic() + wait.total_seconds()
                # Every waiting stack needs its own worker: none may wait behind another.
                with ThreadPoolExecutor(max_workers=len(held)) as waiting:
                    self._pass(waiting, held, locks, until, results, final=True)
        self._prune_copies()
        order = {ref.name: i for i, ref in enumerate(refs)}
        return sorted(results, key=lambda r: order[r.stack])

    def _pass(
        self,
        pool: ThreadPoolExecutor,
        refs: Sequence[StackRef],
        locks: dict[str, str],
        wait_until: float | None,
        results: list[StackResult],
        *,
        final: bool,
    ) -> list[StackRef]:
        """Check ``refs`` in ``pool``; return the skipped ones when not ``final`` (they
        are tried again), else keep them in ``self.skipped``."""
        futures = {
            pool.submit(
                self.check_one, ref, locks.get(requirement_key(ref)), wait_until=wait_until
            ): ref
            for ref in refs
        }
        again: list[StackRef] = []
        for future in as_completed(futures):
            ref = futures[future]
            outcome = future.result()
            if isinstance(outcome, SkippedStack) and not final:
                again.append(ref)
                continue
            with self.guard:
                self.done += 1
                done = self.done
            if isinstance(outcome, SkippedStack):
                self.skipped.append(outcome)
            else:
                results.append(outcome)
            self.progress(ref.name, outcome, done, self.total)
            if done % COLLECT_EVERY == 0:
                # Belt and braces: each stack leaves cyclic garbage (boto3 clients,
                # sessions); load_json collects the young generations before it
                # promotes a parsed plan, and this bounds what reaches the oldest.
                gc.collect()
        return again

    def _prune_copies(self) -> None:
        """Working copies of stacks no longer registered go once unused long enough."""
        project = self.bench.project
        keep = {slot_name(s.name, s.stack_dir) for s in project.stacks}
        retention = parse_duration(project.settings.terraform.workdirRetention)
        removed = prune_copies(
            self.bench.workdir_root,
            keep,
            unused_for=retention.total_seconds(),
            now=self.options.clock().timestamp(),
        )
        for slot in removed:
            log.info("removed the working copy %s (unregistered, unused for %s)", slot, retention)


def run(
    bench: Workbench,
    options: RunOptions,
    history: HistoryStore,
    progress: Progress = _no_progress,
) -> RunReport:
    run_id = getattr(bench, "run_id", None) or uuid.uuid4().hex[:12]
    started = options.clock()
    if options.classifier is None:
        # Bad policy or change-record files stop the run before any stack is checked.
        classifier = classifier_for(bench, started, policies_dir=options.policies_dir)
        options = dataclasses.replace(options, classifier=classifier)
    assert options.classifier is not None
    classifier = options.classifier
    refs = select(bench, options, history)
    history.record_run_start(run_id, started, options.selection)
    runner = _Run(bench, options, history, run_id, progress)
    results = runner.execute(refs)

    estate: list[Finding] = []
    problems: list[str] = []
    types = {t for ref in refs for t in _managed_types(ref)}
    listable = {t for t in types if inventory.supported(t)}
    if refs and listable:
        try:
            # ONE read per type for the whole run, with the read-only inventory identity.
            live = inventory.list_live(listable, bench.inventory_credentials(), bench.target)
            recorded, problems = recorded_ids_of_estate(bench, results)
            for resource_type in listable:
                recorded.setdefault(resource_type, set())
            if not problems:
                situation = classifier.situation(None, started)
                estate = [
                    assemble.from_unmanaged(item, situation, started)
                    for item in find_unmanaged(live, recorded, bench.project.settings.exclusions)
                ]
        except IacdriftError as exc:
            problems.append(f"inventory: {exc.message}")
    finished = options.clock()
    report = RunReport(
        runId=run_id,
        startedAt=started,
        finishedAt=finished,
        registry=str(bench.project.registry_dir),
        selection=options.selection,
        maxParallel=options.max_parallel,
        results=results,
        estateFindings=estate,
        estateProblems=[*problems, *classifier.problems],
        skipped=sorted(runner.skipped, key=lambda s: s.stack),
        policyVersion=classifier.policies.version,
        expiredRules=classifier.expired_rules(started),
        warmUp=runner.warmed,
        heals=sorted(runner.heals, key=lambda h: h.stack),
    )
    history.record_findings(run_id, findings_of(report))
    history.record_run_end(run_id, finished, report.exit_code())
    return report


def own_leftover_lock(result: StackResult, earlier: StackResult) -> StackResult:
    """A retry that finds the state locked by a lock taken while an earlier attempt of
    this run was running and failed (this run holds the stack's lease, so no other
    iacdrift checks it): most likely that attempt's own plan lock, written although
    an error came back. Say so,
    with the earlier failure; still LOCKED (it is), and never force-unlocked here."""
    lock = result.lock
    if result.status is not StackStatus.LOCKED or lock is None or not lock.ageSeconds:
        return result  # not locked, or locked by something that began after this attempt
    created = result.checkedAt - timedelta(seconds=lock.ageSeconds)
    slack = timedelta(seconds=1)
    earlier_ended = earlier.checkedAt + timedelta(seconds=earlier.timings.totalSeconds)
    if not earlier.checkedAt - slack <= created <= earlier_ended + slack:
        return result  # taken before the earlier attempt, or after it ended
    reason = (
        f"{result.stack}: state is locked (lock id {lock.id or '?'}, {lock.operation or '?'} "
        f"by {lock.who or '?'}, since {lock.created or '?'}) since this run's earlier attempt "
        f"failed ({earlier.reason}); most likely that attempt's own lock, written although "
        "an error came back. A run never force-unlocks: check that no one else is "
        "running Terraform on it, then release it through a reviewed surgery "
        f"(`op: force-unlock`, lockId: {lock.id or 'LOCK_ID'})"
    )
    return result.model_copy(update={"reason": reason})


def _previous(history: HistoryStore, stack: str) -> dict[str, StackResult]:
    last = history.last_result(stack)
    return {stack: last} if last is not None else {}


def _managed_types(ref: StackRef) -> set[str]:
    return set(read_configuration(ref.directory).resource_types)


@dataclass(frozen=True)
class RunRequest:
    """What ``iacdrift run`` asks for."""

    config_path: Path | None = None
    registry_dir: Path | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)
    selection: RunSelection = RunSelection.DUE
    names: tuple[str, ...] = ()  # with RunSelection.NAMED
    max_parallel: int = 2
    separate_refresh_only: bool = False
    policies_dir: Path | None = None
    # None: .iacdrift/history.sqlite under the project root.
    history_file: Path | None = None
    # Also write run.json, run.md and run.txt here.
    out_dir: Path | None = None
    # Route the findings (deduplicated against the notification log).
    notify: bool = True
    # None: .iacdrift/notifications.sqlite under the project root.
    notification_log: Path | None = None
    # Wait this long for stacks whose lease another iacdrift holds (RunOptions).
    wait_for_lease: timedelta | None = None
    # Bounded auto-heal (RunOptions.auto_heal).
    auto_heal: bool = False
    # Only the I-th of N shards (RunOptions.shard).
    shard: tuple[int, int] | None = None


@dataclass(frozen=True)
class RunOutcome:
    report: RunReport
    # None: not asked to notify, or no Route policies.
    notifications: NotificationReport | None = None
    written: tuple[Path, ...] = ()  # the --out files


def execute_run(
    request: RunRequest,
    display: Callable[[], AbstractContextManager[Progress]] = _silent,
    *,
    echo: Callable[[str], None] = print,
    notified: Callable[[NotificationReport], None] | None = None,
) -> RunOutcome:
    """``iacdrift run``: check the selected stacks (:func:`run`, recorded in the run
    history), route the findings, then write the ``--out`` files.

    ``display`` is entered while the stacks are checked (not while notifying) and
    yields what hears of each stack as it finishes; ``echo`` prints for stdout
    notification targets; ``notified`` hears the notification report as soon as
    the findings were routed (before the files are written).
    """
    project = load_project(request.config_path, request.registry_dir)
    require_stacks(project)  # before the cloud: the first thing to fix
    bench = Workbench.open(project, request.engine)
    options = RunOptions(
        selection=request.selection,
        names=request.names,
        max_parallel=request.max_parallel,
        separate_refresh_only=request.separate_refresh_only,
        policies_dir=request.policies_dir,
        wait_for_lease=request.wait_for_lease,
        auto_heal=request.auto_heal,
        shard=request.shard,
    )
    history_file = request.history_file or default_history_path(project.root)
    with HistoryStore(history_file) as history, display() as progress:
        report = run(bench, options, history, progress)
    notifications = None
    if request.notify:
        notifications = notify_run(
            report,
            project,
            policies_dir=request.policies_dir,
            log_path=request.notification_log,
            echo=echo,
        )
        if notified is not None and notifications is not None:
            notified(notifications)
    written = write_run_files(request.out_dir, report) if request.out_dir else []
    return RunOutcome(report, notifications, tuple(written))
