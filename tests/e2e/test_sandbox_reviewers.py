"""`iacdrift sandbox reviewer N` as a person runs it: after `sandbox up` it prints the
shell lines that make the caller surgery reviewer N (sts:GetCallerIdentity then says
so); before, or for an N the sandbox does not make, it says what to do and exits 1.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iacdrift.aws.session import AwsCredentials, Target, client
from iacdrift.errors import ExitCode
from iacdrift.flows import sandbox
from iacdrift.loaders.registry import load_project
from iacdrift.sandbox import iam
from tests.conftest import copy_example_project

pytestmark = pytest.mark.e2e


def iacdrift(root: Path, *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "iacdrift", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # No stack is applied (`up --no-apply`): no provider cache needed.
    directory = copy_example_project(tmp_path_factory.mktemp("reviewers-cli"))
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "TF_"))}
    try:
        yield directory
    finally:
        sandbox.down(load_project(cwd=directory))
        os.environ.update(saved)


def exports(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if words[:1] == ["export"]:
            name, _, value = words[1].partition("=")
            found[name] = value
    return found


def test_help_says_what_it_is_for(project_dir: Path) -> None:
    code, out, _ = iacdrift(project_dir, "sandbox", "reviewer", "--help")
    assert code == ExitCode.OK
    assert "surgery reviewer N" in out and "eval" in out


def test_before_up_it_says_to_start_the_sandbox(project_dir: Path) -> None:
    code, out, err = iacdrift(project_dir, "sandbox", "reviewer", "1")
    assert code == ExitCode.FAILED
    assert out == ""
    assert "the sandbox is not running: start it with `iacdrift sandbox up`" in err


def test_an_n_other_than_1_or_2_is_a_usage_error_exit_1(project_dir: Path) -> None:
    code, out, err = iacdrift(project_dir, "sandbox", "reviewer", "3")
    assert code == ExitCode.FAILED
    assert out == "" and "1<=x<=2" in err


def test_after_up_it_makes_the_caller_reviewer_n(project_dir: Path) -> None:
    code, out, err = iacdrift(project_dir, "sandbox", "up", "--no-apply")
    assert code == ExitCode.OK, err
    assert "surgery reviewers: surgery-reviewer-1, surgery-reviewer-2" in out
    record = project_dir / ".iacdrift" / "sandbox" / iam.REVIEWERS_FILE
    assert record.stat().st_mode & 0o777 == 0o600
    state, running = sandbox.status(load_project(cwd=project_dir))
    assert state is not None and running
    target = Target(state.region, state.endpoint_url)
    arns = []
    for number in (1, 2):
        code, out, err = iacdrift(project_dir, "sandbox", "reviewer", str(number))
        assert code == ExitCode.OK, err
        values = exports(out)
        assert sorted(values) == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        assert "unset AWS_SESSION_TOKEN" in out
        assert f"user/surgery-reviewer-{number}" in err
        credentials = AwsCredentials(values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"])
        arns.append(client("sts", credentials, target).get_caller_identity()["Arn"])
    assert [arn.rsplit("/", 1)[1] for arn in arns] == list(iam.REVIEWER_USERS)
    # A second `up` keeps them: the printed keys still work.
    before = record.read_bytes()
    code, _, err = iacdrift(project_dir, "sandbox", "up", "--no-apply")
    assert code == ExitCode.OK, err
    assert record.read_bytes() == before
    # `down` forgets the keys with the server that knew them.
    code, _, err = iacdrift(project_dir, "sandbox", "down")
    assert code == ExitCode.OK, err
    assert not record.exists()
