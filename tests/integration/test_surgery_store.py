"""Surgery plans and approvals under the state bucket's ``iacdrift/surgery/`` prefix, on
a moto server: round trips, the conditional puts that refuse a second plan and a
second approval by the same reviewer, two reviewers both kept, listings sorted.

Two servers of the module's own. ``cloud``: a bare moto server with a versioned
state bucket (as the sandbox's is) for the store itself. ``reviewers``: a sandbox
(``sandbox up`` without applying stacks) whose reviewer users are then used under
moto's IAM enforcement, which is process-wide and so gets a server to itself: a
reviewer may write and read under the prefix and may not read or write a stack's
state. What moto does not enforce (the ``s3:prefix`` condition of ListBucket) is
listed in test_iam_enforcement.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iacdrift.aws.session import AwsCredentials, Target, client
from iacdrift.aws.surgery_store import SurgeryStore, plan_prefix
from iacdrift.errors import CloudError, InputError, SandboxError
from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project, load_project
from iacdrift.sandbox import iam
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.identity import sandbox_credentials
from tests.conftest import start_sandbox_project

pytestmark = pytest.mark.integration

BUCKET = "surgery-tfstate"
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"


@dataclass(frozen=True)
class Cloud:
    target: Target

    def store(self) -> SurgeryStore:
        return SurgeryStore(BUCKET, sandbox_credentials(), self.target)

    def s3(self) -> Any:
        return client("s3", sandbox_credentials(), self.target)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    root = tmp_path_factory.mktemp("surgery-store")
    pid, port = srv.start_server(root / "moto")
    try:
        found = Cloud(Target(srv.REGION, f"http://127.0.0.1:{port}"))
        found.s3().create_bucket(Bucket=BUCKET)
        found.s3().put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
        )
        yield found
    finally:
        assert srv.stop_server(pid, port)


def plan_id() -> str:
    return "sp-" + uuid.uuid4().hex[:16]


def test_a_plan_is_written_once_and_read_back(cloud: Cloud) -> None:
    store, pid = cloud.store(), plan_id()
    assert not store.exists("prod-app", pid)
    assert store.get_plan("prod-app", pid) is None
    assert store.put_plan("prod-app", pid, b'{"id": 1}')
    assert store.exists("prod-app", pid)
    assert store.get_plan("prod-app", pid) == b'{"id": 1}'
    # A second put of the same plan id is refused and changes nothing.
    assert not store.put_plan("prod-app", pid, b'{"id": 2}')
    assert store.get_plan("prod-app", pid) == b'{"id": 1}'
    # The same plan id of another stack is another object.
    assert not store.exists("prod-iam", pid)
    head = cloud.s3().head_object(Bucket=BUCKET, Key=f"{plan_prefix('prod-app', pid)}plan.json")
    assert head["ContentType"] == "application/json"


def test_the_edited_state_is_written_once_and_encrypted(cloud: Cloud) -> None:
    store, pid = cloud.store(), plan_id()
    assert store.get_state("prod-app", pid) is None
    assert store.put_state("prod-app", pid, b'{"serial": 4}')
    assert not store.put_state("prod-app", pid, b'{"serial": 5}')
    assert store.get_state("prod-app", pid) == b'{"serial": 4}'
    key = f"iacdrift/surgery/prod-app/{pid}/state.tfstate"
    assert cloud.s3().head_object(Bucket=BUCKET, Key=key)["ServerSideEncryption"] == "AES256"
    # Writing the state is not writing the plan.
    assert not store.exists("prod-app", pid)


def test_each_reviewer_approves_once_and_never_over_another(cloud: Cloud) -> None:
    store, pid = cloud.store(), plan_id()
    assert store.approvals("prod-app", pid) == []
    assert store.put_approval("prod-app", pid, BOB, b'{"by": "bob"}')
    assert store.put_approval("prod-app", pid, ALICE, b'{"by": "alice"}')
    # The same reviewer again: refused, the first approval stays as it was.
    assert not store.put_approval("prod-app", pid, ALICE, b'{"by": "alice", "again": true}')
    digests = sorted(hashlib.sha256(arn.encode()).hexdigest()[:16] for arn in (ALICE, BOB))
    listed = cloud.s3().list_objects_v2(Bucket=BUCKET, Prefix=f"{plan_prefix('prod-app', pid)}")
    assert sorted(item["Key"] for item in listed["Contents"]) == [
        f"iacdrift/surgery/prod-app/{pid}/approvals/{digest}.json" for digest in digests
    ]
    by_digest = {
        hashlib.sha256(ALICE.encode()).hexdigest()[:16]: b'{"by": "alice"}',
        hashlib.sha256(BOB.encode()).hexdigest()[:16]: b'{"by": "bob"}',
    }
    # Sorted by key, i.e. by the reviewer's digest.
    assert store.approvals("prod-app", pid) == [by_digest[d] for d in digests]
    # Another plan's approvals are its own.
    assert store.approvals("prod-app", plan_id()) == []


def test_steps_are_recorded_rewritten_and_listed_by_name(cloud: Cloud) -> None:
    store, pid = cloud.store(), plan_id()
    assert store.steps("prod-app", pid) == []
    store.put_step("prod-app", pid, "02-push", b'{"outcome": "started"}')
    store.put_step("prod-app", pid, "01-snapshot", b'{"version": "v1"}')
    store.put_step("prod-app", pid, "02-push", b'{"outcome": "done"}')
    # Approvals are not steps, and steps are not approvals.
    store.put_approval("prod-app", pid, ALICE, b"{}")
    assert store.steps("prod-app", pid) == [
        ("01-snapshot", b'{"version": "v1"}'),
        ("02-push", b'{"outcome": "done"}'),
    ]
    assert store.approvals("prod-app", pid) == [b"{}"]


def test_a_listing_pages(cloud: Cloud) -> None:
    store, pid = cloud.store(), plan_id()
    arns = [f"arn:aws:iam::123456789012:user/r{n}" for n in range(1005)]
    for arn in arns:
        assert store.put_approval("prod-app", pid, arn, arn.encode())
    approvals = store.approvals("prod-app", pid)
    assert len(approvals) == len(arns)
    assert approvals == [
        arn.encode() for arn in sorted(arns, key=lambda a: hashlib.sha256(a.encode()).hexdigest())
    ]


@pytest.mark.parametrize(
    ("stack", "pid", "what"),
    [("../prod-app", "sp-0", "stack"), ("prod-app", "sp/x", "plan id"), ("a", "..", "plan id")],
)
def test_a_name_that_would_leave_the_prefix_is_refused(
    cloud: Cloud, stack: str, pid: str, what: str
) -> None:
    with pytest.raises(InputError, match=what):
        cloud.store().put_plan(stack, pid, b"{}")
    with pytest.raises(InputError, match="step name"):
        cloud.store().put_step("prod-app", plan_id(), "../../plan", b"{}")


def test_a_missing_bucket_is_a_cloud_error_naming_the_object(cloud: Cloud) -> None:
    store = SurgeryStore("no-such-bucket", sandbox_credentials(), cloud.target)
    with pytest.raises(CloudError, match="s3://no-such-bucket/iacdrift/surgery/prod-app/sp-1/"):
        store.put_plan("prod-app", "sp-1", b"{}")
    with pytest.raises(CloudError, match="NoSuchBucket"):
        store.approvals("prod-app", "sp-1")


# -- the sandbox's reviewers under IAM enforcement ----------------------------------------


@dataclass(frozen=True)
class Reviewers:
    project: Project
    target: Target
    one: iam.ReviewerKey
    two: iam.ReviewerKey
    # reviewers.json as the first `up` wrote it, and after a second `up`.
    first: bytes
    second: bytes
    mode: int
    # What sts:GetCallerIdentity says each reviewer is (asked before enforcement:
    # moto's STS answers 500 under it).
    callers: tuple[str, str]


PAYMENTS_STATE = "prod/payments.tfstate"


@pytest.fixture(scope="module")
def reviewers(tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path) -> Iterator[Reviewers]:
    directory = tmp_path_factory.mktemp("reviewers-project")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "TF_"))}
    try:
        project = start_sandbox_project(directory, plugin_cache, apply=False)
        record = sandbox.sandbox_dir(project) / iam.REVIEWERS_FILE
        first = record.read_bytes()
        # A second `up` keeps the users and their keys.
        sandbox.up(project, apply=False)
        second = record.read_bytes()
        state, running = sandbox.status(project)
        assert state is not None and running
        target = Target(state.region, state.endpoint_url)
        # A stack's state, written as iacdrift's own identity before enforcement.
        client("s3", sandbox_credentials(), target).put_object(
            Bucket=state.stateBucket, Key=PAYMENTS_STATE, Body=b'{"serial": 1}'
        )
        one, two = sandbox.reviewer(project, 1), sandbox.reviewer(project, 2)
        callers = tuple(
            str(client("sts", r.credentials(), target).get_caller_identity()["Arn"])
            for r in (one, two)
        )
        srv.enable_iam_enforcement(state.port)
        yield Reviewers(
            project,
            target,
            one,
            two,
            first,
            second,
            stat.S_IMODE(record.stat().st_mode),
            (callers[0], callers[1]),
        )
    finally:
        sandbox.down(load_project(cwd=directory))
        os.environ.update(saved)


def test_up_makes_two_reviewers_and_a_second_up_reuses_their_keys(reviewers: Reviewers) -> None:
    assert reviewers.mode == 0o600
    assert reviewers.first == reviewers.second
    saved = json.loads(reviewers.second)
    assert [r["user"] for r in saved["reviewers"]] == ["surgery-reviewer-1", "surgery-reviewer-2"]
    assert reviewers.one.arn.endswith(":user/surgery-reviewer-1")
    assert reviewers.two.arn.endswith(":user/surgery-reviewer-2")
    assert reviewers.one.accessKeyId != reviewers.two.accessKeyId
    assert reviewers.callers == (reviewers.one.arn, reviewers.two.arn)
    # The secret never shows in a repr.
    assert reviewers.one.secretAccessKey not in repr(reviewers.one)
    with pytest.raises(SandboxError, match="no reviewer 3"):
        sandbox.reviewer(reviewers.project, 3)


def test_reviewers_share_plans_and_approvals_under_the_prefix(reviewers: Reviewers) -> None:
    bucket = srv.STATE_BUCKET
    pid = plan_id()
    one = SurgeryStore(bucket, reviewers.one.credentials(), reviewers.target)
    two = SurgeryStore(bucket, reviewers.two.credentials(), reviewers.target)
    assert one.put_plan("prod-payments", pid, b'{"plan": true}')
    assert one.put_state("prod-payments", pid, b'{"serial": 2}')
    assert two.exists("prod-payments", pid)
    assert two.get_plan("prod-payments", pid) == b'{"plan": true}'
    assert two.get_state("prod-payments", pid) == b'{"serial": 2}'
    assert one.put_approval("prod-payments", pid, reviewers.one.arn, b'{"n": 1}')
    assert two.put_approval("prod-payments", pid, reviewers.two.arn, b'{"n": 2}')
    assert not two.put_approval("prod-payments", pid, reviewers.two.arn, b'{"n": 3}')
    assert sorted(one.approvals("prod-payments", pid)) == [b'{"n": 1}', b'{"n": 2}']
    two.put_step("prod-payments", pid, "01-snapshot", b"{}")
    assert one.steps("prod-payments", pid) == [("01-snapshot", b"{}")]


def test_a_reviewer_may_not_touch_a_stacks_state(reviewers: Reviewers) -> None:
    bucket = srv.STATE_BUCKET
    denied = {"AccessDenied", "403"}
    for key in (reviewers.one, reviewers.two):
        s3 = client("s3", key.credentials(), reviewers.target)
        with pytest.raises(ClientError) as read:
            s3.get_object(Bucket=bucket, Key=PAYMENTS_STATE)
        with pytest.raises(ClientError) as write:
            s3.put_object(Bucket=bucket, Key=PAYMENTS_STATE, Body=b"{}")
        # Nor delete a record under the prefix (the records stay).
        with pytest.raises(ClientError) as delete:
            s3.delete_object(Bucket=bucket, Key="iacdrift/surgery/prod-payments/x.json")
        for caught in (read, write, delete):
            assert caught.value.response["Error"]["Code"] in denied
    # Through the store, a denial is a CloudError naming the object, never "missing".
    store = SurgeryStore(bucket, reviewers.one.credentials(), reviewers.target)
    other = AwsCredentials(reviewers.one.accessKeyId, "wrong-secret")
    with pytest.raises(CloudError, match="iacdrift/surgery/prod-payments/sp-"):
        SurgeryStore(bucket, other, reviewers.target).get_plan("prod-payments", plan_id())
    assert store.get_plan("prod-payments", plan_id()) is None
