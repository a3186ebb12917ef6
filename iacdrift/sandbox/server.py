"""The sandbox cloud: a moto server on a free 127.0.0.1 port, in the background.

Its pid and port are recorded in ``<state dir>/sandbox.json``; ``down`` stops
only a process whose command line is the moto server we started on that port.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from iacdrift.errors import MissingExtraError, SandboxError

STATE_FILE = "sandbox.json"
REGION = "us-east-1"
# moto accepts any key; these name the sandbox identity in Terraform's lock info.
ACCESS_KEY_ID = "AKIASANDBOXIACDRIFT0"
SECRET_ACCESS_KEY = "sandbox-not-a-secret"
STATE_BUCKET = "iacdrift-sandbox-tfstate"
LOCK_TABLE = "iacdrift-sandbox-locks"
# Issued by "the database team" outside Terraform; prod-payments reads it.
BOOTSTRAP_SECRET = "iacdrift-sandbox/ledger-db-password"


class SandboxState(BaseModel):
    """What `sandbox up` recorded. Persisted; ``schemaVersion`` guards its format."""

    model_config = ConfigDict(extra="forbid")

    schemaVersion: int = 1
    pid: int
    port: int
    startedAt: datetime
    region: str = REGION
    stateBucket: str = STATE_BUCKET
    lockTable: str = LOCK_TABLE
    providerMirror: str = Field(description="Packed filesystem mirror of the aws provider.")
    appliedStacks: list[str] = Field(default_factory=list)
    scenarios: list[str] = Field(default_factory=list, description="Injected drift, in order.")

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def require_moto() -> None:
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            "the sandbox needs the `sandbox` extra: pip install 'iacdrift[sandbox]'"
        ) from exc


def load_state(state_dir: Path) -> SandboxState | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        return SandboxState.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SandboxError(
            f"{path}: unreadable sandbox record ({exc.__class__.__name__}); "
            "run `iacdrift sandbox down` then `up`"
        ) from exc


def save_state(state_dir: Path, state: SandboxState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(state.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(state_dir / STATE_FILE)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_answering(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=5) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_our_server(pid: int, port: int) -> bool:
    """True when ``pid`` is alive and is the moto server we started on ``port``."""
    line = _cmdline(pid)
    return "moto" in line and f"-p {port}" in line


def start_server(state_dir: Path) -> tuple[int, int]:
    """Start moto in its own session; return (pid, port) once it answers."""
    require_moto()
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = state_dir / "moto.log"
    # Only what moto needs: no credentials of the caller reach it.
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "LANG", "LC_ALL", "HOME", "TZ"}}
    # AWS managed policies (AdministratorAccess, ...) exist in every real account.
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    # posix_spawn with setsid: a daemon in its own session that outlives this
    # command, with no Popen object left to complain about a running child.
    pid = os.posix_spawn(
        sys.executable,
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            raise SandboxError(f"moto server exited with status {status}; see {log}")
        if is_answering(port):
            return pid, port
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise SandboxError(f"moto server did not answer on 127.0.0.1:{port} within 30s")


def stop_server(pid: int, port: int) -> bool:
    """Stop the moto server we started; never signal any other process."""
    if not is_our_server(pid, port):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and is_our_server(pid, port):
        time.sleep(0.1)
    if is_our_server(pid, port):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True


def now() -> datetime:
    return datetime.now(UTC)


def enable_iam_enforcement(port: int) -> None:
    """Switch moto's IAM enforcement on (process-wide; see the notes on moto)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/moto-api/reset-auth",
        data=b"0",
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        json.loads(response.read() or b"{}")
