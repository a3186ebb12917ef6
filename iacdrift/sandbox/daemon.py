"""The sandbox's background servers (the moto server, the token endpoint stand-in):
started detached on a free loopback port, recorded, recognised, stopped.

A :class:`Daemon` says how to run one (``python -m <module> <port flag> <port> ...``)
and how to ask whether it answers. It is started in its own session so it outlives
the command that started it; the caller records its pid and port (with
:func:`write_record`) and later stops only a process whose command line is still
that module on that port, so a reused pid is never signalled.

A daemon stays a child of the process that started it. When that process lives on
(a test session, a worker) the daemon must be reaped when it exits, whoever stops
it (``sandbox down`` from another process included), or it lingers as a zombie: a
thread per started daemon waits for exactly that pid (as asyncio's
ThreadedChildWatcher does), never for "any child", so no other child's exit
status (a Terraform process's) is taken.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from iacdrift.errors import SandboxError

R = TypeVar("R", bound=BaseModel)

# Only what a daemon needs: no credentials of the caller reach it.
ENVIRONMENT = frozenset({"PATH", "LANG", "LC_ALL", "HOME", "TZ"})
_POLL_SECONDS = 0.05


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Child:
    """A daemon this process started, reaped by a thread the moment it exits."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None
        self.exited = threading.Event()
        threading.Thread(target=self._wait, name=f"reap-{pid}", daemon=True).start()

    def _wait(self) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            pass  # reaped elsewhere
        finally:
            with _CHILDREN_LOCK:
                _CHILDREN.pop(self.pid, None)
            self.exited.set()


# The daemons this process started and that have not exited yet, by pid. A pid here
# is an unreaped child of ours, so it cannot have been reused.
_CHILDREN: dict[int, _Child] = {}
_CHILDREN_LOCK = threading.Lock()
# A forked copy of this process has neither those children nor their threads.
os.register_at_fork(after_in_child=_CHILDREN.clear)


def _child(pid: int) -> _Child | None:
    with _CHILDREN_LOCK:
        return _CHILDREN.get(pid)


def command_line(pid: int) -> list[str]:
    """The argv of process ``pid``; empty when it is gone (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


@dataclass(frozen=True)
class Daemon:
    """One kind of background server: what runs it and where it says it is up."""

    name: str  # in messages: "<name> did not answer on ..."
    module: str  # run as ``python -m <module>``
    port_flag: str  # the option taking its port: "-p", "--port"
    health_path: str  # answers HTTP 200 once the server is up

    def is_ours(self, pid: int, port: int) -> bool:
        """True when ``pid`` is alive and is this module serving on ``port``."""
        argv = command_line(pid)
        if self.module not in argv or self.port_flag not in argv:
            return False
        index = argv.index(self.port_flag)
        return index + 1 < len(argv) and argv[index + 1] == str(port)

    def is_answering(self, port: int) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}{self.health_path}", timeout=5
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def start(
        self,
        port: int,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        log: Path,
        within: int,
    ) -> int:
        """Start the server in its own session, its output appended to ``log``; return
        its pid once it answers. ``env`` is added to the allowlisted environment."""
        environment = {k: v for k, v in os.environ.items() if k in ENVIRONMENT}
        environment.update(env or {})
        argv = [sys.executable, "-m", self.module, self.port_flag, str(port), *args]
        # posix_spawn with setsid: a daemon in its own session that outlives this
        # command, with no Popen object left to complain about a running child.
        pid = os.posix_spawn(
            sys.executable,
            argv,
            environment,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
        with _CHILDREN_LOCK:
            child = _CHILDREN[pid] = _Child(pid)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if child.exited.is_set():
                raise SandboxError(f"{self.name} exited with status {child.status}; see {log}")
            if self.is_answering(port):
                return pid
            time.sleep(_POLL_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        child.exited.wait()
        raise SandboxError(f"{self.name} did not answer on 127.0.0.1:{port} within {within}s")

    def stop(self, pid: int, port: int) -> bool:
        """SIGTERM, then SIGKILL after 10 s; never signals a process that is not ours.

        False when ``pid`` is no longer this server.
        """
        if not self.is_ours(pid, port):
            return False
        child = _child(pid)  # None: started by another process (it reaps its own)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.is_ours(pid, port):
            time.sleep(_POLL_SECONDS)
        if self.is_ours(pid, port):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if child is not None:
            # Its command line is gone before it is a zombie: wait for the reaper, so
            # no zombie is left when this returns.
            child.exited.wait(10)
        return True


def read_record(path: Path, model: type[R], what: str) -> R | None:
    """The record at ``path``; None when absent. ``what`` names it in the error."""
    if not path.exists():
        return None
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SandboxError(
            f"{path}: unreadable {what} ({exc.__class__.__name__}); "
            "run `iacdrift sandbox down` then `up`"
        ) from exc


def write_record(path: Path, record: BaseModel, *, mode: int = 0o666) -> None:
    """Replace ``path`` atomically with ``record``, created with ``mode`` (less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(record.model_dump_json(indent=2) + "\n")
    tmp.replace(path)
