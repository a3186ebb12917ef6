"""What the backend's version history says about a registered stack's state.

The decision is :mod:`iacdrift.core.state_history`; this reads what it needs with the
stack's own credentials (:mod:`iacdrift.aws.state_versions`): the earlier versions'
lineage and serial (the first bytes of each, the whole body only when they are not
laid out as Terraform writes them; a few at a time), and, after a regression, the
whole body of the version it went back from. Nothing is remembered between checks:
each read is the stack's own role's, so a missing permission always shows.

Whatever cannot be read becomes a warning for the stack's result: a check without
its history is said to be one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from iacdrift.aws import state_versions
from iacdrift.aws.session import AwsCredentials, Target
from iacdrift.aws.state_versions import StateObject
from iacdrift.core.state_history import (
    DEFAULT_VERSION_LIMIT,
    HEAD_BYTES,
    StateVersion,
    VersionRegression,
    find_regression,
    head_fields,
)
from iacdrift.core.terraform_json import StateView, read_state
from iacdrift.errors import CloudError, TerraformFormatError
from iacdrift.loaders.terraform_json import load_json
from iacdrift.models.registry import StateBackend


@dataclass(frozen=True)
class HistoryReading:
    """The regression found (with the state it went back from), or why nothing could be."""

    regression: VersionRegression | None = None
    newer_state: StateView | None = None
    warning: str | None = None


_NOT_SEEN = "a restored older state is not seen from the backend"

# Earlier versions read at once (each a small ranged GET).
_READERS = 8


def permissions_hint(spec: StateBackend) -> str:
    return (
        f"the stack's role needs s3:ListBucketVersions on arn:aws:s3:::{spec.bucket} and "
        f"s3:GetObjectVersion on arn:aws:s3:::{spec.bucket}/{spec.key}"
    )


def read_history(
    spec: StateBackend,
    current: StateObject | None,
    state: StateView | None,
    credentials: AwsCredentials,
    target: Target,
    *,
    limit: int = DEFAULT_VERSION_LIMIT,
) -> HistoryReading:
    """Compare the state read (``current``, parsed as ``state``) with up to ``limit``
    earlier versions of the same object. ``target`` is already in the bucket's region."""
    if current is None or state is None:
        return HistoryReading()  # no state yet: nothing to go back from
    if current.version_id is None:
        return HistoryReading(
            warning=f"{spec.uri} keeps no version history (versioning is off or suspended "
            f"on bucket {spec.bucket}, or was when the state was last written): {_NOT_SEEN}; "
            "enable versioning on the bucket"
        )
    try:
        listed = state_versions.earlier_versions(
            spec.bucket, spec.key, current.version_id, credentials, target, limit=limit
        )
        with ThreadPoolExecutor(max_workers=max(1, min(_READERS, len(listed)))) as pool:
            heads = list(
                pool.map(
                    lambda item: _lineage_and_serial(spec, item.version_id, credentials, target),
                    listed,
                )
            )
        earlier = [
            StateVersion(item.version_id, lineage, serial, item.last_modified)
            for item, (lineage, serial) in zip(listed, heads, strict=True)
        ]
    except CloudError as exc:
        return HistoryReading(
            warning=f"the version history of {spec.uri} was not read ({exc.message}): "
            f"{_NOT_SEEN}; {permissions_hint(spec)}"
        )
    regression = find_regression(
        spec.uri, StateVersion(current.version_id, state.lineage, state.serial), earlier
    )
    if regression is None:
        return HistoryReading()
    try:
        body = state_versions.read_version(
            spec.bucket, spec.key, regression.newer.version_id, credentials, target
        )
        source = f"{spec.uri} version {regression.newer.version_id}"
        newer = read_state(load_json(body, source), source)
    except (CloudError, TerraformFormatError) as exc:
        # The regression stands; only which resources it lost is unknown.
        return HistoryReading(
            regression,
            warning=f"the state went back, but version {regression.newer.version_id} was not "
            f"read ({exc.message}): the resources it recorded and the current state lost "
            "are not named",
        )
    return HistoryReading(regression, newer)


def _lineage_and_serial(
    spec: StateBackend, version_id: str, credentials: AwsCredentials, target: Target
) -> tuple[str | None, int | None]:
    head = state_versions.read_version(
        spec.bucket, spec.key, version_id, credentials, target, first_bytes=HEAD_BYTES
    )
    fields = head_fields(head)
    if fields is not None:
        return fields
    return _whole_version_fields(spec, version_id, credentials, target)


def _whole_version_fields(
    spec: StateBackend, version_id: str, credentials: AwsCredentials, target: Target
) -> tuple[str | None, int | None]:
    body = state_versions.read_version(spec.bucket, spec.key, version_id, credentials, target)
    try:
        data: Any = load_json(body, f"{spec.uri} version {version_id}")
    except TerraformFormatError:
        return None, None  # not a state we can read: compared with nothing
    if not isinstance(data, dict):
        return None, None
    lineage, serial = data.get("lineage"), data.get("serial")
    return (
        lineage if isinstance(lineage, str) else None,
        serial if isinstance(serial, int) and not isinstance(serial, bool) else None,
    )
