"""Credentials for one stack, and nothing broader.

A :class:`CredentialResolver` is built once per command (by the Workbench) and
decides, per stack:

1. a registered stack, with a token source configured (``oidc:`` in
   ``iacdrift.yaml``): a fresh web identity token for that stack, exchanged
   with ``sts:AssumeRoleWithWebIdentity`` for the stack's own
   ``credentials.oidcRole`` (source ``oidc``). If that fails, the stack gets a
   CredentialsError naming it and the cause, unless its registry entry says
   ``credentials.allowAmbient: true``: then it runs with the ambient identity,
   recorded as source ``ambient-fallback`` (the settings-wide
   ``allowAmbientCredentials`` never turns a failed OIDC exchange into ambient);
2. otherwise the ambient identity, only where allowed (the entry's
   ``allowAmbient`` or the settings' ``allowAmbientCredentials``): source
   ``ambient``, or whatever identity the caller handed in as ``ambient`` (the
   Workbench hands in the sandbox's loopback key, source ``sandbox``);
3. otherwise a CredentialsError.

One stack's credentials are never handed to another: the cache is keyed by the
stack and each stack gets its own token and session. The inventory (listing the
live estate, reading every state) uses the read-only role named per account in
``inventoryRoles``; leases use the orchestrator's own identity, never a stack's.

Token sources speak to the outside with stdlib HTTP or files; STS goes through
:mod:`iacdrift.aws.sts` (only ``aws/`` builds boto3 clients).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from iacdrift.aws.session import AwsCredentials, Target, ambient_credentials
from iacdrift.aws.sts import assume_role_with_web_identity, session_name
from iacdrift.errors import CredentialsError
from iacdrift.models.finding import CredentialsSource
from iacdrift.models.registry import DriftManagedUnit, Oidc, Settings, TokenSourceKind

log = logging.getLogger(__name__)

DEFAULT_AUDIENCE = "sts.amazonaws.com"
REQUEST_URL_ENV = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN_ENV = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
# The subject the inventory asks tokens for and names its STS sessions after.
INVENTORY = "inventory"
# Re-assume a cached role this long before its session expires.
_EXPIRY_MARGIN_SECONDS = 120.0


class TokenSource(Protocol):
    """Gives a fresh web identity token (a JWT) for one stack."""

    def token(self, stack: str) -> str: ...


@dataclass(frozen=True)
class GitHubActionsTokenSource:
    """The GitHub Actions ID token protocol: ``GET $ACTIONS_ID_TOKEN_REQUEST_URL``
    plus ``audience`` (and ``iacdrift_stack``, informational) with
    ``Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN``; answer ``{"value": jwt}``.

    The sandbox's stand-in speaks the same protocol; ``label`` and the hints
    make its errors say what to do there.
    """

    request_url: str | None
    request_token: str | None = field(default=None, repr=False)
    audience: str = DEFAULT_AUDIENCE
    label: str = "the GitHub Actions token endpoint"
    missing_hint: str = (
        "run inside a GitHub Actions job with `permissions: id-token: write` (it sets "
        f"{REQUEST_URL_ENV} and {REQUEST_TOKEN_ENV}), or set oidc.source in iacdrift.yaml "
        "to file or env"
    )
    refused_hint: str = "check the job's id-token permission and the token endpoint's answer"
    timeout: float = 10.0

    @classmethod
    def from_environment(
        cls, audience: str = DEFAULT_AUDIENCE, environ: Mapping[str, str] | None = None
    ) -> GitHubActionsTokenSource:
        env = os.environ if environ is None else environ
        return cls(env.get(REQUEST_URL_ENV) or None, env.get(REQUEST_TOKEN_ENV) or None, audience)

    def url_for(self, stack: str) -> str:
        if not self.request_url:
            raise ValueError("no request URL")
        joiner = "&" if urllib.parse.urlsplit(self.request_url).query else "?"
        query = urllib.parse.urlencode({"audience": self.audience, "iacdrift_stack": stack})
        return f"{self.request_url}{joiner}{query}"

    def _where(self) -> str:
        parts = urllib.parse.urlsplit(self.request_url or "")
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "(no URL)"

    def token(self, stack: str) -> str:
        if not self.request_url or not self.request_token:
            raise CredentialsError(
                f"{stack}: no web identity token: {self.label} is not available; "
                f"{self.missing_hint}"
            )
        request = urllib.request.Request(
            self.url_for(stack),
            headers={"Authorization": f"bearer {self.request_token}", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            message = _error_message(exc)
            if exc.code == 403:
                raise CredentialsError(
                    f"{stack}: {self.label} refused a token for this stack "
                    f"(HTTP 403: {message}); {self.refused_hint.format(stack=stack)}"
                ) from exc
            raise CredentialsError(
                f"{stack}: {self.label} at {self._where()} answered HTTP {exc.code}: {message}; "
                f"{self.missing_hint}"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CredentialsError(
                f"{stack}: {self.label} at {self._where()} is unreachable ({reason}); "
                f"{self.missing_hint}"
            ) from exc
        try:
            value = json.loads(body).get("value")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str) or not value:
            raise CredentialsError(
                f'{stack}: {self.label} answered without a token (expected JSON {{"value": ...}}); '
                f"{self.missing_hint}"
            )
        return value


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read()
        found = json.loads(body).get("message")
        text = str(found) if found else body.decode("utf-8", "replace")
    except (ValueError, AttributeError, OSError):
        text = str(exc.reason)
    return " ".join(text.split())[:300] or str(exc.reason)


@dataclass(frozen=True)
class FileTokenSource:
    """A token file (e.g. one a CI system refreshes), read again for every stack."""

    path: Path

    def token(self, stack: str) -> str:
        try:
            value = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError as exc:
            raise CredentialsError(
                f"{stack}: the web identity token file {self.path} does not exist "
                "(oidc.tokenFile); write the token there or fix the path"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(
                f"{stack}: cannot read the web identity token file {self.path}: {exc}; "
                "check its permissions"
            ) from exc
        if not value:
            raise CredentialsError(
                f"{stack}: the web identity token file {self.path} is empty; write the token there"
            )
        return value


@dataclass(frozen=True)
class EnvTokenSource:
    """An environment variable holding the token, read for every stack."""

    variable: str
    environ: Mapping[str, str] | None = field(default=None, repr=False)

    def token(self, stack: str) -> str:
        env = os.environ if self.environ is None else self.environ
        value = (env.get(self.variable) or "").strip()
        if not value:
            raise CredentialsError(
                f"{stack}: environment variable {self.variable} (oidc.tokenEnv) is not set or "
                "empty; export the web identity token in it, or change oidc.source"
            )
        return value


def token_source(
    oidc: Oidc | None,
    *,
    root: Path,
    sandbox: TokenSource | None = None,
    environ: Mapping[str, str] | None = None,
) -> TokenSource | None:
    """The token source the settings ask for; None when ``oidc`` is not configured.

    ``sandbox``: the sandbox's stand-in endpoint, handed in by the caller (the
    Workbench) for ``oidc.source: sandbox``; credentials never reach into the sandbox.
    """
    if oidc is None:
        return None
    if oidc.source is TokenSourceKind.GITHUB_ACTIONS:
        return GitHubActionsTokenSource.from_environment(oidc.audience, environ)
    if oidc.source is TokenSourceKind.FILE:
        assert oidc.tokenFile is not None  # the model requires it for source: file
        return FileTokenSource((root / oidc.tokenFile).resolve())
    if oidc.source is TokenSourceKind.ENV:
        assert oidc.tokenEnv is not None  # the model requires it for source: env
        return EnvTokenSource(oidc.tokenEnv, environ)
    if sandbox is None:
        raise CredentialsError(
            "oidc.source is sandbox, but no sandbox token endpoint was handed in "
            "(iacdrift hands it in when it opens a project)"
        )
    return sandbox


# -- the resolver --------------------------------------------------------------------

AssumeRole = Callable[[str, str, str, int, Target], AwsCredentials]


def ambient_allowed(unit: DriftManagedUnit | None, settings: Settings) -> bool:
    return settings.allowAmbientCredentials or (
        unit is not None and unit.spec.credentials.allowAmbient
    )


@dataclass
class _Cached:
    credentials: AwsCredentials
    expires: float | None  # time.monotonic() deadline; None: does not expire here


class CredentialResolver:
    """Per-stack, inventory and orchestrator credentials for one command (one run id).

    Thread-safe: stacks resolve in parallel, one stack at a time per key.
    """

    def __init__(
        self,
        settings: Settings,
        target: Target,
        *,
        run_id: str,
        token_source: TokenSource | None,
        assume: AssumeRole = assume_role_with_web_identity,
        ambient: Callable[[], AwsCredentials] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.target = target
        self.run_id = run_id
        self.token_source = token_source
        self._assume = assume
        self._ambient_factory = ambient
        self._clock = clock
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._fallbacks: dict[str, str] = {}

    # -- public -----------------------------------------------------------------------
    def for_stack(self, stack: str, unit: DriftManagedUnit | None) -> AwsCredentials:
        """The credentials one stack's Terraform and boto3 calls run with."""
        return self._cached(("stack", stack), lambda: self._resolve_stack(stack, unit))

    def for_inventory(self, account_id: str | None = None) -> AwsCredentials:
        """Read-only estate credentials of one account: the inventory role assumed with
        the web identity, else the ambient identity where the settings allow it."""
        account = account_id or self._only_inventory_account()
        return self._cached(("inventory", account or ""), lambda: self._resolve_inventory(account))

    def orchestrator(self) -> AwsCredentials:
        """iacdrift's own identity (ambient, or the identity handed in), for leases and run
        records: never a stack's role, and never handed to Terraform."""
        return self._cached(("orchestrator", ""), self._ambient)

    def seed(self, stack: str, credentials: AwsCredentials) -> None:
        """Use these pre-resolved credentials for ``stack`` (e.g. obtained before the
        cloud stopped answering STS); they do not expire in this resolver."""
        with self._guard:
            self._cache[("stack", stack)] = _Cached(credentials, None)

    def fallback_reason(self, stack: str) -> str | None:
        """Why ``stack`` runs with ``ambient-fallback`` credentials; None if it does not."""
        with self._guard:
            return self._fallbacks.get(stack)

    # -- decisions --------------------------------------------------------------------
    def _resolve_stack(self, stack: str, unit: DriftManagedUnit | None) -> _Cached:
        if unit is not None and self.token_source is not None:
            role = unit.spec.credentials.oidcRole
            try:
                return self._web_identity(stack, role)
            except CredentialsError as exc:
                if not unit.spec.credentials.allowAmbient:
                    raise
                credentials = self._ambient_or_explain(stack, exc)
                with self._guard:
                    self._fallbacks[stack] = exc.message
                log.warning("%s: using ambient credentials after: %s", stack, exc.message)
                return _Cached(
                    replace(credentials, source=CredentialsSource.AMBIENT_FALLBACK), None
                )
        if ambient_allowed(unit, self.settings):
            return _Cached(self._ambient(), None)
        if unit is None:
            raise CredentialsError(
                f"{stack}: not a registered stack, so it has no role to assume, and ambient "
                "credentials are not allowed; register it, or for local use set "
                "allowAmbientCredentials: true in iacdrift.yaml"
            )
        raise CredentialsError(
            f"{stack}: no web identity configured to assume {unit.spec.credentials.oidcRole} "
            "(iacdrift.yaml has no oidc:), and ambient credentials are not allowed; set "
            "oidc.source in iacdrift.yaml, or for local use allowAmbientCredentials: true (or "
            "credentials.allowAmbient: true in the stack's registry entry)"
        )

    def _resolve_inventory(self, account: str | None) -> _Cached:
        role = self.settings.inventoryRoles.get(account) if account else None
        what = f"inventory (account {account})" if account else INVENTORY
        if role is not None and self.token_source is not None:
            # No fallback: the settings name a role; a failure to assume it is an error.
            return self._web_identity(INVENTORY, role, shown=what)
        if self.settings.allowAmbientCredentials:
            return _Cached(self._ambient(), None)
        if role is not None:
            raise CredentialsError(
                f"{what}: no web identity configured to assume {role} (iacdrift.yaml has no "
                "oidc:), and ambient credentials are not allowed; set oidc.source"
            )
        example = account or "123456789012"
        raise CredentialsError(
            f"{what}: no inventory role in iacdrift.yaml inventoryRoles, and ambient "
            f'credentials are not allowed; add inventoryRoles: {{"{example}": '
            f"arn:aws:iam::{example}:role/<read-only role>}}"
        )

    def _only_inventory_account(self) -> str | None:
        accounts = sorted(self.settings.inventoryRoles)
        if len(accounts) > 1:
            raise CredentialsError(
                f"inventory: iacdrift.yaml names inventory roles for {len(accounts)} accounts "
                f"({', '.join(accounts)}); the caller must say which account it reads"
            )
        return accounts[0] if accounts else None

    def _web_identity(self, subject: str, role: str, *, shown: str | None = None) -> _Cached:
        assert self.token_source is not None
        token = self.token_source.token(subject)
        duration = self._duration()
        try:
            credentials = self._assume(
                role, session_name(subject, self.run_id), token, duration, self.target
            )
        except CredentialsError as exc:
            raise CredentialsError(f"{shown or subject}: {exc.message}") from exc
        return _Cached(credentials, self._clock() + duration - _EXPIRY_MARGIN_SECONDS)

    def _duration(self) -> int:
        return self.settings.oidc.sessionDurationSeconds if self.settings.oidc else 900

    def _ambient(self) -> AwsCredentials:
        if self._ambient_factory is not None:
            return self._ambient_factory()
        return ambient_credentials(self.target.region)

    def _ambient_or_explain(self, stack: str, cause: CredentialsError) -> AwsCredentials:
        try:
            return self._ambient()
        except CredentialsError as exc:
            raise CredentialsError(
                f"{cause.message}; the allowed ambient fallback failed too: {exc.message}"
            ) from exc

    def _cached(
        self, key: tuple[str, str], resolve: Callable[[], _Cached | AwsCredentials]
    ) -> AwsCredentials:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                found = self._cache.get(key)
            if found is not None and (found.expires is None or self._clock() < found.expires):
                return found.credentials
            resolved = resolve()
            entry = resolved if isinstance(resolved, _Cached) else _Cached(resolved, None)
            with self._guard:
                self._cache[key] = entry
            return entry.credentials


def person_credentials(environ: Mapping[str, str], fallback: AwsCredentials) -> AwsCredentials:
    """The credentials of whoever runs the command, for acts that are a person's own (a
    surgery plan's author, an approval): the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
    (and AWS_SESSION_TOKEN) of the environment when set, else ``fallback`` (the
    orchestrator identity). Who acted is then read from them (sts:GetCallerIdentity),
    never taken from a flag."""
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return AwsCredentials(
            key, secret, environ.get("AWS_SESSION_TOKEN") or None, CredentialsSource.AMBIENT
        )
    return fallback
