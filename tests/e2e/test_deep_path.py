"""A project at a 200-character path: `sandbox up` applies the estate and `iacdrift
check` plans a stack there with the real Terraform and aws provider.

Terraform's provider plugins listen on a unix socket made in TMPDIR, and a socket
path holds at most 107 bytes: a TMPDIR under the project's `.iacdrift/` broke every
plan of a project deeper than about 60 characters (CI workspaces). Terraform's TMPDIR
is a short private directory under the system temporary directory instead, removed
after each call: the test's own TMPDIR is left empty.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project, load_project
from tests.conftest import start_sandbox_project

pytestmark = pytest.mark.e2e

DEPTH = 200


def deep_directory(base: Path, length: int) -> Path:
    """A directory under ``base`` whose absolute path is exactly ``length`` characters,
    in path segments of the kind CI runners use."""
    path = base.resolve()
    segment = 0
    while len(str(path)) < length:
        room = length - len(str(path)) - 1
        name = f"workspace-{segment}-" + "x" * 40
        if room <= len(name) + 12:
            name = "p" * room
        path = path / name
        segment += 1
    assert len(str(path)) == length, path
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def deep_project(tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path) -> Iterator[Project]:
    directory = deep_directory(tmp_path_factory.mktemp("deep"), DEPTH)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "TF_"))}
    try:
        # `sandbox up` applies every stack of the example estate from here.
        yield start_sandbox_project(directory, plugin_cache)
    finally:
        sandbox.down(load_project(cwd=directory))
        os.environ.update(saved)


@pytest.fixture
def short_tmpdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="iacd-test-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_check_at_a_200_character_project_path(deep_project: Project, short_tmpdir: Path) -> None:
    assert len(str(deep_project.root)) == DEPTH
    proc = subprocess.run(
        [sys.executable, "-m", "iacdrift", "check", "prod-iam", "--format", "json"],
        cwd=deep_project.root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TMPDIR": str(short_tmpdir)},
    )
    assert proc.stdout, proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert (proc.returncode, result["status"]) == (0, "CLEAN"), result.get("reason")
    # The provider started: the plan read the live role (the IAM policy's tag noise, and
    # the reporting role's policies its own attachment resources manage).
    assert [f["driftClass"] for f in result["findings"]] == ["PROVIDER_READ_NOISE"] * 2
    # Each call's TMPDIR was private to it and removed afterwards.
    assert list(short_tmpdir.iterdir()) == []
    scratch = deep_project.root / ".iacdrift" / "scratch"
    assert not scratch.exists() or list(scratch.iterdir()) == []
