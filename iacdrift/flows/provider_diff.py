"""`iacdrift provider-diff`: what a provider upgrade would change, before it lands.

For each stack: pull its state once, then plan it twice, under the provider version
it uses now and under the target version, each in a private scratch copy of the stack
whose backend an override file makes a local copy of that one state
(``engine.init_local``), with ``-lock=false`` (the copies are nobody else's). The
stack directory, the real state object and its lock, and the cloud are never
written: a plan only reads. The two plans are compared by
:mod:`iacdrift.core.upgrade_compare` (representation / schema / behaviour, and the
drift both versions see), and the schema and representation differences of every
stack become suggested IgnoreRule entries, once for the estate.

The pulled state and the plans hold secrets in cleartext: the state lives in a 0700
directory removed afterwards, the plan files are deleted as soon as they are read,
and everything leaving this module went through redaction.

With ``--all``: every registered stack whose required_providers name the provider, in
parallel (``--max-parallel``), each copy's init given a lock file so it links the
providers from the shared plugin cache; a stack whose copies would have none runs
alone first and leaves them (Terraform's cache is not safe for concurrent writes).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from iacdrift.aws import state_versions
from iacdrift.clock import Clock, utc_now
from iacdrift.core.terraform_json import read_plan, read_state
from iacdrift.core.upgrade import short_provider
from iacdrift.core.upgrade_compare import build_report, compare_stack
from iacdrift.engine.workspace import private_dir, scratch_copy
from iacdrift.errors import IacdriftError, InputError
from iacdrift.flows.lockfiles import requirement_key, save_lock, saved_lock, saved_lock_path
from iacdrift.flows.workbench import EngineOptions, StackRef, Workbench
from iacdrift.loaders.registry import load_project
from iacdrift.loaders.stack_hcl import (
    locked_providers,
    provider_requirements,
    read_configuration,
)
from iacdrift.loaders.terraform_json import load_json
from iacdrift.models.provider_diff import (
    ComparisonOutcome,
    ComparisonTimings,
    ProviderDiffReport,
    StackComparison,
)

log = logging.getLogger(__name__)

STATE_FILE = "terraform.tfstate"
# Beside engine.local_state's backend override, in the scratch copy only.
VERSION_OVERRIDE = "zz_iacdrift_provider_version_override.tf"


@dataclass(frozen=True)
class ProviderDiffRequest:
    """What ``iacdrift provider-diff`` asks for."""

    provider: str  # hashicorp/aws
    to_version: str
    stacks: tuple[str, ...] = ()
    all_stacks: bool = False
    from_version: str | None = None  # None: the version each stack uses now
    config_path: Path | None = None
    registry_dir: Path | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)
    max_parallel: int = 4


def _requirement(ref: StackRef, provider: str) -> tuple[str, str] | None:
    """(local name, source as the stack writes it) of ``provider`` in the stack's
    required_providers: the override must name the same source (a private registry
    host, OpenTofu's or Terraform's) or it would plan another provider."""
    for entry in provider_requirements(ref.directory):
        name, _, rest = entry.partition("=")
        source = rest.rsplit("@", 1)[0]
        if short_provider(source) == provider or (
            "/" not in source and f"hashicorp/{source}" == provider
        ):
            return name, source if "/" in source else provider
    return None


def _uses(ref: StackRef, provider: str) -> bool:
    return _requirement(ref, provider) is not None


def _has_resources_of(ref: StackRef, provider: str) -> bool:
    """The stack declares resources of the provider's type (``aws_*``)."""
    prefix = provider.rsplit("/", 1)[-1] + "_"
    return any(t.startswith(prefix) for t in read_configuration(ref.directory).resource_types)


_LOCK_BLOCK = re.compile(r'^provider "([^"]+)" \{\n.*?^\}\n?', re.MULTILINE | re.DOTALL)


def without_provider(lock_text: str, provider: str) -> str:
    """A ``.terraform.lock.hcl`` without the block of ``provider``: the copy pinned to
    another version keeps every other provider as the stack locked it."""
    return _LOCK_BLOCK.sub(
        lambda match: "" if short_provider(match.group(1)) == provider else match.group(0),
        lock_text,
    )


def version_override(local_name: str, provider: str, version: str) -> str:
    """An override file pinning ``provider`` (local name ``local_name``) to exactly
    ``version`` (Terraform merges required_providers of override files entry by entry,
    replacing that entry's constraint)."""
    return (
        "# Written by iacdrift provider-diff in a scratch copy; never in a stack.\n"
        "terraform {\n"
        "  required_providers {\n"
        f"    {local_name} = {{\n"
        f'      source  = "{provider}"\n'
        f'      version = "{version}"\n'
        "    }\n"
        "  }\n"
        "}\n"
    )


@dataclass(frozen=True)
class _Plan:
    json: dict[str, object]
    version: str
    init_seconds: float
    plan_seconds: float


class _LockFiles:
    """Lock files handed to each copy's init, so that parallel inits link providers
    from the shared plugin cache instead of writing to it (a provider binary rewritten
    while another stack's plan runs it fails with "text file busy"). A copy at the
    stack's own version gets the stack's lock file, or the one a run or check saved
    for its requirement (flows/lockfiles.py), else it saves the one its init wrote;
    a pinned version gets the lock file the first init of that version wrote for a
    stack with the same requirements (engine and required_providers), else the
    stack's own lock file without the compared provider's block."""

    def __init__(self, bench: Workbench) -> None:
        self.bench = bench
        self.pinned: dict[tuple[str, str], str] = {}
        self.guard = threading.Lock()

    @staticmethod
    def _flavor(ref: StackRef) -> str:
        return requirement_key(ref)

    def known(self, ref: StackRef, version: str | None) -> bool:
        if version is None:
            committed = (ref.directory / ".terraform.lock.hcl").exists()
            return committed or saved_lock(self.bench, ref) is not None
        with self.guard:
            return (self._flavor(ref), version) in self.pinned

    def own(self, ref: StackRef) -> str | None:
        """The lock file the stack's copy starts from: its own, or the saved one."""
        committed = ref.directory / ".terraform.lock.hcl"
        if committed.is_file():
            return committed.read_text(encoding="utf-8")
        return saved_lock(self.bench, ref)

    def give(self, ref: StackRef, version: str | None) -> str | None:
        if version is None:
            return saved_lock(self.bench, ref)
        with self.guard:
            return self.pinned.get((self._flavor(ref), version))

    def learn(self, ref: StackRef, version: str | None, workdir: Path) -> None:
        produced = workdir / ".terraform.lock.hcl"
        if not produced.is_file():
            return
        text = produced.read_text(encoding="utf-8")
        if version is None:
            if not self.known(ref, None):
                save_lock(saved_lock_path(self.bench, requirement_key(ref)), text)
            return
        with self.guard:
            self.pinned.setdefault((self._flavor(ref), version), text)


def _plan_under(
    bench: Workbench,
    ref: StackRef,
    state_body: bytes,
    provider: str,
    version: str | None,
    locks: _LockFiles,
) -> _Plan:
    """Plan ``ref`` in a scratch copy on a private copy of its state, with ``provider``
    pinned to ``version`` (None: as the stack says, with its lock file)."""
    engine = bench.engine(ref)
    credentials = bench.credentials(ref)
    with scratch_copy(ref.directory, bench.scratch_parent) as workdir:
        private = private_dir(bench.scratch_parent, "iacdrift-provider-diff-")
        try:
            state_file = private / STATE_FILE
            state_file.write_bytes(state_body)
            state_file.chmod(0o600)
            lock_path = workdir / ".terraform.lock.hcl"
            lock_file = locks.give(ref, version)
            if version is not None:
                # The stack's lock file pins the version it uses now: the copy gets the
                # one an init of the pinned version wrote for the same requirements, else
                # the stack's own without the compared provider (the others stay put).
                lock_path.unlink(missing_ok=True)
                if lock_file is None:
                    own = locks.own(ref)
                    lock_file = without_provider(own, provider) if own is not None else None
            if lock_file is not None and not lock_path.exists():
                lock_path.write_text(lock_file, encoding="utf-8")
            if version is not None:
                requirement = _requirement(ref, provider)
                if requirement is None:
                    raise InputError(f"{ref.name}: its required_providers name no {provider}")
                local_name, source = requirement
                (workdir / VERSION_OVERRIDE).write_text(
                    version_override(local_name, source, version), encoding="utf-8"
                )
            call = bench.call(ref, workdir, credentials)
            init = engine.init_local(call, state_file)
            locks.learn(ref, version, workdir)
            reading = engine.plan_local_and_show(call)
            planned = {
                short_provider(source): found for source, found in locked_providers(workdir).items()
            }.get(provider)
        finally:
            shutil.rmtree(private, ignore_errors=True)
    if planned is None:
        raise InputError(f"{ref.name}: init installed no {provider}; does the stack require it?")
    return _Plan(reading.plan_json, planned, init.seconds, reading.plan.record.seconds)


def compare_one(
    bench: Workbench, ref: StackRef, request: ProviderDiffRequest, locks: _LockFiles
) -> StackComparison:
    """One stack compared; never raises for a stack that could not be compared: that
    is an ERROR result (exit 1), never SAFE."""
    started = time.monotonic()
    try:
        return _compare(bench, ref, request, locks, started)
    except IacdriftError as exc:
        return _error(ref, request, exc.message, started)
    except Exception as exc:
        # A bug or an OS error must not take the other stacks' comparisons down.
        log.exception("%s: unexpected failure comparing provider versions", ref.name)
        return _error(ref, request, f"{ref.name}: unexpected {type(exc).__name__}: {exc}", started)


def _error(
    ref: StackRef, request: ProviderDiffRequest, reason: str, started: float
) -> StackComparison:
    return StackComparison(
        stack=ref.name,
        provider=request.provider,
        fromVersion=request.from_version or "?",
        toVersion=request.to_version,
        outcome=ComparisonOutcome.ERROR,
        reason=reason,
        timings=ComparisonTimings(totalSeconds=round(time.monotonic() - started, 3)),
    )


def _compare(
    bench: Workbench,
    ref: StackRef,
    request: ProviderDiffRequest,
    locks: _LockFiles,
    started: float,
) -> StackComparison:
    if ref.unit is None:
        raise InputError(
            f"{ref.name}: provider-diff compares registered stacks (their state is read "
            "from the registry's backend); register it in registry/"
        )
    if not _uses(ref, request.provider):
        raise InputError(
            f"{ref.name}: its required_providers name no {request.provider}; provider-diff "
            "pins the version there: declare it (terraform { required_providers { ... } })"
        )
    spec = ref.unit.spec.state
    found = state_versions.read_current(
        spec.bucket, spec.key, bench.credentials(ref), bench.target.with_region(spec.region)
    )
    if found is None:
        raise InputError(f"{ref.name}: no state at {spec.uri} yet; apply the stack first")
    state_json = load_json(found.body, spec.uri)
    recorded = read_state(state_json, spec.uri)
    current = _plan_under(bench, ref, found.body, request.provider, request.from_version, locks)
    target = _plan_under(bench, ref, found.body, request.provider, request.to_version, locks)
    result = compare_stack(
        ref.name,
        request.provider,
        current.version,
        target.version,
        read_plan(current.json, f"{ref.name}: show -json under {current.version}"),
        read_plan(target.json, f"{ref.name}: show -json under {target.version}"),
        recorded,
        salt=bench.fingerprint_salt(),
    )
    return result.model_copy(
        update={
            "stateVersionId": found.version_id,
            "timings": ComparisonTimings(
                initSeconds=round(current.init_seconds + target.init_seconds, 3),
                currentPlanSeconds=round(current.plan_seconds, 3),
                targetPlanSeconds=round(target.plan_seconds, 3),
                totalSeconds=round(time.monotonic() - started, 3),
            ),
        }
    )


def _selected(bench: Workbench, request: ProviderDiffRequest) -> list[StackRef]:
    if request.all_stacks and request.stacks:
        raise InputError("give stack names or --all, not both")
    if request.all_stacks:
        refs = [bench.stack(unit.name) for unit in bench.project.stacks]
        # A stack with the provider's resources but no required_providers entry is not
        # left out silently: it is compared, and says why it cannot be (ERROR).
        chosen = [
            ref
            for ref in refs
            if _uses(ref, request.provider) or _has_resources_of(ref, request.provider)
        ]
        if not chosen:
            raise InputError(
                f"no registered stack requires {request.provider}; check --provider "
                "(e.g. hashicorp/aws)"
            )
        return sorted(chosen, key=lambda ref: ref.name)
    if not request.stacks:
        raise InputError("name the stacks to compare, or --all")
    return [bench.stack(name) for name in request.stacks]


def execute_provider_diff(
    request: ProviderDiffRequest, clock: Clock = utc_now
) -> ProviderDiffReport:
    """Compare the stacks (see the module doc) and build the report."""
    if "/" not in request.provider:
        raise InputError(
            f"--provider {request.provider!r}: give the provider's source, e.g. hashicorp/aws"
        )
    project = load_project(request.config_path, request.registry_dir)
    bench = Workbench.open(project, request.engine)
    refs = _selected(bench, request)
    locks = _LockFiles(bench)
    results: list[StackComparison] = []
    # Alone first: each stack whose copies would have no lock file to start from (the
    # first of its requirement, the first of its engine at a pinned version); its
    # inits write the providers into the plugin cache and leave the lock files the
    # others then get.
    rest: list[StackRef] = []
    for ref in refs:
        versions = (request.from_version, request.to_version)
        if all(locks.known(ref, version) for version in versions):
            rest.append(ref)
        else:
            results.append(compare_one(bench, ref, request, locks))
    if rest:
        workers = max(1, min(request.max_parallel, len(rest)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results.extend(pool.map(lambda ref: compare_one(bench, ref, request, locks), rest))
    now = clock()
    return build_report(
        request.provider, request.to_version, results, generated_at=now, today=now.date()
    )
