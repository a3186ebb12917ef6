"""Locks: iacdrift's own orchestrator lease, and reading Terraform's state locks.

**Orchestrator lease.** Before a run checks or repairs a stack it takes that
stack's lease, an item ``LockID = "iacdrift-lease/<stack>"`` in the DynamoDB
lock table, so two iacdrift processes never work on one stack at once. The
item names its holder (``hostname:pid:run id``), ``acquiredAt`` and
``expiresAt`` (epoch seconds) and the operation (``check`` | ``repair``).

* taken with one conditional PutItem: ``attribute_not_exists(LockID) OR
  expiresAt < :now``; a lease whose holder died is taken over once expired;
* renewed (a heartbeat thread, every third of the duration) only while
  ``holder`` is still ours; released with a delete conditional on ``holder``,
  so a holder that lost its lease can never delete its successor's;
* taken with the orchestrator's own credentials (passed in), never a stack's;
* expiry compares the taker's clock with the one the holder wrote by, so hosts
  need roughly synchronised clocks (NTP); the 15-minute default dwarfs normal skew.

The lease items share the table with Terraform's ``<bucket>/<key>`` lock items;
only a state bucket named ``iacdrift-lease`` could collide. Enabling DynamoDB
TTL on ``expiresAt`` would clean up leases of crashed runs; Terraform's items
have no such attribute.

**Terraform's lock**, read only: the ``use_lockfile`` object ``<key>.tflock``
and the DynamoDB item ``LockID = <bucket>/<key>`` hold Terraform's LockInfo
JSON. Reading it reports contention and stale locks. Nothing here unlocks:
removing someone's lock is state surgery, with review (a ``force-unlock``
operation, released by ``surgery apply`` only when it is the reviewed lock and stale).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from iacdrift.aws.lease import LeaseItem, LeaseTable, LockReader
from iacdrift.aws.session import AwsCredentials, Target
from iacdrift.clock import Clock, utc_now
from iacdrift.engine.diagnostics import parse_lock_time
from iacdrift.engine.survivors import parse_stat, pid_namespace
from iacdrift.errors import CloudError, RefusedError
from iacdrift.models.finding import LockHolder
from iacdrift.models.registry import StateBackend

log = logging.getLogger(__name__)

LEASE_PREFIX = "iacdrift-lease/"
DEFAULT_LEASE_DURATION = timedelta(minutes=15)
DEFAULT_STALE_LOCK_AFTER = timedelta(hours=2)
# A lease that vanished or expired between our failed put and our read is retried.
_ACQUIRE_ATTEMPTS = 3
# The pid namespace of a host's init (the kernel's PROC_PID_INIT_INO).
INITIAL_PID_NAMESPACE = 0xEFFFFFFC

Operation = Literal["check", "repair", "surgery"]


def lease_lock_id(stack: str) -> str:
    return LEASE_PREFIX + stack


def local_host() -> str:
    """This host as a lease names it: the hostname, and the inode of this process's pid
    namespace when it is not the host's first (a container's pids mean something only
    in it): ``hostname`` or ``hostname/pidns-4026532205``."""
    namespace = pid_namespace()
    host = socket.gethostname()
    return host if namespace in (None, INITIAL_PID_NAMESPACE) else f"{host}/pidns-{namespace}"


def holder_name(run_id: str) -> str:
    """``host:pid:run id``: who holds a lease, readable by a human on call
    (:func:`local_host`)."""
    return f"{local_host()}:{os.getpid()}:{run_id}"


def dead_local_holder(holder: str, host: str | None = None) -> bool:
    """Whether ``holder`` (a :func:`holder_name`) is a process of this host and pid
    namespace (:func:`local_host`) that no longer runs (gone, or a zombie nobody
    reaped). A holder elsewhere, or one whose liveness cannot be told, is not known
    dead."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    if parts[0] != (host or local_host()):
        return False
    pid = int(parts[1])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state, _ = parse_stat(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return False
    return state in {"Z", "X"}


def holder_run_id(holder: str) -> str | None:
    """The run id in a :func:`holder_name`; None when the holder names none."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2]:
        return None
    return parts[2]


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _span(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


@dataclass(frozen=True)
class LeaseState:
    """A lease as the table holds it."""

    stack: str
    holder: str
    operation: str
    acquired_at: datetime
    expires_at: datetime

    @classmethod
    def from_item(cls, stack: str, item: LeaseItem) -> LeaseState:
        return cls(
            stack=stack,
            holder=item.holder,
            operation=item.operation,
            acquired_at=_moment(item.acquired_at),
            expires_at=_moment(item.expires_at),
        )


class LeaseHeldError(RefusedError):
    """Another iacdrift process holds the stack's orchestrator lease."""

    def __init__(self, stack: str, current: LeaseState, now: datetime) -> None:
        self.stack = stack
        self.current = current
        self.holder = current.holder
        self.operation = current.operation
        self.age = max(timedelta(0), now - current.acquired_at)
        super().__init__(
            f"{stack}: another iacdrift holds its orchestrator lease ({current.holder}, "
            f"{current.operation or '?'}, taken {_span(self.age)} ago, expires in "
            f"{_span(current.expires_at - now)}); skipped: that process is working on it"
        )


class LeaseLostError(RefusedError):
    """Our lease expired or was taken over; stop before changing anything."""


class Lease:
    """The orchestrator lease of one stack; a context manager.

    ::

        with Lease("prod-network", table=..., credentials=..., target=..., run_id=run):
            check the stack

    Raises :class:`LeaseHeldError` on entry if another live holder has it.
    Before a mutation (repair), call :meth:`ensure_held`.
    """

    def __init__(
        self,
        stack: str,
        *,
        table: str,
        credentials: AwsCredentials,
        target: Target,
        run_id: str,
        operation: Operation = "check",
        duration: timedelta = DEFAULT_LEASE_DURATION,
        heartbeat: bool = True,
        clock: Clock = utc_now,
        holder: str | None = None,
    ) -> None:
        if duration < timedelta(seconds=3):
            raise ValueError(f"lease duration {duration} is too short: use 3s or more")
        self.stack = stack
        self.lock_id = lease_lock_id(stack)
        self.holder = holder or holder_name(run_id)
        self.operation = operation
        self.duration = duration
        self._heartbeat = heartbeat
        self._clock = clock
        self._table = LeaseTable(credentials, target, table)
        self._state_lock = threading.Lock()
        self._held = False
        self._expires_at: datetime | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- taking ---------------------------------------------------------------------
    @property
    def held(self) -> bool:
        with self._state_lock:
            return self._held and self._lost is None

    def acquire(self) -> Lease:
        """Take the lease, or raise LeaseHeldError naming the live holder and its age."""
        if self._held:
            raise RuntimeError(f"lease {self.lock_id} is already held by this object")
        now = self._clock()
        for _ in range(_ACQUIRE_ATTEMPTS):
            now = self._clock()
            expires = now + self.duration
            item = LeaseItem(
                self.lock_id, self.holder, _epoch(now), _epoch(expires), self.operation
            )
            if self._table.try_put(item, _epoch(now)):
                with self._state_lock:
                    self._held, self._expires_at, self._lost = True, expires, None
                self._start_heartbeat()
                return self
            current = self._table.get(self.lock_id)
            if current is not None and current.expires_at >= _epoch(now):
                raise LeaseHeldError(self.stack, LeaseState.from_item(self.stack, current), now)
            # Released or expired between our put and our read: try again.
        churn = LeaseState(self.stack, "(changing hands)", "", now, now)
        raise LeaseHeldError(self.stack, churn, now)

    def acquire_from_dead(self) -> LeaseState | None:
        """Take the lease; when its item names a holder of this host that is dead (a
        run that was killed: its lease would otherwise stand until it expires),
        expired or not, delete that item (conditional on the holder) and take it.
        Returns the dead holder's lease as it stood, or None; raises LeaseHeldError
        as :meth:`acquire` does for a live holder."""
        item = self._table.get(self.lock_id)
        dead = None
        if item is not None and dead_local_holder(item.holder):
            dead = LeaseState.from_item(self.stack, item)
            self._table.delete(self.lock_id, item.holder)
        self.acquire()
        return dead

    def renew(self) -> None:
        """Push the expiry one duration ahead; LeaseLostError if it is no longer ours."""
        with self._state_lock:
            if not self._held or self._lost is not None:
                raise LeaseLostError(self._lost_message())
        expires = self._clock() + self.duration
        if not self._table.renew(self.lock_id, self.holder, _epoch(expires)):
            with self._state_lock:
                self._lost = "taken over by another holder after it expired"
            raise LeaseLostError(self._lost_message())
        with self._state_lock:
            self._expires_at = expires

    def ensure_held(self) -> None:
        """Raise LeaseLostError unless the lease is held and not past its expiry."""
        with self._state_lock:
            if self._held and self._lost is None and self._expires_at is not None:
                if self._clock() < self._expires_at:
                    return
                self._lost = "expired: the heartbeat could not renew it in time"
            raise LeaseLostError(self._lost_message())

    def release(self) -> bool:
        """Stop renewing and delete the lease if it is still ours (a conditional delete).

        Returns whether an item was deleted; False when another holder took it
        over (that holder's lease is left alone) or it was never held.
        """
        self._stop_heartbeat()
        with self._state_lock:
            was_held, self._held = self._held, False
        if not was_held:
            return False
        return self._table.delete(self.lock_id, self.holder)

    def _lost_message(self) -> str:
        why = self._lost or "not held"
        return f"{self.stack}: orchestrator lease {self.lock_id} lost ({why}); stopping"

    # -- heartbeat ------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        if not self._heartbeat:
            return
        self._stop.clear()
        self._beat = threading.Thread(
            target=self._beat_loop, name=f"lease-{self.stack}", daemon=True
        )
        self._beat.start()

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join()
        self._beat = None

    def _beat_loop(self) -> None:
        interval = self.duration.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                self.renew()
            except LeaseLostError:
                return
            except CloudError as exc:
                # Transient: the next beat retries; ensure_held() catches a real expiry.
                log.warning("%s: renewing the orchestrator lease failed: %s", self.stack, exc)
            except Exception as exc:  # never die silently in a daemon thread
                with self._state_lock:
                    self._lost = f"heartbeat failed: {type(exc).__name__}: {exc}"
                return

    # -- context manager ------------------------------------------------------------
    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except CloudError as error:
            # Not fatal: the lease expires by itself after its duration.
            log.warning("%s: releasing the orchestrator lease failed: %s", self.stack, error)


def read_lease(
    stack: str, *, table: str, credentials: AwsCredentials, target: Target
) -> LeaseState | None:
    """The stack's orchestrator lease as stored (it may be expired), or None."""
    item = LeaseTable(credentials, target, table).get(lease_lock_id(stack))
    return LeaseState.from_item(stack, item) if item else None


# -- Terraform's own lock, read only --------------------------------------------------


def terraform_lock_id(state: StateBackend) -> str:
    """The DynamoDB LockID Terraform and OpenTofu use for the default workspace."""
    return f"{state.bucket}/{state.key}"


def lockfile_key(state: StateBackend) -> str:
    """The S3 object key of Terraform's ``use_lockfile`` lock."""
    return f"{state.key}.tflock"


def lock_holder(
    info: str | bytes, *, path: str, now: datetime, stale_after: timedelta
) -> LockHolder:
    """Terraform's LockInfo JSON as a LockHolder with its age and stale flag.

    Lenient like every Terraform format: unknown fields are ignored, and an
    unreadable body is still reported as a held lock with an unknown holder.
    """
    try:
        document: Any = json.loads(info)
    except (ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        return LockHolder(who="(unreadable lock info)", path=path)
    created_text = str(document.get("Created") or "")
    created = parse_lock_time(created_text) if created_text else None
    age = max(0.0, (now - created).total_seconds()) if created else None
    return LockHolder(
        id=str(document.get("ID") or ""),
        operation=str(document.get("Operation") or ""),
        who=str(document.get("Who") or ""),
        created=created_text,
        path=str(document.get("Path") or path),
        ageSeconds=age,
        stale=age is not None and age > stale_after.total_seconds(),
    )


class TerraformLocks:
    """Reads the state locks of many stacks with one identity (clients are reused)."""

    def __init__(self, credentials: AwsCredentials, target: Target) -> None:
        self._reader = LockReader(credentials, target)

    def read(
        self,
        state: StateBackend,
        now: datetime,
        *,
        stale_after: timedelta = DEFAULT_STALE_LOCK_AFTER,
    ) -> LockHolder | None:
        """Who holds the stack's state lock right now, or None when it is free.

        Reads the DynamoDB item when the stack names a lock table, then the
        ``use_lockfile`` object (Terraform may use both while a team migrates).
        A lock older than ``stale_after`` is marked ``stale``. Raises CloudError
        when the lock cannot be read. Never unlocks.
        """
        if state.lockTable:
            lock_id = terraform_lock_id(state)
            info = self._reader.dynamodb_lock_info(state.lockTable, lock_id)
            if info is not None:
                return lock_holder(info, path=lock_id, now=now, stale_after=stale_after)
        key = lockfile_key(state)
        body = self._reader.s3_lockfile(state.bucket, key)
        if body is None:
            return None
        return lock_holder(body, path=f"{state.bucket}/{key}", now=now, stale_after=stale_after)


def read_terraform_lock(
    state: StateBackend,
    credentials: AwsCredentials,
    target: Target,
    now: datetime,
    *,
    stale_after: timedelta = DEFAULT_STALE_LOCK_AFTER,
) -> LockHolder | None:
    """One stack's state lock holder (see :meth:`TerraformLocks.read`), or None."""
    return TerraformLocks(credentials, target).read(state, now, stale_after=stale_after)
