"""`cloud.target: endpoint`: iacdrift pointed at an AWS-compatible endpoint it did not
start (here a moto server this module starts itself, never `sandbox up`), from a
project in a temporary directory with its own registry and stack.

The stack is applied with real Terraform through iacdrift's engine, then checked
through the endpoint target with the same per-stack credential rules (a web identity
token file exchanged for the stack's role at the endpoint's STS), inventory, audit
reads and leases as on AWS; drift is injected with boto3. Bad input: an endpoint
that does not answer, and plain http to a host that is not loopback.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iacdrift.aws.session import CONNECT_TIMEOUT_SECONDS, Target, client
from iacdrift.errors import CloudError, RegistryError
from iacdrift.flows.workbench import Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project, load_project
from iacdrift.locking import Lease
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.daemon import free_port
from iacdrift.sandbox.identity import sandbox_credentials
from iacdrift.sandbox.mirror import build_mirror

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
STATE_BUCKET = "ep-tfstate"
LEASE_TABLE = "ep-leases"
LOG_BUCKET = "ep-cloudtrail-logs"
STACK = "ep-app"
STATE_KEY = "apps/ep-app.tfstate"
ASSETS_PREFIX = "ep-assets-"
# iacdrift's own identity (leases) is the ambient one; moto accepts any key.
ORCHESTRATOR = {
    "AWS_ACCESS_KEY_ID": "AKIAORCHESTRATOR0000",
    "AWS_SECRET_ACCESS_KEY": "not-a-secret",
}

MAIN_TF = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "3.39.0" }
  }
  backend "s3" {
    bucket       = "%(state_bucket)s"
    key          = "apps/ep-app.tfstate"
    region       = "us-east-1"
    use_lockfile = true
  }
}

# Null on AWS; iacdrift hands the endpoint in as TF_VAR_aws_endpoint (provider 3.x
# reads no endpoint from the environment).
variable "aws_endpoint" {
  type    = string
  default = null
}

provider "aws" {
  region                      = "us-east-1"
  s3_force_path_style         = var.aws_endpoint != null
  skip_credentials_validation = var.aws_endpoint != null
  skip_requesting_account_id  = var.aws_endpoint != null
  skip_metadata_api_check     = var.aws_endpoint != null
  skip_region_validation      = var.aws_endpoint != null
  skip_get_ec2_platforms      = true
  max_retries                 = 2
  endpoints {
    s3  = var.aws_endpoint
    sts = var.aws_endpoint
    iam = var.aws_endpoint
    ec2 = var.aws_endpoint
  }
}

resource "aws_s3_bucket" "assets" {
  bucket = "%(bucket)s"
  tags   = { owner = "team-a", data-class = "internal" }
}
"""

UNIT = """apiVersion: iacdrift.dev/v1
kind: DriftManagedUnit
metadata: {name: %(stack)s}
spec:
  type: terraform-stack
  owner: team-a
  environment: prod
  riskTier: high
  source: {repo: github.com/acme/elsewhere, path: stacks/ep-app}
  state: {backend: s3, bucket: %(state_bucket)s, key: apps/ep-app.tfstate, region: us-east-1}
  credentials: {oidcRole: "arn:aws:iam::%(account)s:role/ep-app-deployer"}
  schedule: {frequency: 6h}
"""

SETTINGS = """apiVersion: iacdrift.dev/v1
kind: Settings
cloud:
  target: endpoint
  region: us-east-1
  endpointUrl: %(endpoint)s
%(extra)s
oidc: {source: file, tokenFile: ci-token.jwt}
inventoryRoles: {"%(account)s": "arn:aws:iam::%(account)s:role/ep-inventory"}
leaseTable: %(lease_table)s
exclusions:
  - {type: aws_s3_bucket, id: "ep-*", reason: the platform's own buckets}
context:
  auditLogs: {bucket: %(log_bucket)s, lookbackDays: 1}
terraform:
  providerMirror: %(mirror)s
  pluginCacheDir: %(cache)s
"""


@dataclass(frozen=True)
class Endpoint:
    port: int
    url: str
    mirror: Path
    cache: Path

    @property
    def target(self) -> Target:
        return Target("us-east-1", self.url)

    def aws(self, service: str) -> Any:
        return client(service, sandbox_credentials(), self.target)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path) -> Iterator[Endpoint]:
    """A moto server of this module's own, with what a platform team would already
    have there: a versioned state bucket, a lease table and an (empty) audit log bucket."""
    directory = tmp_path_factory.mktemp("endpoint-cloud")
    pid, port = srv.start_server(directory)
    try:
        found = Endpoint(
            port, f"http://127.0.0.1:{port}", build_mirror(directory / "mirror"), plugin_cache
        )
        s3 = found.aws("s3")
        s3.create_bucket(Bucket=STATE_BUCKET)
        s3.put_bucket_versioning(Bucket=STATE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.create_bucket(Bucket=LOG_BUCKET)
        found.aws("dynamodb").create_table(
            TableName=LEASE_TABLE,
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield found
    finally:
        assert srv.stop_server(pid, port)


def write_project(
    root: Path, endpoint: Endpoint, *, url: str | None = None, extra: str = ""
) -> Path:
    """The project's files (settings, registry, one stack); returns its root."""
    values = {
        "state_bucket": STATE_BUCKET,
        "lease_table": LEASE_TABLE,
        "log_bucket": LOG_BUCKET,
        "account": ACCOUNT,
        "stack": STACK,
        "bucket": f"{ASSETS_PREFIX}{uuid.uuid4().hex[:8]}",
        "endpoint": url or endpoint.url,
        "extra": extra,
        "mirror": endpoint.mirror,
        "cache": endpoint.cache,
    }
    (root / "stacks" / "ep-app").mkdir(parents=True)
    (root / "stacks" / "ep-app" / "main.tf").write_text(MAIN_TF % values, encoding="utf-8")
    (root / "registry").mkdir()
    (root / "registry" / f"{STACK}.yaml").write_text(UNIT % values, encoding="utf-8")
    (root / "iacdrift.yaml").write_text(SETTINGS % values, encoding="utf-8")
    # moto checks no token; the file is what a CI system would refresh.
    (root / "ci-token.jwt").write_text("eyJhbGciOiJub25lIn0.eyJzdWIiOiJjaSJ9.\n")
    return root


def bucket_of(root: Path) -> str:
    text = (root / "stacks" / "ep-app" / "main.tf").read_text(encoding="utf-8")
    match = re.search(rf'"({ASSETS_PREFIX}[0-9a-f]+)"', text)
    assert match is not None
    return match.group(1)


def cli(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iacdrift", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory, endpoint: Endpoint) -> Project:
    """The project, its stack applied through iacdrift's engine on the endpoint."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "TF_"))}
    try:
        # The S3 override goes to the same server under another (loopback) name: each
        # S3 call, boto3's and Terraform's backend's alike, must take that URL.
        root = write_project(
            tmp_path_factory.mktemp("endpoint-project"),
            endpoint,
            extra=f"  endpoints: {{s3: 'http://localhost:{endpoint.port}'}}",
        )
        project = load_project(cwd=root)
        bench = Workbench.open(project)
        assert bench.target.url_for("s3") == f"http://localhost:{endpoint.port}"
        with prepared(bench, bench.stack(STACK)) as stack:
            stack.engine.apply(stack.call)
        return project
    finally:
        os.environ.update(saved)


def test_a_stack_on_the_endpoint_is_checked_like_one_on_aws(
    applied: Project, endpoint: Endpoint
) -> None:
    # The apply went through the endpoint with the stack's own role: the state is there.
    versions = endpoint.aws("s3").list_object_versions(Bucket=STATE_BUCKET, Prefix=STATE_KEY)
    assert [v["Key"] for v in versions.get("Versions", [])].count(STATE_KEY) >= 1

    clean = cli(applied.root, "check", STACK, "--format", "json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)
    (result,) = report["results"]
    assert (result["status"], result["credentialsSource"]) == ("CLEAN", "oidc")
    assert report["estateProblems"] == []  # the inventory and the audit bucket were read

    # Someone changes a tag by hand and creates a bucket no stack manages.
    bucket = bucket_of(applied.root)
    s3 = endpoint.aws("s3")
    tags = [{"Key": "owner", "Value": "mallory"}, {"Key": "data-class", "Value": "internal"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    s3.create_bucket(Bucket="shadow-it-uploads")

    # `run` takes the stack's lease in the endpoint's DynamoDB table with iacdrift's own
    # (ambient) identity; the stack itself still runs as its role.
    drifted = cli(
        applied.root, "run", "--stack", STACK, "--no-notify", "--format", "json", env=ORCHESTRATOR
    )
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    run = json.loads(drifted.stdout)
    (result,) = run["results"]
    assert (result["status"], result["credentialsSource"]) == ("DRIFTED", "oidc")
    (finding,) = [f for f in result["findings"] if f["resourceRef"] == "aws_s3_bucket.assets"]
    changed = {c["pointer"]: c["after"] for c in finding["changedFields"]}
    assert changed == {"/tags/owner": "mallory", "/tags_all/owner": "mallory"}
    assert finding["driftClass"] == "UNAUTHORIZED_RUNTIME_DRIFT"
    assert [f["resourceRef"] for f in run["estateFindings"]] == ["aws_s3_bucket:shadow-it-uploads"]
    assert run["estateProblems"] == [] and run["skipped"] == []


def test_a_lease_held_at_the_endpoint_is_respected(applied: Project, endpoint: Endpoint) -> None:
    holder = Lease(
        STACK,
        table=LEASE_TABLE,
        credentials=sandbox_credentials(),
        target=endpoint.target,
        run_id="someone-else",
        heartbeat=False,
    )
    with holder:
        completed = cli(
            applied.root,
            "run",
            "--stack",
            STACK,
            "--no-notify",
            "--format",
            "json",
            env=ORCHESTRATOR,
        )
    report = json.loads(completed.stdout)
    assert report["results"] == []
    assert [s["stack"] for s in report["skipped"]] == [STACK]


def test_an_unreachable_endpoint_is_one_line_and_exit_1_within_the_timeout(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    root = write_project(tmp_path / "refused", endpoint, url=url)

    completed = cli(root, "check", STACK, timeout=60)

    assert completed.returncode == 1
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and url in lines[0] and "unreachable" in lines[0], completed.stderr

    # An endpoint that takes the connection and never answers (what a wedged server or a
    # half-open tunnel does; a bare TCP check would call it reachable): still bounded.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)  # never accepted, never answered
        silent = f"http://127.0.0.1:{hole.getsockname()[1]}"
        project = load_project(cwd=write_project(tmp_path / "silent", endpoint, url=silent))
        started = time.monotonic()
        with pytest.raises(CloudError) as caught:
            Workbench.open(project)
        elapsed = time.monotonic() - started
    assert CONNECT_TIMEOUT_SECONDS - 0.5 < elapsed < CONNECT_TIMEOUT_SECONDS + 1.0
    assert caught.value.message.startswith(f"the endpoint {silent} is unreachable (no answer")


def test_plain_http_to_a_host_that_is_not_loopback_is_refused(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    insecure = "http://moto.ci.example.internal:5000"
    root = write_project(tmp_path, endpoint, url=insecure)

    completed = cli(root, "check", STACK, timeout=60)

    assert completed.returncode == 1
    (line,) = completed.stderr.splitlines()
    assert line.startswith(f"error: iacdrift.yaml: cloud: endpointUrl: {insecure} is plain http")
    assert "cloud.allowInsecureEndpoint: true" in line
    with pytest.raises(RegistryError):
        load_project(cwd=root)

    settings = root / "iacdrift.yaml"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace(
            "  endpointUrl:", "  allowInsecureEndpoint: true\n  endpointUrl:"
        ),
        encoding="utf-8",
    )
    assert load_project(cwd=root).settings.cloud.endpointUrl == insecure
