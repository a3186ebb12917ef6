"""A stack in a working copy, ready for Terraform.

* :func:`prepared`: a throwaway scratch copy, initialised (plan, sandbox up);
* :func:`checked_out`: the stack's persistent working copy under
  ``.iacdrift/workdirs/``, held exclusively; init is skipped while the copy's key is
  unchanged, and a fresh copy is seeded (engine/seeding.py) instead of initialised
  once a real init of the same engine taught the seeder how.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from iacdrift.core.resilience import is_transient
from iacdrift.engine.base import CallRecord, CliEngine, EngineVersion, PlanReading, StackCall
from iacdrift.engine.seeding import Seeder
from iacdrift.engine.workspace import Workdir, persistent_copy, scratch_copy, stack_digest
from iacdrift.errors import StateLockedError, TerraformError
from iacdrift.flows.workbench import StackRef, Workbench
from iacdrift.loaders.stack_hcl import locked_providers
from iacdrift.models.finding import CredentialsSource


@dataclass(frozen=True)
class PreparedStack:
    ref: StackRef
    engine: CliEngine
    version: EngineVersion
    call: StackCall
    credentials_source: CredentialsSource
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
    credentials_source: CredentialsSource
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
