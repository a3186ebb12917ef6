"""`--tf-log LEVEL` / IACDRIFT_TF_LOG against real Terraform 1.15 and the real aws
provider on a moto server (the module's ``sandbox_project``): Terraform's own log, a
private file per call under `.iacdrift/logs/<run>/<stack>/`, off by default, never
copied into reports, history or the screen; an ERROR result names its file. A provider
that does not start is an error saying what was tried and where the log is.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from iacdrift.engine.base import StackCall
from iacdrift.engine.engines import EmbeddedEngine
from iacdrift.engine.terraform_log import WARNING, TerraformLog
from iacdrift.errors import TerraformError
from iacdrift.loaders.registry import Project

pytestmark = pytest.mark.integration

# A line only Terraform's log holds (every Terraform process logs its version).
LOG_MARK = "Terraform version:"


def cli(project: Project, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "iacdrift", *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    return proc.returncode, proc.stdout, proc.stderr


def runs(project: Project) -> set[Path]:
    logs = project.root / ".iacdrift" / "logs"
    return {p for p in logs.iterdir() if p.is_dir()} if logs.is_dir() else set()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def bytes_under(root: Path) -> bytes:
    """Every regular file under ``root`` (the run history's SQLite files included)."""
    found = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return b"".join(p.read_bytes() for p in found)


def test_check_keeps_terraform_log_per_call_only_when_asked(
    sandbox_project: Project, tmp_path: Path
) -> None:
    before = runs(sandbox_project)
    code, out, err = cli(sandbox_project, "check", "prod-iam", "--format", "json")
    assert code == 0, err
    assert runs(sandbox_project) == before  # off by default

    out_dir = tmp_path / "out"
    code, out, err = cli(
        sandbox_project,
        "check",
        "prod-iam",
        "--format",
        "json",
        "--tf-log",
        "trace",
        "--out",
        str(out_dir),
    )
    assert code == 0, err
    (run_dir,) = runs(sandbox_project) - before
    assert mode(run_dir) == 0o700
    assert [p.name for p in run_dir.iterdir()] == ["prod-iam"]
    files = sorted((run_dir / "prod-iam").iterdir())
    assert mode(run_dir / "prod-iam") == 0o700
    # A file per Terraform process, numbered in order and named by its commands.
    assert [p.name.split("-", 1)[0] for p in files] == [
        f"{n:02d}" for n in range(1, len(files) + 1)
    ]
    assert any(p.name.endswith("plan+show.log") for p in files), files
    for path in files:
        assert mode(path) == 0o600
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# Terraform log, TF_LOG=TRACE: stack prod-iam, terraform ")
        assert all(f"# {line}" in text for line in WARNING.splitlines())
        assert LOG_MARK in text and "[TRACE]" in text
    plan_log = next(p for p in files if p.name.endswith("plan+show.log"))
    # The aws provider logged its requests to the moto server into the same file.
    assert "provider.terraform-provider-aws" in plan_log.read_text(encoding="utf-8")

    (result,) = json.loads(out)["results"]
    assert result["status"] == "CLEAN" and result["terraformLog"] is None
    # Nothing of the log reaches the screen, the reports or the run history.
    assert LOG_MARK not in out + err and "[TRACE]" not in out + err
    for written in (out_dir, sandbox_project.root / ".iacdrift"):
        data = bytes_under(written) if written == out_dir else _outside_logs(written)
        assert LOG_MARK.encode() not in data and b"[TRACE]" not in data


def _outside_logs(cache: Path) -> bytes:
    logs = cache / "logs"
    found = [
        p
        for p in cache.rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and not p.is_relative_to(logs)
        and "mirror" not in p.parts
        and "plugin-cache" not in p.parts
    ]
    return b"".join(p.read_bytes() for p in found)


def test_an_error_result_names_its_log_file(sandbox_project: Project, tmp_path: Path) -> None:
    stack = tmp_path / "needs-a-value"
    stack.mkdir()
    (stack / "main.tf").write_text(
        'variable "v" {\n  type = string\n}\n\noutput "o" {\n  value = var.v\n}\n',
        encoding="utf-8",
    )
    before = runs(sandbox_project)
    code, out, err = cli(
        sandbox_project,
        "check",
        str(stack),
        "--format",
        "json",
        env={"IACDRIFT_TF_LOG": "DEBUG"},
    )
    assert code == 1, err
    (result,) = json.loads(out)["results"]
    assert result["status"] == "ERROR"
    (run_dir,) = runs(sandbox_project) - before
    log = Path(result["terraformLog"])
    assert log.parent == run_dir / "needs-a-value" and log.is_file()
    assert log.name.endswith("init+plan+show.log") or log.name.endswith("plan+show.log")
    assert result["reason"].startswith("needs-a-value: terraform plan failed: No value for")
    assert result["reason"].endswith(f"; Terraform's log: {log}")
    text = log.read_text(encoding="utf-8")
    assert "TF_LOG=DEBUG" in text.splitlines()[0] and "[DEBUG]" in text
    assert "[DEBUG]" not in out + err


def test_plan_takes_the_variable_too(sandbox_project: Project) -> None:
    before = runs(sandbox_project)
    code, out, err = cli(sandbox_project, "plan", "prod-network", env={"IACDRIFT_TF_LOG": "info"})
    assert code == 0, err
    assert out.startswith("prod-network: NO_CHANGES")
    (run_dir,) = runs(sandbox_project) - before
    names = [p.name for p in sorted((run_dir / "prod-network").iterdir())]
    assert names == ["01-version.log", "02-init.log", "03-plan.log", "04-show.log"]
    assert err.endswith(f"it can hold secret values): {run_dir / 'prod-network'}\n")
    code, _, err = cli(sandbox_project, "plan", "prod-network", "--tf-log", "LOUD")
    assert code == 1
    assert "Invalid value for '--tf-log': 'LOUD' is not one of 'trace'" in err


# -- a provider that does not start ---------------------------------------------------------

BROKEN_PROVIDER = '#!/bin/sh\necho "this provider never starts" >&2\nexit 1\n'


def broken_provider_stack(tmp_path: Path) -> tuple[Path, Path]:
    """A stack whose only provider exits at once, from a filesystem mirror of its own
    (the stack's directory, the CLI config)."""
    mirror = tmp_path / "mirror"
    package = mirror / "registry.terraform.io" / "example" / "broken" / "1.0.0" / "linux_amd64"
    package.mkdir(parents=True)
    executable = package / "terraform-provider-broken_v1.0.0"
    executable.write_text(BROKEN_PROVIDER, encoding="utf-8")
    executable.chmod(0o755)
    rc = tmp_path / "terraform.rc"
    rc.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/example/*"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/example/*"]\n  }\n}\n',
        encoding="utf-8",
    )
    stack = tmp_path / "broken-provider"
    stack.mkdir()
    (stack / "main.tf").write_text(
        "terraform {\n  required_providers {\n"
        '    broken = { source = "example/broken", version = "1.0.0" }\n  }\n}\n\n'
        'provider "broken" {}\n',
        encoding="utf-8",
    )
    return stack, rc


@pytest.mark.parametrize("with_log", [True, False], ids=["tf-log", "no-tf-log"])
def test_a_provider_that_does_not_start_says_what_was_tried(tmp_path: Path, with_log: bool) -> None:
    stack, rc = broken_provider_stack(tmp_path)
    log = TerraformLog("TRACE", tmp_path / "logs", "r1") if with_log else None
    call = StackCall(stack="broken", workdir=stack, values={}, cli_config=rc, log=log)
    with pytest.raises(TerraformError) as caught:
        EmbeddedEngine().plan_and_show(call, init=True)
    message = str(caught.value)
    assert message.startswith("broken: terraform plan failed: Failed to load plugin schemas")
    # What was tried: the private TMPDIR the plugin's socket was to be made in.
    assert "; Terraform could not start a provider plugin (its TMPDIR was /" in message
    assert "bytes)" in message and "\n" not in message
    if log is None:
        assert message.endswith("rerun with --tf-log TRACE for Terraform's log")
        assert caught.value.log is None
    else:
        written = tmp_path / "logs" / "r1" / "broken" / "01-init+plan+show.log"
        assert caught.value.log == written
        assert message.endswith(f"; Terraform's log: {written}")
        assert "this provider never starts" in written.read_text(encoding="utf-8")
