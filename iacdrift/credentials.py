"""Credentials for one stack, and nothing broader.

Order of sources for a stack:

1. (scheduled runs) the stack's OIDC web identity exchanged for its own
   ``credentials.oidcRole``;
2. the ambient identity, only when the registry entry says
   ``credentials.allowAmbient: true`` or the settings say
   ``allowAmbientCredentials: true`` (local use, the sandbox); the result
   records that ambient credentials were used.

On the sandbox the ambient identity is the sandbox's own loopback key.
"""

from __future__ import annotations

from iacdrift.aws.session import AwsCredentials, ambient_credentials
from iacdrift.errors import CredentialsError
from iacdrift.models.registry import DriftManagedUnit, Settings
from iacdrift.sandbox import server as sandbox_server


def ambient_allowed(unit: DriftManagedUnit | None, settings: Settings) -> bool:
    return settings.allowAmbientCredentials or (
        unit is not None and unit.spec.credentials.allowAmbient
    )


def stack_credentials(
    stack: str, unit: DriftManagedUnit | None, settings: Settings, *, sandbox: bool
) -> AwsCredentials:
    """The credentials one stack's Terraform and boto3 calls run with."""
    if not ambient_allowed(unit, settings):
        role = unit.spec.credentials.oidcRole if unit is not None else "(unregistered stack)"
        raise CredentialsError(
            f"{stack}: no web identity token available for {role}, and ambient credentials "
            "are not allowed; for local use set allowAmbientCredentials: true in iacdrift.yaml "
            "or credentials.allowAmbient: true in the stack's registry entry"
        )
    if sandbox:
        return AwsCredentials(
            sandbox_server.ACCESS_KEY_ID, sandbox_server.SECRET_ACCESS_KEY, source="sandbox"
        )
    return ambient_credentials(settings.cloud.region)
