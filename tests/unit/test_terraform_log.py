"""--tf-log's files (engine/terraform_log.py), the environment that points Terraform at
them, the errors that name them, and the short private TMPDIR of every Terraform call
(engine/workspace.py): plain files and data, no Terraform
(tests/integration/test_tf_log.py runs the real thing)."""

from __future__ import annotations

import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from iacdrift.engine.diagnostics import parse_diagnostics, provider_start_failed
from iacdrift.engine.environment import build_child_env
from iacdrift.engine.terraform_log import LEVELS, WARNING, TerraformLog
from iacdrift.engine.workspace import (
    SOCKET_PATH_MAX,
    copy_stack,
    socket_room,
    stack_digest,
    terraform_tmpdir,
)
from iacdrift.errors import (
    InputError,
    TerraformError,
    TerraformFailure,
    TerraformTimeoutError,
)
from iacdrift.flows.workbench import EngineOptions


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- log files ---------------------------------------------------------------------------


def test_each_call_gets_its_own_private_file_with_the_warning_on_top(tmp_path: Path) -> None:
    log = TerraformLog("TRACE", tmp_path / "logs", "run1")
    first = log.new_file("prod-payments", "version")
    second = log.new_file("prod-payments", "init+plan+show")
    other = log.new_file("prod-iam", "init+plan+show")
    directory = tmp_path / "logs" / "run1" / "prod-payments"
    assert (first, second) == (directory / "01-version.log", directory / "02-init+plan+show.log")
    assert other == tmp_path / "logs" / "run1" / "prod-iam" / "01-init+plan+show.log"
    assert log.directory("prod-payments") == directory
    for path in (first, second, other):
        assert mode(path) == 0o600
    for path in (directory, directory.parent, other.parent):
        assert mode(path) == 0o700
    text = second.read_text(encoding="utf-8")
    head = text.splitlines()[0]
    assert "TF_LOG=TRACE" in head and "prod-payments" in head and "init+plan+show" in head
    # Every line of the warning, as comments, before anything Terraform appends.
    assert all(f"# {line}" in text for line in WARNING.splitlines())
    assert "secret values" in text and text.endswith("\n\n")


def test_a_file_left_by_an_earlier_call_is_never_reused(tmp_path: Path) -> None:
    log = TerraformLog("DEBUG", tmp_path, "r")
    directory = log.directory("s")
    directory.mkdir(parents=True)
    (directory / "01-plan.log").write_text("earlier\n", encoding="utf-8")
    (directory / "03-plan.log").write_text("earlier\n", encoding="utf-8")
    made = [log.new_file("s", "plan").name for _ in range(2)]
    assert made == ["04-plan.log", "05-plan.log"]
    assert (directory / "01-plan.log").read_text(encoding="utf-8") == "earlier\n"
    assert (directory / "03-plan.log").read_text(encoding="utf-8") == "earlier\n"


def test_names_from_stacks_and_runs_stay_inside_the_log_root(tmp_path: Path) -> None:
    log = TerraformLog("INFO", tmp_path / "logs", "../run")
    path = log.new_file("../../etc/x y", "state pull")
    assert path.resolve().is_relative_to((tmp_path / "logs").resolve())
    assert " " not in path.name and "/" not in path.parent.name


def test_only_terraform_levels(tmp_path: Path) -> None:
    assert LEVELS == ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "JSON")
    with pytest.raises(ValueError, match="TF_LOG level 'LOUD'"):
        TerraformLog("LOUD", tmp_path, "r")
    with pytest.raises(InputError, match=r"^--tf-log / IACDRIFT_TF_LOG: 'verbose' is not"):
        EngineOptions(tf_log="verbose")
    assert EngineOptions().tf_log is None


def test_the_child_environment_points_terraform_at_the_file_only_when_asked(
    tmp_path: Path,
) -> None:
    common = {
        "parent": {"PATH": "/bin", "TF_LOG": "TRACE", "TF_LOG_PATH": "/tmp/leak.log"},
        "stack_values": {"AWS_REGION": "us-east-1"},
        "cli_config": tmp_path / "rc",
        "home": tmp_path / "home",
        "tmpdir": tmp_path,
    }
    off = build_child_env(**common)  # type: ignore[arg-type]
    assert "TF_LOG" not in off and "TF_LOG_PATH" not in off
    on = build_child_env(**common, log=("DEBUG", tmp_path / "01-plan.log"))  # type: ignore[arg-type]
    assert (on["TF_LOG"], on["TF_LOG_PATH"]) == ("DEBUG", str(tmp_path / "01-plan.log"))
    with pytest.raises(ValueError, match="TF_LOG"):
        build_child_env(**{**common, "stack_values": {"TF_LOG": "TRACE"}})  # type: ignore[arg-type]


# -- errors that name the log and what was tried -----------------------------------------

PROVIDER_FAILED = """
Error: Failed to load plugin schemas

Error while loading schemas for plugin components: Failed to obtain provider
schema: Could not load the schema for provider
registry.terraform.io/hashicorp/aws: failed to instantiate provider
"registry.terraform.io/hashicorp/aws" to obtain schema: Unrecognized remote
plugin message: ..
"""


def test_a_provider_that_did_not_start_is_recognised() -> None:
    assert provider_start_failed(parse_diagnostics(PROVIDER_FAILED))
    other = parse_diagnostics("Error: Invalid expression\n\nExpected the start of an expression")
    assert not provider_start_failed(other)
    warning = parse_diagnostics("Warning: Failed to load plugin schemas\n\nonly a warning")
    assert not provider_start_failed(warning)


def test_terraform_errors_name_the_hint_and_the_log(tmp_path: Path) -> None:
    log = tmp_path / "02-init+plan+show.log"
    failure = TerraformFailure(
        command="plan",
        exit_code=1,
        diagnostics=parse_diagnostics(PROVIDER_FAILED),
        hint="Terraform could not start a provider plugin",
        log=log,
    )
    error = TerraformError("prod-iam", failure)
    assert error.log == log
    assert str(error) == (
        "prod-iam: terraform plan failed: Failed to load plugin schemas: Error while "
        "loading schemas for plugin components: Failed to obtain provider schema: Could "
        "not load the schema for provider registry.terraform.io/hashicorp/aws: failed to "
        'instantiate provider "registry.terraform.io/hashicorp/aws" to obtain schema: '
        "Unrecognized remote plugin message: ..; Terraform could not start a provider "
        f"plugin; Terraform's log: {log}"
    )
    quiet = TerraformError("s", TerraformFailure(command="init", exit_code=1, stderr_tail="boom"))
    assert (str(quiet), quiet.log) == ("s: terraform init failed: boom", None)
    timeout = TerraformTimeoutError("s: terraform plan ran past its timeout", log=log)
    assert (str(timeout), timeout.log) == (
        f"s: terraform plan ran past its timeout; Terraform's log: {log}",
        log,
    )


# -- Terraform's TMPDIR --------------------------------------------------------------------


def test_tmpdir_is_short_private_and_fresh_wherever_the_project_is(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d" * 50] * 5)
    deep.mkdir(parents=True)
    made = terraform_tmpdir([deep, tmp_path])
    assert made.parent == tmp_path  # the deep one leaves no room for a socket
    assert made.name.startswith("iacd-") and mode(made) == 0o700
    assert socket_room(made) >= 0
    assert terraform_tmpdir([tmp_path]) != made


def test_no_short_writable_tmpdir_says_what_was_tried(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d" * 50] * 5)
    # Short whatever tmp_path is (pytest-xdist's are longer): a file, not a directory.
    short = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))
    not_a_directory = short / "file"
    not_a_directory.write_text("", encoding="utf-8")
    try:
        with pytest.raises(OSError) as caught:
            terraform_tmpdir([deep, not_a_directory])
    finally:
        shutil.rmtree(short)
    message = str(caught.value)
    assert f"{deep} (too long for a socket path)" in message
    assert f"{not_a_directory} (Not a directory)" in message
    assert message.endswith("set TMPDIR to a short writable directory such as /tmp")


def test_socket_room_counts_the_plugin_socket_name() -> None:
    # go-plugin's socket: TMPDIR + "/plugin" + up to 10 digits, at most 107 bytes.
    assert socket_room(Path("/" + "t" * 89)) == 0
    assert socket_room(Path("/" + "t" * 90)) == -1
    assert SOCKET_PATH_MAX == 107


# -- variable files are linked into working copies, never copied ---------------------------


def test_variable_files_are_linked_not_copied(tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "main.tf").write_text('variable "token" {}\n', encoding="utf-8")
    names = ("terraform.tfvars", "x.auto.tfvars", "y.auto.tfvars.json", "terraform.tfvars.json")
    for name in names:
        (stack / name).write_text(f"secret-{name}\n", encoding="utf-8")
    before = stack_digest(stack)
    root = copy_stack(stack, tmp_path / "copy")
    assert (root / "main.tf").is_file() and not (root / "main.tf").is_symlink()
    for name in names:
        assert (root / name).is_symlink()
        assert (root / name).readlink() == (stack / name).resolve()
        assert (root / name).read_text(encoding="utf-8") == f"secret-{name}\n"
    # The key of a working copy still follows the files' contents.
    assert stack_digest(stack) == before
    (stack / "terraform.tfvars").write_text("changed\n", encoding="utf-8")
    assert stack_digest(stack) != before


def test_a_wrapped_aws_error_keeps_its_status_and_exception() -> None:
    """Terraform wraps diagnostics; the SDK error's status and exception come after
    the first line (the lock-release flake of OpenTofu 1.6 on moto)."""
    stderr = (
        "\n╷\n│ Error: Error releasing the state lock\n│ \n"
        "│ Error message: failed to retrieve lock info: operation error DynamoDB:\n"
        "│ GetItem, https response error StatusCode: 500, RequestID: abc, api error\n"
        "│ InternalFailure: boom\n│ \n│ OpenTofu acquires a lock when accessing your state\n╵\n"
    )
    failure = TerraformFailure(command="plan", exit_code=1, diagnostics=parse_diagnostics(stderr))
    assert str(TerraformError("staging-app", failure)) == (
        "staging-app: terraform plan failed: Error releasing the state lock: Error message: "
        "failed to retrieve lock info: operation error DynamoDB: GetItem, https response "
        "error StatusCode: 500, RequestID: abc, api error InternalFailure: boom"
    )
