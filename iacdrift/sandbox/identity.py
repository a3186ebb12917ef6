"""Who iacdrift is on the sandbox: the account's loopback key and the OIDC stand-in
as a token source. The Workbench hands both to the credential resolver, so
``credentials.py`` never reaches into the sandbox."""

from __future__ import annotations

from iacdrift.aws.session import AwsCredentials
from iacdrift.credentials import DEFAULT_AUDIENCE, GitHubActionsTokenSource
from iacdrift.models.finding import CredentialsSource
from iacdrift.sandbox.server import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from iacdrift.sandbox.token_endpoint import TokenEndpointRecord


def sandbox_credentials() -> AwsCredentials:
    """The sandbox account's loopback key (moto accepts any): iacdrift's own identity
    on the sandbox, and the ambient identity where a stack may use one."""
    return AwsCredentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, source=CredentialsSource.SANDBOX)


def sandbox_token_source(
    request_url: str | None, request_token: str | None, audience: str = DEFAULT_AUDIENCE
) -> GitHubActionsTokenSource:
    """The stand-in endpoint as a token source (url and token None: not running, and
    every token request then says how to start it)."""
    return GitHubActionsTokenSource(
        request_url,
        request_token,
        audience,
        label="the sandbox token endpoint",
        missing_hint="start it with `iacdrift sandbox up` (oidc.source: sandbox needs the "
        "sandbox cloud)",
        refused_hint="`iacdrift sandbox token allow {stack}` lifts the refusal",
    )


def token_source_of(
    record: TokenEndpointRecord | None, audience: str = DEFAULT_AUDIENCE
) -> GitHubActionsTokenSource:
    """The token source of a recorded stand-in (or of none: not running)."""
    if record is None:
        return sandbox_token_source(None, None, audience)
    return sandbox_token_source(record.request_url, record.requestToken, audience)
