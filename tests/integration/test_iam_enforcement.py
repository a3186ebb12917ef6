"""Least privilege, enforced: with moto's IAM enforcement on, each stack's role plans
its own stack and is denied another stack's state, except the one state it reads
through ``terraform_remote_state``; the inventory role reads and never writes.

This module runs its OWN moto server: enforcement (POST /moto-api/reset-auth) is
process-wide and would break every other test on a shared server. Under
enforcement moto's STS answers HTTP 500, and the sandbox's own key is unknown to
it, so every credential is obtained first (through the real token endpoint and
STS path), then enforcement is switched on, then the pre-obtained credentials are
seeded into the Workbench that runs Terraform.

What moto 5.2 does NOT enforce, so these tests cannot show it:

* ``Condition`` blocks: the trust policy's ``aud``/``sub`` (moto's
  AssumeRoleWithWebIdentity checks no token, no trust policy, not even that the
  role exists: refusals come from the token endpoint stand-in, see test_oidc.py)
  and the ``s3:prefix`` condition of each role's ``s3:ListBucket``, so on moto any
  stack role may list (names only, never read) every key of the state bucket;
* session policies and the session duration;
* DynamoDB resource ARNs: a statement naming the lock table's ARN is denied, so
  the OpenTofu stack's role has ``dynamodb:*`` on ``*`` where AWS would take the
  table ARN.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from iacdrift.aws import state_versions
from iacdrift.aws.session import AwsCredentials, Target, client
from iacdrift.core.terraform_json import read_state
from iacdrift.errors import TerraformError
from iacdrift.flows import sandbox
from iacdrift.flows.plan import plan_stack
from iacdrift.flows.state_history import read_history
from iacdrift.flows.workbench import Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project, load_project
from iacdrift.models.finding import CredentialsSource
from iacdrift.models.outcomes import PlanOutcome
from iacdrift.sandbox import server as srv
from tests.conftest import start_sandbox_project

pytestmark = pytest.mark.integration

STATE_KEYS = {
    "prod-app": "prod/app.tfstate",
    "prod-iam": "prod/iam.tfstate",
    "prod-network": "prod/network.tfstate",
    "prod-payments": "prod/payments.tfstate",
    "staging-app": "staging/app.tfstate",
}


@dataclass(frozen=True)
class Enforced:
    project: Project
    target: Target
    stacks: dict[str, AwsCredentials]
    inventory: AwsCredentials


@pytest.fixture(scope="module")
def enforced(tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path) -> Iterator[Enforced]:
    directory = tmp_path_factory.mktemp("enforced-project")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "TF_"))}
    try:
        project = start_sandbox_project(directory, plugin_cache)
        state, running = sandbox.status(project)
        assert state is not None and running
        bench = Workbench.open(project)
        stacks = {name: bench.credentials(bench.stack(name)) for name in project.names}
        inventory = bench.inventory_credentials()
        assert {c.source for c in [*stacks.values(), inventory]} == {"oidc"}
        srv.enable_iam_enforcement(state.port)
        yield Enforced(project, Target(state.region, state.endpoint_url), stacks, inventory)
    finally:
        sandbox.down(load_project(cwd=directory))
        os.environ.update(saved)


def seeded(enforced: Enforced, **overrides: AwsCredentials) -> Workbench:
    """A Workbench that uses the pre-obtained credentials (STS is unusable now)."""
    bench = Workbench.open(enforced.project)
    for name, credentials in {**enforced.stacks, **overrides}.items():
        bench.resolver.seed(name, credentials)
    return bench


def s3(credentials: AwsCredentials, target: Target) -> Any:
    return client("s3", credentials, target)


def error_code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_enforcement_is_on(enforced: Enforced) -> None:
    # The sandbox's own key is no identity moto knows: nothing here runs as admin.
    sandbox_key = AwsCredentials(
        srv.ACCESS_KEY_ID, srv.SECRET_ACCESS_KEY, source=CredentialsSource.SANDBOX
    )
    assert error_code(lambda: s3(sandbox_key, enforced.target).list_buckets()) in {
        "InvalidAccessKeyId",
        "AccessDenied",
    }


def test_each_stack_role_plans_its_own_stack(enforced: Enforced) -> None:
    bench = seeded(enforced)
    # staging-app is the OpenTofu stack that locks with DynamoDB (dynamodb:* on *);
    # prod-app reads prod/network.tfstate through terraform_remote_state.
    for name in enforced.project.names:
        report = plan_stack(bench, name)
        assert report.outcome is PlanOutcome.NO_CHANGES, (name, report.changes)


def test_a_stack_role_is_denied_another_stacks_state(enforced: Enforced) -> None:
    network = enforced.stacks["prod-network"]
    bench = seeded(enforced, **{"prod-payments": network})
    # Terraform is refused at init (reading the state) or at the pull itself.
    with (
        pytest.raises(TerraformError) as caught,
        prepared(bench, bench.stack("prod-payments")) as ready,
    ):
        ready.engine.state_pull(ready.call)
    message = str(caught.value)
    assert message.startswith("prod-payments: terraform ")
    assert "prod/payments.tfstate" in message and "403" in message

    bucket = srv.STATE_BUCKET
    network_s3 = s3(network, enforced.target)
    assert error_code(
        lambda: network_s3.get_object(Bucket=bucket, Key="prod/payments.tfstate")
    ) in {"AccessDenied", "403"}
    assert error_code(
        lambda: network_s3.put_object(Bucket=bucket, Key="prod/payments.tfstate", Body=b"{}")
    ) in {"AccessDenied", "403"}
    # Its own state, it may read.
    assert network_s3.get_object(Bucket=bucket, Key="prod/network.tfstate")["Body"].read()


def test_remote_state_reader_may_read_that_one_key_only(enforced: Enforced) -> None:
    bucket = srv.STATE_BUCKET
    app = s3(enforced.stacks["prod-app"], enforced.target)
    assert app.get_object(Bucket=bucket, Key="prod/network.tfstate")["Body"].read()
    assert error_code(
        lambda: app.put_object(Bucket=bucket, Key="prod/network.tfstate", Body=b"{}")
    ) in {"AccessDenied", "403"}
    assert error_code(lambda: app.get_object(Bucket=bucket, Key="prod/payments.tfstate")) in {
        "AccessDenied",
        "403",
    }
    # prod-payments reads no other state, so it may not read network's.
    payments = s3(enforced.stacks["prod-payments"], enforced.target)
    assert error_code(lambda: payments.get_object(Bucket=bucket, Key="prod/network.tfstate")) in {
        "AccessDenied",
        "403",
    }


def test_a_stack_role_reaches_only_its_own_buckets(enforced: Enforced) -> None:
    ledger = "iacdrift-demo-prod-ledger"
    payments = s3(enforced.stacks["prod-payments"], enforced.target)
    assert payments.get_bucket_tagging(Bucket=ledger)["TagSet"]
    app = s3(enforced.stacks["prod-app"], enforced.target)
    assert error_code(lambda: app.get_bucket_tagging(Bucket=ledger)) in {"AccessDenied", "403"}


def test_inventory_role_lists_and_reads_every_state_but_writes_nothing(
    enforced: Enforced,
) -> None:
    inventory = s3(enforced.inventory, enforced.target)
    names = {b["Name"] for b in inventory.list_buckets()["Buckets"]}
    assert {srv.STATE_BUCKET, "iacdrift-demo-prod-ledger"} <= names
    for key in STATE_KEYS.values():
        assert inventory.get_object(Bucket=srv.STATE_BUCKET, Key=key)["Body"].read()
    assert error_code(
        lambda: inventory.put_object(Bucket=srv.STATE_BUCKET, Key="prod/app.tfstate", Body=b"{}")
    ) in {"AccessDenied", "403"}
    ec2 = client("ec2", enforced.inventory, enforced.target)
    assert ec2.describe_security_groups()["SecurityGroups"]
    assert error_code(
        lambda: ec2.create_security_group(GroupName="sneaky", Description="not allowed")
    ) in {"AccessDenied", "UnauthorizedOperation", "403"}


def test_a_stack_role_reads_its_own_state_history_and_a_denial_is_said(
    enforced: Enforced,
) -> None:
    spec = enforced.project.get("prod-app").unit.spec.state
    own = enforced.stacks["prod-app"]
    # A second version of the same state (what the next apply would write), as its role.
    first = state_versions.read_current(spec.bucket, spec.key, own, enforced.target)
    assert first is not None and first.version_id is not None
    s3(own, enforced.target).put_object(Bucket=spec.bucket, Key=spec.key, Body=first.body)
    current = state_versions.read_current(spec.bucket, spec.key, own, enforced.target)
    assert current is not None and current.version_id not in (None, first.version_id)
    state = read_state(json.loads(current.body), spec.uri)

    # ListObjectVersions and GetObject(VersionId) on its own key: allowed.
    mine = read_history(spec, current, state, own, enforced.target)
    assert (mine.regression, mine.warning) == (None, None)

    # Another stack's role is denied the earlier version (moto ignores the s3:prefix
    # condition on ListBucketVersions, so here the listing itself passes), and the
    # inventory role may not list versions at all: each is said, never a silent pass.
    for other in (enforced.stacks["prod-network"], enforced.inventory):
        denied = read_history(spec, current, state, other, enforced.target)
        assert denied.regression is None
        assert denied.warning is not None and "AccessDenied" in denied.warning
        assert "a restored older state is not seen from the backend" in denied.warning
        assert f"s3:GetObjectVersion on arn:aws:s3:::{spec.bucket}/{spec.key}" in denied.warning
