"""Orchestrator leases and Terraform lock reading against a moto server's DynamoDB and S3.

One sandbox per module (no stacks applied: only the state bucket and the lock
table are needed). Every test uses stack names of its own, so leases never meet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iacdrift.aws.lease import LeaseTable, endpoint_answered
from iacdrift.aws.session import AwsCredentials, Target, client
from iacdrift.errors import CloudError, RefusedError
from iacdrift.flows import sandbox
from iacdrift.loaders.registry import load_project
from iacdrift.locking import (
    Lease,
    LeaseHeldError,
    LeaseLostError,
    TerraformLocks,
    dead_local_holder,
    holder_name,
    lease_lock_id,
    local_host,
    read_lease,
    read_terraform_lock,
)
from iacdrift.models.registry import StateBackend
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.identity import sandbox_credentials
from tests.conftest import start_sandbox_project

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Cloud:
    credentials: AwsCredentials
    target: Target
    table: str
    bucket: str

    def lease(self, stack: str, run_id: str, **kwargs: Any) -> Lease:
        return Lease(
            stack,
            table=self.table,
            credentials=self.credentials,
            target=self.target,
            run_id=run_id,
            **kwargs,
        )


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path) -> Iterator[Cloud]:
    directory = tmp_path_factory.mktemp("lease-project")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "TF_"))}
    try:
        project = start_sandbox_project(directory, plugin_cache, apply=False)
        state = srv.load_state(sandbox.sandbox_dir(project))
        assert state is not None
        yield Cloud(
            sandbox_credentials(),
            Target(state.region, state.endpoint_url),
            state.lockTable,
            state.stateBucket,
        )
    finally:
        sandbox.down(load_project(cwd=directory))
        os.environ.update(saved)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- orchestrator lease ----------------------------------------------------------------


def race(leases: list[Lease]) -> tuple[list[Lease], list[LeaseHeldError], list[BaseException]]:
    """Every lease tries to acquire at the same moment, one thread each."""
    start = threading.Barrier(len(leases))
    won: list[Lease] = []
    refused: list[LeaseHeldError] = []
    other: list[BaseException] = []

    def contend(lease: Lease) -> None:
        start.wait()
        try:
            won.append(lease.acquire())
        except LeaseHeldError as exc:
            refused.append(exc)
        except BaseException as exc:
            other.append(exc)

    threads = [threading.Thread(target=contend, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, refused, other


def test_two_holders_race_and_exactly_one_wins(cloud: Cloud) -> None:
    for _ in range(5):
        stack = unique("race")
        won, refused, other = race(
            [cloud.lease(stack, f"run-{n}", heartbeat=False) for n in ("a", "b")]
        )
        assert other == []
        assert len(won) == 1 and len(refused) == 1
        (winner,), (error,) = won, refused
        assert isinstance(error, RefusedError)
        assert error.holder == winner.holder
        assert winner.holder in (holder_name("run-a"), holder_name("run-b"))
        assert error.operation == "check"
        assert timedelta(0) <= error.age < timedelta(minutes=1)
        assert winner.holder in error.message and stack in error.message
        stored = read_lease(
            stack, table=cloud.table, credentials=cloud.credentials, target=cloud.target
        )
        assert stored is not None and stored.holder == winner.holder
        assert winner.release() is True
        assert (
            read_lease(stack, table=cloud.table, credentials=cloud.credentials, target=cloud.target)
            is None
        )


def test_the_error_says_how_old_the_live_lease_is(cloud: Cloud) -> None:
    stack = unique("age")
    five_minutes_ago = datetime.now(UTC) - timedelta(minutes=5)
    first = cloud.lease(
        stack, "old-run", operation="repair", heartbeat=False, clock=lambda: five_minutes_ago
    )
    with first, pytest.raises(LeaseHeldError) as caught:
        cloud.lease(stack, "new-run", heartbeat=False).acquire()
    error = caught.value
    assert error.holder.endswith(":old-run") and error.operation == "repair"
    assert timedelta(minutes=4, seconds=55) <= error.age <= timedelta(minutes=6)
    assert "taken 5m ago" in error.message


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_touch_it(cloud: Cloud) -> None:
    stack = unique("expired")
    crashed = cloud.lease(stack, "crashed", duration=timedelta(minutes=1), heartbeat=False)
    crashed.acquire()
    later = datetime.now(UTC) + timedelta(minutes=2)
    successor = cloud.lease(stack, "successor", heartbeat=False, clock=lambda: later)
    successor.acquire()
    stored = read_lease(
        stack, table=cloud.table, credentials=cloud.credentials, target=cloud.target
    )
    assert stored is not None and stored.holder == successor.holder

    # The old holder finds out on its next renewal and can no longer delete anything.
    with pytest.raises(LeaseLostError, match="taken over"):
        crashed.renew()
    with pytest.raises(LeaseLostError):
        crashed.ensure_held()
    assert crashed.release() is False
    stored = read_lease(
        stack, table=cloud.table, credentials=cloud.credentials, target=cloud.target
    )
    assert stored is not None and stored.holder == successor.holder
    assert successor.release() is True


def test_release_by_a_non_holder_does_nothing(cloud: Cloud) -> None:
    stack = unique("nonholder")
    holder = cloud.lease(stack, "owner", heartbeat=False)
    holder.acquire()
    try:
        bystander = cloud.lease(stack, "bystander", heartbeat=False)
        assert bystander.release() is False  # never acquired: no call at all
        table = LeaseTable(cloud.credentials, cloud.target, cloud.table)
        assert table.delete(lease_lock_id(stack), "someone:1:else") is False
        assert table.renew(lease_lock_id(stack), "someone:1:else", 2**31) is False
        stored = table.get(lease_lock_id(stack))
        assert stored is not None and stored.holder == holder.holder
    finally:
        assert holder.release() is True


def test_context_manager_takes_and_releases(cloud: Cloud) -> None:
    stack = unique("ctx")
    with cloud.lease(stack, "run-1", heartbeat=False) as lease:
        assert lease.held
        lease.ensure_held()
        assert read_lease(
            stack, table=cloud.table, credentials=cloud.credentials, target=cloud.target
        )
    assert not lease.held
    assert (
        read_lease(stack, table=cloud.table, credentials=cloud.credentials, target=cloud.target)
        is None
    )
    # Released on an exception too, and the exception is not swallowed.
    with pytest.raises(KeyError), cloud.lease(stack, "run-2", heartbeat=False):
        raise KeyError("boom")
    assert (
        read_lease(stack, table=cloud.table, credentials=cloud.credentials, target=cloud.target)
        is None
    )


def test_the_heartbeat_keeps_a_long_lease_alive(cloud: Cloud) -> None:
    stack = unique("beat")
    with cloud.lease(stack, "long-run", duration=timedelta(seconds=3)) as lease:
        first = read_lease(
            stack, table=cloud.table, credentials=cloud.credentials, target=cloud.target
        )
        assert first is not None
        time.sleep(4.5)  # past the first expiry; renewed every second
        lease.ensure_held()
        later = read_lease(
            stack, table=cloud.table, credentials=cloud.credentials, target=cloud.target
        )
        assert later is not None and later.expires_at > first.expires_at
        assert later.expires_at > datetime.now(UTC)
        with pytest.raises(LeaseHeldError):
            cloud.lease(stack, "other-run", heartbeat=False).acquire()


def test_an_unreachable_table_is_a_cloud_error(cloud: Cloud) -> None:
    missing = Lease(
        unique("nowhere"),
        table="no-such-table",
        credentials=cloud.credentials,
        target=cloud.target,
        run_id="r",
        heartbeat=False,
    )
    with pytest.raises(CloudError, match="no-such-table"):
        missing.acquire()


# -- Terraform's lock, read only ---------------------------------------------------------


def lock_info(who: str, created: datetime, path: str) -> str:
    return json.dumps(
        {
            "ID": str(uuid.uuid4()),
            "Operation": "OperationTypeApply",
            "Info": "",
            "Who": who,
            "Version": "1.15.5",
            # Terraform writes RFC 3339 with nanoseconds.
            "Created": created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",
            "Path": path,
        }
    )


def test_s3_lockfile_holder_age_and_stale_flag(cloud: Cloud) -> None:
    state = StateBackend(backend="s3", bucket=cloud.bucket, key=f"{unique('lf')}/x.tfstate")
    now = datetime.now(UTC)
    s3 = client("s3", cloud.credentials, cloud.target)
    assert read_terraform_lock(state, cloud.credentials, cloud.target, now) is None

    path = f"{state.bucket}/{state.key}"
    body = lock_info("alice@laptop", now - timedelta(minutes=10), path)
    s3.put_object(Bucket=state.bucket, Key=f"{state.key}.tflock", Body=body.encode())
    lock = read_terraform_lock(state, cloud.credentials, cloud.target, now)
    assert lock is not None
    assert (lock.who, lock.operation, lock.path) == ("alice@laptop", "OperationTypeApply", path)
    assert lock.ageSeconds is not None and 599 <= lock.ageSeconds <= 601
    assert lock.stale is False
    stale = read_terraform_lock(
        state, cloud.credentials, cloud.target, now, stale_after=timedelta(minutes=5)
    )
    assert stale is not None and stale.stale is True

    s3.put_object(
        Bucket=state.bucket,
        Key=f"{state.key}.tflock",
        Body=lock_info("bob@ci", now - timedelta(hours=3), path).encode(),
    )
    old = read_terraform_lock(state, cloud.credentials, cloud.target, now)
    assert old is not None and old.who == "bob@ci" and old.stale is True  # default 2h

    s3.put_object(Bucket=state.bucket, Key=f"{state.key}.tflock", Body=b"\x00not json")
    unreadable = read_terraform_lock(state, cloud.credentials, cloud.target, now)
    assert unreadable is not None and unreadable.who == "(unreadable lock info)"
    s3.delete_object(Bucket=state.bucket, Key=f"{state.key}.tflock")


def test_dynamodb_lock_item_holder_age_and_stale_flag(cloud: Cloud) -> None:
    state = StateBackend(
        backend="s3",
        bucket=cloud.bucket,
        key=f"{unique('ddb')}/x.tfstate",
        lockTable=cloud.table,
    )
    lock_id = f"{state.bucket}/{state.key}"
    dynamodb = client("dynamodb", cloud.credentials, cloud.target)
    now = datetime.now(UTC)
    locks = TerraformLocks(cloud.credentials, cloud.target)
    # The digest item Terraform keeps beside the state is not a lock.
    dynamodb.put_item(
        TableName=cloud.table,
        Item={"LockID": {"S": lock_id + "-md5"}, "Digest": {"S": "0" * 32}},
    )
    assert locks.read(state, now) is None

    info = lock_info("carol@tofu", now - timedelta(minutes=90), lock_id)
    dynamodb.put_item(TableName=cloud.table, Item={"LockID": {"S": lock_id}, "Info": {"S": info}})
    lock = locks.read(state, now)
    assert lock is not None and lock.who == "carol@tofu" and lock.path == lock_id
    assert lock.ageSeconds is not None and abs(lock.ageSeconds - 5400) <= 1
    assert lock.stale is False
    stale = locks.read(state, now, stale_after=timedelta(hours=1))
    assert stale is not None and stale.stale is True
    # Read only: the lock item is still there.
    item = dynamodb.get_item(TableName=cloud.table, Key={"LockID": {"S": lock_id}})
    assert item.get("Item", {}).get("Info", {}).get("S") == info
    dynamodb.delete_item(TableName=cloud.table, Key={"LockID": {"S": lock_id}})
    assert locks.read(state, now) is None


def test_lock_reading_tells_an_answer_from_no_answer(cloud: Cloud) -> None:
    now = datetime.now(UTC)
    missing_bucket = StateBackend(backend="s3", bucket=unique("no-such-bucket"), key="x.tfstate")
    with pytest.raises(CloudError) as answered:
        read_terraform_lock(missing_bucket, cloud.credentials, cloud.target, now)
    assert endpoint_answered(answered.value)

    nowhere = Target(cloud.target.region, f"http://127.0.0.1:{srv.free_port()}")
    state = StateBackend(backend="s3", bucket=cloud.bucket, key="x.tfstate")
    with pytest.raises(CloudError, match="unreachable") as silent:
        read_terraform_lock(state, cloud.credentials, nowhere, now)
    assert not endpoint_answered(silent.value)


def test_a_lease_whose_local_holder_died_is_taken_over_a_live_ones_is_not(
    cloud: Cloud,
) -> None:
    """A killed apply's lease (this host, its process gone) would stand until it
    expires: acquire_from_dead takes it over and says whose it was. A live holder's
    lease (this very process, another run) is refused as acquire refuses it."""
    stack = unique("surgery")
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(child.stdout)  # exited and reaped by subprocess.run
    dead_holder = f"{local_host()}:{dead_pid}:run-killed"
    assert dead_local_holder(dead_holder)
    killed = cloud.lease(stack, "run-killed", holder=dead_holder, heartbeat=False)
    killed.acquire()
    taker = cloud.lease(stack, "run-resume", heartbeat=False)
    try:
        dead = taker.acquire_from_dead()
        assert dead is not None and dead.holder == dead_holder
    finally:
        taker.release()

    live = cloud.lease(stack, "run-live", heartbeat=False)
    live.acquire()
    try:
        assert not dead_local_holder(live.holder)
        with pytest.raises(LeaseHeldError):
            cloud.lease(stack, "run-other", heartbeat=False).acquire_from_dead()
    finally:
        live.release()
    # Another host's holder is never known dead, whatever its pid.
    assert not dead_local_holder(f"elsewhere:{dead_pid}:run")
