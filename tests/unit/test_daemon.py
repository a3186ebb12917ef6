"""The sandbox daemons' shared part, against a real child process: started detached
on a free port with only allowlisted environment, recognised by pid and port,
stopped and reaped (this test process is the long-lived parent: no zombie is left,
whoever stops the daemon); records written atomically and read back."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import BaseModel, ConfigDict

from iacdrift.errors import SandboxError
from iacdrift.sandbox.daemon import (
    Daemon,
    command_line,
    free_port,
    read_record,
    write_record,
)

# A stand-in server: answers /health, prints its environment's names to stderr (the
# log); ``--mode exit`` exits at once, ``--mode silent`` never listens.
SERVER = dedent(
    """
    import argparse, json, os, sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="serve")
    args = parser.parse_args()
    print(json.dumps(sorted(os.environ)), file=sys.stderr, flush=True)
    if args.mode == "exit":
        sys.exit(3)
    if args.mode == "silent":
        time.sleep(60)
    HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
    """
)

STANDIN = Daemon(
    name="the stand-in", module="standin_server", port_flag="--port", health_path="/health"
)


@pytest.fixture
def module_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "modules"
    directory.mkdir()
    (directory / "standin_server.py").write_text(SERVER, encoding="utf-8")
    return directory


@pytest.fixture
def started(
    module_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[int, int, Path]]:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak")
    port = free_port()
    log = tmp_path / "standin.log"
    pid = STANDIN.start(port, env={"PYTHONPATH": str(module_dir), "EXTRA": "1"}, log=log, within=20)
    try:
        yield pid, port, log
    finally:
        STANDIN.stop(pid, port)


def test_started_daemon_is_ours_answers_and_stops(started: tuple[int, int, Path]) -> None:
    pid, port, _ = started
    assert STANDIN.is_answering(port)
    assert STANDIN.is_ours(pid, port)
    assert command_line(pid)[1:5] == ["-m", "standin_server", "--port", str(port)]
    # The same process on another port, or another module, is not ours.
    assert not STANDIN.is_ours(pid, port + 1)
    other = Daemon(name="x", module="other_module", port_flag="--port", health_path="/health")
    assert not other.is_ours(pid, port)
    assert not STANDIN.is_ours(os.getpid(), port)

    assert STANDIN.stop(pid, port) is True
    assert not STANDIN.is_ours(pid, port)
    assert not STANDIN.is_answering(port)
    # Stopping again signals nothing.
    assert STANDIN.stop(pid, port) is False


def test_the_daemon_gets_only_allowlisted_environment(started: tuple[int, int, Path]) -> None:
    _, _, log = started
    names = json.loads(log.read_text(encoding="utf-8").splitlines()[0])
    assert "AWS_SECRET_ACCESS_KEY" not in names
    assert {"EXTRA", "PYTHONPATH"} <= set(names)
    assert set(names) - {"EXTRA", "PYTHONPATH"} <= {"PATH", "LANG", "LC_ALL", "HOME", "TZ"} | {
        # Set by the interpreter itself on some platforms.
        "LC_CTYPE"
    }
    assert stat.S_IMODE(log.stat().st_mode) & 0o077 == 0


def test_a_daemon_that_exits_is_an_error_naming_its_log(module_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "exit.log"
    with pytest.raises(
        SandboxError, match=r"^the stand-in exited with status \d+; see .*exit\.log$"
    ):
        STANDIN.start(
            free_port(),
            args=["--mode", "exit"],
            env={"PYTHONPATH": str(module_dir)},
            log=log,
            within=20,
        )


def test_a_daemon_that_never_answers_is_killed(module_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(SandboxError) as caught:
        STANDIN.start(
            port,
            args=["--mode", "silent"],
            env={"PYTHONPATH": str(module_dir)},
            log=tmp_path / "silent.log",
            within=2,
        )
    assert str(caught.value) == f"the stand-in did not answer on 127.0.0.1:{port} within 2s"
    # Killed and reaped: no process of that module on that port is left.
    assert not any(
        STANDIN.is_ours(int(entry.name), port)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
    )


def process_state(pid: int) -> str | None:
    """The state letter of ``pid`` in /proc ("Z": a zombie); None when it is gone."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return stat_line.rsplit(")", 1)[1].split()[0]


def gone_within(pid: int, seconds: float) -> str | None:
    """None once ``pid`` is gone (reaped); else its last state after ``seconds``."""
    deadline = time.monotonic() + seconds
    while (state := process_state(pid)) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    return state


def test_a_stopped_daemon_is_reaped_at_once(started: tuple[int, int, Path]) -> None:
    pid, port, _ = started
    assert STANDIN.stop(pid, port) is True
    assert process_state(pid) is None


STOP_ELSEWHERE = """
import sys
from iacdrift.sandbox.daemon import Daemon
standin = Daemon(name="x", module="standin_server", port_flag="--port", health_path="/health")
sys.exit(0 if standin.stop(int(sys.argv[1]), int(sys.argv[2])) else 3)
"""


def test_a_daemon_stopped_by_another_process_is_reaped(started: tuple[int, int, Path]) -> None:
    """`iacdrift sandbox down` in another process stops a daemon this (long-lived)
    process started: only we can reap it, and we do without being asked."""
    pid, port, _ = started
    done = subprocess.run(
        [sys.executable, "-c", STOP_ELSEWHERE, str(pid), str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert gone_within(pid, 5) is None


def test_a_daemon_that_dies_is_reaped(started: tuple[int, int, Path]) -> None:
    pid, port, _ = started
    os.kill(pid, signal.SIGKILL)
    assert gone_within(pid, 5) is None
    # Dead and reaped: not ours any more, nothing is signalled.
    assert STANDIN.stop(pid, port) is False


def test_command_line_of_a_missing_process_is_empty() -> None:
    assert command_line(2**22 + 1) == []


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schemaVersion: int = 1
    pid: int
    port: int
    startedAt: datetime


def test_records_round_trip_atomically_with_their_mode(tmp_path: Path) -> None:
    path = tmp_path / "state" / "thing.json"
    assert read_record(path, Record, "thing record") is None
    first = Record(pid=1, port=2, startedAt=datetime(2025, 1, 1, tzinfo=UTC))
    write_record(path, first, mode=0o600)
    assert read_record(path, Record, "thing record") == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8") == first.model_dump_json(indent=2) + "\n"
    # A leftover temporary file from a crash does not stop the next write.
    (path.parent / "thing.json.tmp").write_text("half", encoding="utf-8")
    second = first.model_copy(update={"port": 3})
    write_record(path, second, mode=0o600)
    assert read_record(path, Record, "thing record") == second
    assert sorted(p.name for p in path.parent.iterdir()) == ["thing.json"]


def test_an_unreadable_record_says_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "thing.json"
    path.write_text('{"pid": "x"}', encoding="utf-8")
    with pytest.raises(SandboxError) as caught:
        read_record(path, Record, "thing record")
    assert str(caught.value) == (
        f"{path}: unreadable thing record (ValidationError); run `iacdrift sandbox down` then `up`"
    )
