"""The context joined to each drift finding: who changed a resource, and under which change.

* :mod:`iacdrift.context.cloudtrail`: CloudTrail audit events from a directory
  or a log bucket, indexed by the resources they name.
* :mod:`iacdrift.loaders.changes`: change records (incidents, approved changes,
  pull requests, applies) from ``changes/*.yaml``.
"""

from __future__ import annotations

from iacdrift.context.cloudtrail import (
    AuditIndex,
    AuditLogError,
    is_role,
    parse_records,
    read_bucket,
    read_directory,
)
from iacdrift.loaders.changes import load_change_records, records_covering

__all__ = [
    "AuditIndex",
    "AuditLogError",
    "is_role",
    "load_change_records",
    "parse_records",
    "read_bucket",
    "read_directory",
    "records_covering",
]
