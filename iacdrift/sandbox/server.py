"""The sandbox cloud: a moto server on a free 127.0.0.1 port, in the background.

Its pid and port are recorded in ``<state dir>/sandbox.json``; ``down`` stops
only a process whose command line is the moto server we started on that port.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from iacdrift.errors import MissingExtraError
from iacdrift.sandbox.daemon import Daemon, read_record, write_record
from iacdrift.sandbox.daemon import free_port as free_port

STATE_FILE = "sandbox.json"
LOG_FILE = "moto.log"
MOTO = Daemon(
    name="moto server",
    # moto's application served one request per connection: see sandbox/moto_server.py.
    module="iacdrift.sandbox.moto_server",
    port_flag="-p",
    health_path="/moto-api/",
)
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
    return read_record(state_dir / STATE_FILE, SandboxState, "sandbox record")


def save_state(state_dir: Path, state: SandboxState) -> None:
    write_record(state_dir / STATE_FILE, state)


def is_answering(port: int) -> bool:
    return MOTO.is_answering(port)


def is_our_server(pid: int, port: int) -> bool:
    """True when ``pid`` is alive and is the moto server we started on ``port``."""
    return MOTO.is_ours(pid, port)


def start_server(state_dir: Path) -> tuple[int, int]:
    """Start moto in its own session; return (pid, port) once it answers."""
    require_moto()
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # AWS managed policies (AdministratorAccess, ...) exist in every real account.
    env = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    pid = MOTO.start(port, args=["-H", "127.0.0.1"], env=env, log=state_dir / LOG_FILE, within=30)
    return pid, port


def stop_server(pid: int, port: int) -> bool:
    """Stop the moto server we started; never signal any other process."""
    return MOTO.stop(pid, port)


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
