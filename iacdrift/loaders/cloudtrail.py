"""CloudTrail log files from a local directory (a copy of a trail's bucket, or files
fetched by hand): read, gunzipped and parsed by :mod:`iacdrift.core.cloudtrail`.

A trail's log bucket itself is read by :func:`iacdrift.aws.cloudtrail.read_bucket`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from iacdrift.core.cloudtrail import (
    delivered_before,
    is_log_name,
    parse_records,
    unique_events,
)
from iacdrift.errors import AuditLogError
from iacdrift.models.context import AuditEvent
from iacdrift.primitives.moments import require_aware


def read_directory(directory: Path, since: datetime | None) -> list[AuditEvent]:
    """Every event at or after ``since`` in the CloudTrail files below ``directory``.

    Searches recursively for ``*.json.gz`` and ``*.json`` (digest files skipped);
    one event per eventId, sorted by time.
    """
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "not found"
        raise AuditLogError(
            f"{directory}: audit log directory {what}; create it with CloudTrail files "
            "or fix context.auditLogs.directory in iacdrift.yaml"
        )
    since = require_aware(since, "since") if since is not None else None
    events: list[AuditEvent] = []
    for path in sorted(directory.rglob("*")):
        if not is_log_name(path.name) or "CloudTrail-Digest" in path.parts:
            continue
        if not path.is_file() or delivered_before(path.name, since):
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AuditLogError(
                f"{path}: cannot read: {exc.strerror or exc}; check its permissions"
            ) from exc
        events.extend(parse_records(data, str(path)))
    return unique_events(event for event in events if since is None or event.eventTime >= since)
