"""The only place boto3 clients are built.

A client is always built from explicit credentials and an explicit target
(region and, for the sandbox or an AWS-compatible endpoint, the endpoint URLs of
the services); boto3's ambient credential chain is never consulted here.
Resolving "ambient" credentials, when the settings allow it, is an explicit step
in :mod:`iacdrift.credentials` that goes through :func:`ambient_credentials`.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.loaders
import botocore.session
from botocore import utils as botocore_utils
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.httpsession import get_cert_path

from iacdrift.errors import CloudError, CredentialsError, InputError
from iacdrift.models.finding import CredentialsSource
from iacdrift.models.registry import Cloud

# Services a stack may use; each gets AWS_ENDPOINT_URL_<NAME> when a custom endpoint is set.
SERVICES: tuple[str, ...] = ("s3", "dynamodb", "sts", "iam", "ec2", "secretsmanager")
# How long opening a connection to a custom endpoint may take (the reachability
# check when a command opens the project, and every boto3 client).
CONNECT_TIMEOUT_SECONDS = 3.0


def endpoint_variable(service: str) -> str:
    """The environment variable the AWS SDKs (Terraform's S3 backend, provider aws >= 5)
    read one service's endpoint from: ``AWS_ENDPOINT_URL_<SERVICE ID>``, named the way
    botocore names it (secretsmanager -> AWS_ENDPOINT_URL_SECRETS_MANAGER)."""
    name = botocore_utils.SERVICE_NAME_ALIASES.get(service, service)
    service_id = botocore_utils.CLIENT_NAME_TO_HYPHENIZED_SERVICE_ID_OVERRIDES.get(name, name)
    return "AWS_ENDPOINT_URL_" + service_id.replace("-", "_").upper()


@dataclass(frozen=True)
class Target:
    """Where the cloud is: a region and, for the sandbox or an AWS-compatible endpoint,
    one endpoint URL for every service, with per-service overrides (sorted pairs)."""

    region: str
    endpoint_url: str | None = None
    overrides: tuple[tuple[str, str], ...] = ()

    def with_region(self, region: str) -> Target:
        return Target(region, self.endpoint_url, self.overrides)

    def url_for(self, service: str) -> str | None:
        """The endpoint URL of one service (None: AWS's own endpoint)."""
        return dict(self.overrides).get(service, self.endpoint_url)

    def urls(self) -> tuple[str, ...]:
        """Every distinct endpoint URL of this target, sorted."""
        found = {url for _, url in self.overrides}
        if self.endpoint_url:
            found.add(self.endpoint_url)
        return tuple(sorted(found))

    def stack_values(self) -> dict[str, str]:
        """Environment values that point Terraform and its providers at this target."""
        values = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.endpoint_url:
            # Any service a stack uses that is named nowhere below (SDKs that know
            # service-specific variables read this one for the rest).
            values["AWS_ENDPOINT_URL"] = self.endpoint_url
            for service in sorted({*SERVICES, *dict(self.overrides)}):
                url = self.url_for(service)
                if url:
                    values[endpoint_variable(service)] = url
            # Provider aws 3.39 reads no endpoint from the environment; the stacks
            # declare `variable "aws_endpoint"` and feed it to `endpoints {}`.
            values["TF_VAR_aws_endpoint"] = self.endpoint_url
        return values


def endpoint_target(cloud: Cloud) -> Target:
    """The target of ``cloud.target: endpoint``: its URL and per-service overrides, each
    override's service checked against the services botocore knows."""
    if not cloud.endpointUrl:
        raise InputError("iacdrift.yaml: cloud.endpointUrl: required with target: endpoint")
    known = set(isolated_botocore_session().get_available_services())
    for service in sorted(cloud.endpoints):
        if service not in known:
            raise InputError(
                f"iacdrift.yaml: cloud.endpoints.{service}: not an AWS service name the SDK "
                "knows; use the SDK's client name (s3, sts, dynamodb, iam, ec2, "
                "secretsmanager, ...)"
            )
    return Target(cloud.region, cloud.endpointUrl, tuple(sorted(cloud.endpoints.items())))


def require_reachable(target: Target, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Raise CloudError (one line naming the URL) unless every endpoint URL of ``target``
    answers an HTTP request, any status, within ``timeout`` seconds in all (name lookup,
    connection, TLS with the CA bundle boto3 uses, and the answer's first line). A TCP
    connection alone proves little: proxies and load balancers accept them for hosts
    that never answer."""
    for url in target.urls():
        problem = _answer_problem(url, timeout)
        if problem is not None:
            raise CloudError(
                f"the endpoint {url} is unreachable ({problem}); start it or fix "
                "cloud.endpointUrl / cloud.endpoints in iacdrift.yaml"
            )


def _answer_problem(url: str, timeout: float) -> str | None:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    outcome: list[str | None] = []

    def attempt() -> None:
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            # The bundle boto3 verifies with: AWS_CA_BUNDLE, else botocore's own.
            cafile = os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True)
            context = ssl.create_default_context(cafile=cafile if isinstance(cafile, str) else None)
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        try:
            connection.request("GET", parts.path or "/", headers={"User-Agent": "iacdrift"})
            connection.getresponse().close()
            outcome.append(None)
        except TimeoutError:
            outcome.append(f"no answer within {timeout:g}s")
        except ssl.SSLError as exc:
            outcome.append(f"TLS failed: {exc.reason or exc}")
        except http.client.HTTPException as exc:
            outcome.append(f"no HTTP answer: {type(exc).__name__}")
        except OSError as exc:
            outcome.append(exc.strerror or type(exc).__name__)
        finally:
            connection.close()

    # In a thread: the name lookup has no timeout of its own, and the whole probe
    # must end within ``timeout``.
    worker = threading.Thread(target=attempt, name=f"probe {host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return f"no answer within {timeout:g}s"
    return outcome[0]


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
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
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
        target.url_for(service),
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
    url = target.url_for(service)
    if url and service == "s3":
        config = config.merge(botocore.config.Config(s3={"addressing_style": "path"}))
    # boto3-stubs types each service literal; callers name the service as data.
    factory: Any = session.client
    return factory(service, endpoint_url=url, config=config)


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
