"""Where surgery plans, their edited states, approvals and apply records live: under a
prefix of the stack's state bucket, shared by the team that reviews them.

Layout of one plan (``<prefix>`` = ``iacdrift/surgery/<stack>/<plan-id>/``)::

    <prefix>plan.json                      the surgery plan record (written once)
    <prefix>state.tfstate                  the edited state to push (written once, SSE)
    <prefix>snapshot.tfstate               the state apply started from (written once, SSE)
    <prefix>approvals/<reviewer>.json      one per reviewer: sha256(reviewer ARN)[:16]
    <prefix>steps/<name>.json              what apply did, step by step (overwritten)

What is written once is written with a conditional put (``If-None-Match: *``): S3
answers 412 PreconditionFailed when the key exists, so a plan is never replaced, a
reviewer approves once, and two reviewers never overwrite each other (their keys
differ). Every object is encrypted at rest (SSE-S3); the edited state holds the
stack's secrets in cleartext, as Terraform's state does.

The IAM an identity needs here (the planner's and the reviewers'; a stack's role
keeps access to its own state key only) is :func:`iacdrift.sandbox.iam.surgery_statements`:
``s3:GetObject`` and ``s3:PutObject`` on ``arn:aws:s3:::<bucket>/iacdrift/surgery/*``
and ``s3:ListBucket`` on the bucket for the prefix (without it S3 answers
AccessDenied, not NoSuchKey, for a missing object).

botocore errors become :class:`~iacdrift.errors.CloudError` naming the object.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iacdrift.aws.session import AwsCredentials, Target, client, describe_cloud_error
from iacdrift.errors import CloudError, InputError

SURGERY_PREFIX = "iacdrift/surgery/"
PLAN_OBJECT = "plan.json"
STATE_OBJECT = "state.tfstate"
SNAPSHOT_OBJECT = "snapshot.tfstate"
APPROVALS = "approvals/"
STEPS = "steps/"
# The length of the reviewer's digest in an approval's key.
REVIEWER_DIGITS = 16
# S3 answers 409 ConditionalRequestConflict while another conditional write of the
# same key is in flight; a retry then gets the real answer (200 or 412).
CONFLICT_ATTEMPTS = 3

# One key segment: no slash, no dot-only names, nothing S3 or a shell treats specially.
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value) or ".." in value:
        raise InputError(
            f"{what} {value!r}: not usable in an S3 key (letters, digits, '.', '_', '-'; "
            "starting with a letter or digit)"
        )
    return value


def reviewer_digest(reviewer_arn: str) -> str:
    """The name of a reviewer's approval object: sha256 of the ARN, first 16 hex digits."""
    return hashlib.sha256(reviewer_arn.encode("utf-8")).hexdigest()[:REVIEWER_DIGITS]


def plan_prefix(stack: str, plan_id: str) -> str:
    """``iacdrift/surgery/<stack>/<plan-id>/``."""
    return f"{SURGERY_PREFIX}{_segment(stack, 'stack')}/{_segment(plan_id, 'plan id')}/"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class SurgeryStore:
    """The surgery records of one state bucket, read and written as one identity."""

    def __init__(self, bucket: str, credentials: AwsCredentials, target: Target) -> None:
        self.bucket = bucket
        self.credentials = credentials
        self.target = target

    def __repr__(self) -> str:
        return f"SurgeryStore(bucket={self.bucket!r}, credentials={self.credentials!r})"

    def _s3(self) -> Any:
        return client("s3", self.credentials, self.target)

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _error(self, exc: Exception, what: str, key: str) -> CloudError:
        return describe_cloud_error(exc, f"{what} {self._uri(key)}", self.target)

    # -- primitives ---------------------------------------------------------------------

    def _put_new(self, key: str, body: bytes, content_type: str) -> bool:
        """Create ``key``; False (nothing written) when it exists."""
        s3 = self._s3()
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                s3.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    ServerSideEncryption="AES256",
                    IfNoneMatch="*",
                )
            except ClientError as exc:
                code = _code(exc)
                if code == "PreconditionFailed":
                    return False
                if code == "ConditionalRequestConflict" and attempt < CONFLICT_ATTEMPTS:
                    continue
                raise self._error(exc, "writing", key) from exc
            except BotoCoreError as exc:
                raise self._error(exc, "writing", key) from exc
            return True
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self._s3().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ServerSideEncryption="AES256",
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "writing", key) from exc

    def _get(self, key: str) -> bytes | None:
        try:
            body: bytes = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise self._error(exc, "reading", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "reading", key) from exc
        return body

    def _keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted."""
        found: list[str] = []
        try:
            pages = (
                self._s3()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.bucket, Prefix=prefix)
            )
            for page in pages:
                found.extend(str(item["Key"]) for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "listing", prefix) from exc
        return sorted(found)

    def _bodies(self, prefix: str) -> list[tuple[str, bytes]]:
        """(key, body) of every ``.json`` object under ``prefix``, sorted by key (an
        object deleted between the listing and the read is skipped)."""
        bodies = []
        for key in self._keys(prefix):
            if not key.endswith(".json") or "/" in key[len(prefix) :]:
                continue
            body = self._get(key)
            if body is not None:
                bodies.append((key, body))
        return bodies

    # -- the plan -----------------------------------------------------------------------

    def put_plan(self, stack: str, plan_id: str, body: bytes) -> bool:
        """Store the plan record; False (nothing written) when this plan id is stored."""
        return self._put_new(plan_prefix(stack, plan_id) + PLAN_OBJECT, body, "application/json")

    def get_plan(self, stack: str, plan_id: str) -> bytes | None:
        return self._get(plan_prefix(stack, plan_id) + PLAN_OBJECT)

    def exists(self, stack: str, plan_id: str) -> bool:
        """Whether the plan record is stored."""
        key = plan_prefix(stack, plan_id) + PLAN_OBJECT
        try:
            self._s3().head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise self._error(exc, "looking for", key) from exc
        except BotoCoreError as exc:
            raise self._error(exc, "looking for", key) from exc
        return True

    def put_state(self, stack: str, plan_id: str, body: bytes) -> bool:
        """Store the edited state (secrets in cleartext: encrypted at rest); False
        (nothing written) when this plan's state is stored."""
        key = plan_prefix(stack, plan_id) + STATE_OBJECT
        return self._put_new(key, body, "application/json")

    def get_state(self, stack: str, plan_id: str) -> bytes | None:
        return self._get(plan_prefix(stack, plan_id) + STATE_OBJECT)

    def put_snapshot(self, stack: str, plan_id: str, body: bytes) -> bool:
        """Keep a copy of the state apply starts from (the evidence of what was there;
        its S3 version stays in the state bucket too); False (nothing written) when one
        is kept already: the first attempt's snapshot is the one that counts."""
        key = plan_prefix(stack, plan_id) + SNAPSHOT_OBJECT
        return self._put_new(key, body, "application/json")

    def get_snapshot(self, stack: str, plan_id: str) -> bytes | None:
        return self._get(plan_prefix(stack, plan_id) + SNAPSHOT_OBJECT)

    # -- approvals ----------------------------------------------------------------------

    def put_approval(self, stack: str, plan_id: str, reviewer_arn: str, body: bytes) -> bool:
        """Store one reviewer's approval; False (nothing written) when this reviewer
        already approved this plan. Another reviewer's approval is never touched."""
        key = f"{plan_prefix(stack, plan_id)}{APPROVALS}{reviewer_digest(reviewer_arn)}.json"
        return self._put_new(key, body, "application/json")

    def approvals(self, stack: str, plan_id: str) -> list[bytes]:
        """Every approval of the plan, sorted by key (the reviewer's digest)."""
        prefix = plan_prefix(stack, plan_id) + APPROVALS
        return [body for _, body in self._bodies(prefix)]

    # -- apply records ------------------------------------------------------------------

    def put_step(self, stack: str, plan_id: str, name: str, body: bytes) -> None:
        """Record (or re-record) one step of apply as ``steps/<name>.json``."""
        key = f"{plan_prefix(stack, plan_id)}{STEPS}{_segment(name, 'step name')}.json"
        self._put(key, body, "application/json")

    def steps(self, stack: str, plan_id: str) -> list[tuple[str, bytes]]:
        """(name, body) of every recorded step, sorted by name."""
        prefix = plan_prefix(stack, plan_id) + STEPS
        return [(key[len(prefix) : -len(".json")], body) for key, body in self._bodies(prefix)]
