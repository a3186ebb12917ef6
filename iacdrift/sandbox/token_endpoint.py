"""The sandbox's stand-in for the GitHub Actions OIDC token endpoint, on loopback.

It speaks the protocol a job uses: ``GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=...``
with ``Authorization: bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>``, answered with
``{"value": "<jwt>"}``. The JWT is unsigned (``alg: none``): moto's STS accepts any
token for any role, so a signature would prove nothing here. Because of that, a
refused assumption can only be simulated here: any stack named in
``<state dir>/token-refusals.json`` (read on every request) gets HTTP 403, which
iacdrift passes on as that stack's credentials error.

``iacdrift sandbox up`` starts it as a daemon in its own session (like the moto
server) and records pid, port and the request token in
``<state dir>/token-endpoint.json`` (mode 0600); ``down`` stops only a process
whose command line is this module on that port::

    python -m iacdrift.sandbox.token_endpoint --port P --state-dir D

The request token is handed to the daemon in its environment, never in argv.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from iacdrift.clock import utc_now
from iacdrift.errors import SandboxError
from iacdrift.sandbox.daemon import Daemon, free_port, read_record, write_record

MODULE = "iacdrift.sandbox.token_endpoint"
RECORD_FILE = "token-endpoint.json"
REFUSALS_FILE = "token-refusals.json"
LOG_FILE = "token-endpoint.log"
REQUEST_TOKEN_ENV = "IACDRIFT_SANDBOX_REQUEST_TOKEN"

ISSUER = "https://token.actions.githubusercontent.com"
SUBJECT = "repo:acme/infra-live:ref:refs/heads/main"
REPOSITORY = "acme/infra-live"
# GitHub's default audience when a job asks for none: the repository owner's URL.
DEFAULT_AUDIENCE = "https://github.com/acme"
TOKEN_LIFETIME_SECONDS = 600
# GitHub's request URL already carries a query; ours does too, so clients must append.
TOKEN_PATH = "/token?api-version=2.0"
ENDPOINT = Daemon(
    name="the token endpoint", module=MODULE, port_flag="--port", health_path="/health"
)


class TokenEndpointRecord(BaseModel):
    """What `sandbox up` recorded about the running stand-in. Holds the request token."""

    model_config = ConfigDict(extra="forbid")

    schemaVersion: int = 1
    pid: int
    port: int
    requestToken: str = Field(description="Bearer token a client must present; secret.")
    startedAt: datetime

    @property
    def request_url(self) -> str:
        """The ACTIONS_ID_TOKEN_REQUEST_URL equivalent."""
        return f"http://127.0.0.1:{self.port}{TOKEN_PATH}"

    def __repr__(self) -> str:
        return f"TokenEndpointRecord(pid={self.pid}, port={self.port})"


# -- the refusal list -----------------------------------------------------------------


def read_refusals(state_dir: Path) -> list[str]:
    """Stacks the stand-in refuses, sorted; none when the file is absent."""
    path = state_dir / REFUSALS_FILE
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise SandboxError(
            f"{path}: unreadable refusal list ({exc.__class__.__name__}); delete it or "
            "rewrite it with `iacdrift sandbox token refuse|allow`"
        ) from exc
    if not isinstance(loaded, list) or not all(isinstance(item, str) for item in loaded):
        raise SandboxError(f"{path}: expected a JSON list of stack names; delete or fix it")
    return sorted(set(loaded))


def write_refusals(state_dir: Path, stacks: Sequence[str]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / REFUSALS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(set(stacks)), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


# -- tokens -----------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """A JWT with ``alg: none`` and an empty signature."""
    header = {"alg": "none", "typ": "JWT"}
    parts = (json.dumps(header, separators=(",", ":")), json.dumps(claims, separators=(",", ":")))
    return ".".join(_b64url(part.encode("utf-8")) for part in parts) + "."


def token_claims(audience: str, issued_at: int) -> dict[str, Any]:
    """The claims of a GitHub Actions ID token for the example repository's main branch."""
    return {
        "iss": ISSUER,
        "aud": audience,
        "sub": SUBJECT,
        "repository": REPOSITORY,
        "ref": "refs/heads/main",
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + TOKEN_LIFETIME_SECONDS,
        # Every answer is a fresh token.
        "jti": secrets.token_hex(16),
    }


# -- the server -----------------------------------------------------------------------


class TokenServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, state_dir: Path, request_token: str, *, log: bool) -> None:
        self.state_dir = state_dir
        self.request_token = request_token
        self.log = log
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: TokenServer
    server_version = "iacdrift-token-endpoint"

    def do_GET(self) -> None:
        parsed = urlsplit(self.path)
        if parsed.path == "/health":
            self._answer(200, {"status": "ok"})
            return
        if parsed.path != "/token":
            self._answer(404, {"message": f"no such path {parsed.path}; use /token"})
            return
        scheme, _, given = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self.server.request_token.encode()
        ):
            self._answer(401, {"message": "missing or wrong bearer request token"})
            return
        query = parse_qs(parsed.query)
        stack = (query.get("iacdrift_stack") or [""])[0]
        audience = (query.get("audience") or [DEFAULT_AUDIENCE])[0]
        try:
            refused = stack in read_refusals(self.server.state_dir)
        except SandboxError as exc:
            self._answer(500, {"message": str(exc)})
            return
        if stack and refused:
            self._answer(
                403,
                {
                    "message": f"the sandbox refuses tokens for stack {stack} "
                    f"(listed in {REFUSALS_FILE})"
                },
            )
            return
        claims = token_claims(audience, int(time.time()))
        self._answer(200, {"count": 1, "value": unsigned_jwt(claims)})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds the path and query only; headers (the bearer
        # token) are never logged.
        if self.server.log:
            sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")


@contextlib.contextmanager
def serving_in_thread(state_dir: Path, request_token: str) -> Iterator[str]:
    """Serve on a free loopback port inside this process; yield the request URL.

    For unit tests and tools; `sandbox up` runs the daemon instead.
    """
    server = TokenServer(0, state_dir, request_token, log=False)
    thread = threading.Thread(target=server.serve_forever, name="token-endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{TOKEN_PATH}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- the daemon -----------------------------------------------------------------------


def load_record(state_dir: Path) -> TokenEndpointRecord | None:
    return read_record(state_dir / RECORD_FILE, TokenEndpointRecord, "token endpoint record")


def save_record(state_dir: Path, record: TokenEndpointRecord) -> None:
    # The record holds the request token: private to the user.
    write_record(state_dir / RECORD_FILE, record, mode=0o600)


def forget_record(state_dir: Path) -> None:
    (state_dir / RECORD_FILE).unlink(missing_ok=True)


def is_ours(pid: int, port: int) -> bool:
    """True when ``pid`` is alive and is this module serving on ``port``."""
    return ENDPOINT.is_ours(pid, port)


def is_answering(port: int) -> bool:
    return ENDPOINT.is_answering(port)


def start(state_dir: Path) -> TokenEndpointRecord:
    """Start the daemon in its own session, wait until it answers, record it."""
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    request_token = secrets.token_urlsafe(32)
    env = {
        REQUEST_TOKEN_ENV: request_token,
        # Importable however iacdrift is installed (editable or not).
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    pid = ENDPOINT.start(
        port,
        args=["--state-dir", str(state_dir)],
        env=env,
        log=state_dir / LOG_FILE,
        within=20,
    )
    record = TokenEndpointRecord(
        pid=pid, port=port, requestToken=request_token, startedAt=utc_now()
    )
    save_record(state_dir, record)
    return record


def stop(record: TokenEndpointRecord) -> bool:
    """Stop the daemon we started; never signal any other process."""
    return ENDPOINT.stop(record.pid, record.port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    request_token = os.environ.get(REQUEST_TOKEN_ENV, "")
    if not request_token:
        parser.error(f"{REQUEST_TOKEN_ENV} must hold the request token")
    server = TokenServer(args.port, args.state_dir, request_token, log=True)

    def _terminate(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever, which runs in this thread: hand it off.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _terminate)
    sys.stderr.write(f"token endpoint on 127.0.0.1:{args.port} (state dir {args.state_dir})\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
