"""The only place boto3 clients are built.

A client is always built from explicit credentials and an explicit target
(region and, for the sandbox, one endpoint URL for every service); boto3's
ambient credential chain is never consulted here. Resolving "ambient"
credentials, when the settings allow it, is an explicit step in
:mod:`iacdrift.credentials` that goes through :func:`ambient_credentials`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.loaders
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from iacdrift.errors import CloudError, CredentialsError
from iacdrift.models.finding import CredentialsSource

# Services a stack may use; each gets AWS_ENDPOINT_URL_<NAME> when a custom endpoint is set.
SERVICES: tuple[str, ...] = ("s3", "dynamodb", "sts", "iam", "ec2", "secretsmanager")


@dataclass(frozen=True)
class Target:
    """Where the cloud is: a region, and a single endpoint URL for a loopback cloud."""

    region: str
    endpoint_url: str | None = None

    def with_region(self, region: str) -> Target:
        return Target(region, self.endpoint_url)

    def stack_values(self) -> dict[str, str]:
        """Environment values that point Terraform and its providers at this target."""
        values = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.endpoint_url:
            for service in SERVICES:
                values[f"AWS_ENDPOINT_URL_{service.upper()}"] = self.endpoint_url
            # Provider aws 3.39 reads no endpoint from the environment; the stacks
            # declare `variable "aws_endpoint"` and feed it to `endpoints {}`.
            values["TF_VAR_aws_endpoint"] = self.endpoint_url
        return values


@dataclass(frozen=True)
class AwsCredentials:
    """Short-lived (or sandbox) credentials of exactly one identity.

    ``repr`` never shows the secret parts.
    """

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    source: CredentialsSource = CredentialsSource.OIDC

    def __repr__(self) -> str:
        return f"AwsCredentials(access_key_id={self.access_key_id!r}, source={self.source.value!r})"

    def stack_values(self) -> dict[str, str]:
        values = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }
        if self.session_token:
            values["AWS_SESSION_TOKEN"] = self.session_token
        return values


# What botocore would otherwise read from the environment and ~/.aws: a profile
# (AWS_PROFILE naming a missing profile fails every call), config and credentials
# files, and AWS_ENDPOINT_URL_*. None of it may steer our calls; the target does.
ISOLATED_SESSION_VARS: dict[str, tuple[None, None, object, None]] = {
    "profile": (None, None, None, None),
    "config_file": (None, None, os.devnull, None),
    "credentials_file": (None, None, os.devnull, None),
    "ignore_configured_endpoint_urls": (None, None, True, None),
}

_RETRIES = botocore.config.Config(
    retries={"max_attempts": 5, "mode": "adaptive"},
    connect_timeout=5,
    read_timeout=60,
)


# Building a client is costly (a new botocore session parses the endpoint rules and
# the service model again: ~60 ms CPU and a few MB each). So: ONE data loader for
# every session of this process (its parsed models are immutable and shared), and a
# bounded cache of clients per (identity, service, target). boto3 clients are safe
# to share between threads; the cache never hands one identity's client to another.
CLIENT_CACHE_SIZE = 32
_lock = threading.Lock()
_loader: botocore.loaders.Loader | None = None
_clients: OrderedDict[tuple[str, str, str | None, str, str, str | None], Any] = OrderedDict()


def isolated_botocore_session() -> botocore.session.Session:
    """A botocore session that reads nothing from the environment or ~/.aws and
    shares this process's parsed service models."""
    global _loader
    core = botocore.session.Session(session_vars=ISOLATED_SESSION_VARS)
    with _lock:
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _loader)
    return core


def client(service: str, credentials: AwsCredentials, target: Target) -> Any:
    """A boto3 client for one service, one identity, one target (cached, thread-safe)."""
    key = (
        credentials.access_key_id,
        credentials.secret_access_key,
        credentials.session_token,
        service,
        target.region,
        target.endpoint_url,
    )
    with _lock:
        found = _clients.get(key)
        if found is not None:
            _clients.move_to_end(key)
            return found
    made = _new_client(service, credentials, target)
    with _lock:
        found = _clients.setdefault(key, made)
        _clients.move_to_end(key)
        while len(_clients) > CLIENT_CACHE_SIZE:
            _clients.popitem(last=False)
    return found


def _new_client(service: str, credentials: AwsCredentials, target: Target) -> Any:
    session = boto3.session.Session(
        botocore_session=isolated_botocore_session(),
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=target.region,
    )
    # boto3 appends its own data directory to the loader's search path per session:
    # with one shared loader that list would grow with every client (and each model
    # lookup walks it).
    with _lock:
        paths = session._loader.search_paths
        paths[:] = list(dict.fromkeys(paths))
    config = _RETRIES
    if target.endpoint_url and service == "s3":
        config = config.merge(botocore.config.Config(s3={"addressing_style": "path"}))
    # boto3-stubs types each service literal; callers name the service as data.
    factory: Any = session.client
    return factory(service, endpoint_url=target.endpoint_url, config=config)


def ambient_credentials(region: str) -> AwsCredentials:
    """Freeze boto3's default credential chain into explicit credentials."""
    try:
        found = boto3.session.Session(region_name=region).get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
    except (BotoCoreError, ClientError) as exc:
        raise CredentialsError(f"reading the ambient AWS credentials failed: {exc}") from exc
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise CredentialsError(
            "no ambient AWS credentials found: configure them (env, profile, SSO) or use "
            "the stack's OIDC role"
        )
    return AwsCredentials(
        frozen.access_key, frozen.secret_key, frozen.token, source=CredentialsSource.AMBIENT
    )


def describe_cloud_error(exc: Exception, what: str, target: Target) -> CloudError:
    """Translate a boto3/botocore error into one line naming the endpoint."""
    where = target.endpoint_url or f"AWS {target.region}"
    if isinstance(exc, NoCredentialsError):
        return CloudError(f"{what}: no credentials for {where}")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return CloudError(f"{what}: {where} answered {err.get('Code')}: {err.get('Message')}")
    return CloudError(f"{what}: {where} unreachable or failing: {exc}")
