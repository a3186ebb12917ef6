"""Shared builders for test models: each test passes only the values it cares about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from iacdrift.models.finding import Action, Domain, DriftClass, Finding, Relationship, Risk

FINDING_DEFAULTS: dict[str, Any] = {
    "stack": "prod-network",
    "detectedAt": datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
    "domain": Domain.NETWORK,
    "resourceRef": "aws_security_group.web",
    "resourceId": "sg-1",
    "resourceType": "aws_security_group",
    "environment": "prod",
    "owner": "team-network",
    "sourceOfTruth": None,
    "stateBackend": None,
    "relationship": Relationship.OUT_OF_BAND,
    "driftClass": DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
    "risk": Risk.HIGH,
    "alert": True,
    "recommendedAction": Action.REVERT,
    "autoHealAllowed": False,
    "reason": "changed outside Terraform",
}


def make_finding(finding_id: str, **fields: Any) -> Finding:
    """A validated Finding: a high-risk out-of-band security-group change unless told."""
    return Finding(**{**FINDING_DEFAULTS, "findingId": finding_id, **fields})
