"""STS: exchanging a web identity token for one role's short-lived credentials.

``AssumeRoleWithWebIdentity`` is an unsigned call: the token is the proof of
identity, so the client is built with ``signature_version=UNSIGNED`` and no
credentials at all (botocore then never consults its ambient credential chain).
"""

from __future__ import annotations

import re
import threading
from typing import Any

import boto3
import botocore.config
import botocore.session
from botocore import UNSIGNED
from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws.session import AwsCredentials, Target, client, isolated_botocore_session
from iacdrift.errors import CredentialsError
from iacdrift.models.finding import CredentialsSource

# STS RoleSessionName: 2 to 64 characters of [\w+=,.@-].
SESSION_NAME_MAX = 64
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]", re.ASCII)

_UNSIGNED = botocore.config.Config(
    signature_version=UNSIGNED,
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
)


def session_name(subject: str, run_id: str) -> str:
    """``iacdrift-<subject>-<run id>``, sanitised and cut to STS's 64 characters.

    The subject (a stack name) is shortened rather than the run id, so every
    session of one run stays findable in CloudTrail by its run id.
    """
    run = _SESSION_NAME_BAD.sub("-", run_id)[:32]
    room = SESSION_NAME_MAX - len("iacdrift-") - (len(run) + 1 if run else 0)
    subject_part = _SESSION_NAME_BAD.sub("-", subject)[: max(room, 0)]
    name = "-".join(part for part in ("iacdrift", subject_part, run) if part)
    return name[:SESSION_NAME_MAX]


_sts_lock = threading.Lock()
_sts_clients: dict[tuple[str, str | None], Any] = {}


def _sts_client(target: Target) -> Any:
    """An unsigned STS client per target, made once: it carries no credentials (the web
    identity token travels in each call), so every stack may share it."""
    key = (target.region, target.url_for("sts"))
    with _sts_lock:
        found = _sts_clients.get(key)
        if found is None:
            core = isolated_botocore_session()
            session = boto3.session.Session(botocore_session=core, region_name=target.region)
            factory: Any = session.client
            found = factory("sts", endpoint_url=target.url_for("sts"), config=_UNSIGNED)
            _sts_clients[key] = found
        return found


def assume_role_with_web_identity(
    role_arn: str, session_name: str, token: str, duration: int, target: Target
) -> AwsCredentials:
    """Credentials of ``role_arn`` for ``duration`` seconds, source ``oidc``.

    Raises CredentialsError naming the role and what STS answered.
    """
    where = target.url_for("sts") or f"AWS STS {target.region}"
    try:
        answer = _sts_client(target).assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=session_name,
            WebIdentityToken=token,
            DurationSeconds=duration,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CredentialsError(
            f"assuming {role_arn} with the web identity was refused by {where}: "
            f"{error.get('Code')}: {error.get('Message')}; check the role's trust policy "
            "(OIDC provider, audience, subject) and its maximum session duration"
        ) from exc
    except BotoCoreError as exc:
        raise CredentialsError(
            f"assuming {role_arn} with the web identity failed: {where} unreachable or "
            f"failing: {exc}"
        ) from exc
    found = answer.get("Credentials") or {}
    if not found.get("AccessKeyId") or not found.get("SecretAccessKey"):
        raise CredentialsError(
            f"assuming {role_arn} with the web identity: {where} answered without credentials"
        )
    return AwsCredentials(
        access_key_id=str(found["AccessKeyId"]),
        secret_access_key=str(found["SecretAccessKey"]),
        session_token=str(found["SessionToken"]) if found.get("SessionToken") else None,
        source=CredentialsSource.OIDC,
    )


def caller_identity(credentials: AwsCredentials, target: Target) -> str:
    """The ARN ``sts:GetCallerIdentity`` names for ``credentials``: who is acting (the
    author of a surgery plan, its reviewer), taken from the credentials, never a flag."""
    try:
        arn = client("sts", credentials, target).get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError) as exc:
        raise CredentialsError(
            f"sts:GetCallerIdentity failed at {target.url_for('sts') or 'AWS'}: {exc}; check "
            "the credentials"
        ) from exc
    return str(arn)
