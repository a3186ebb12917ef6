"""Guardrails: which ones the live value of a resource violates, and what a guardrail
finding shows. Pure.

* :func:`violated_guardrails`: ids of the guardrails of the resource's type in
  effect on the day of ``now`` that the live attributes violate, in policy order.
* :func:`guardrail_field`: the one field a guardrail finding shows, cut to
  GUARDRAIL_VALUE_LIMIT characters.
* :func:`guardrail_by_id`: a guardrail of the policy set by id (KeyError if none).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from iacdrift.models.finding import ChangedField
from iacdrift.models.policy import Guardrail, PolicySet

# Longest JSON text of the violating values a guardrail finding shows (then cut, "…").
GUARDRAIL_VALUE_LIMIT = 400


def guardrail_by_id(policies: PolicySet, guardrail_id: str) -> Guardrail:
    """The guardrail ``guardrail_id`` of ``policies``; KeyError when it has none."""
    for guardrail in policies.guardrails:
        if guardrail.id == guardrail_id:
            return guardrail
    raise KeyError(guardrail_id)


def violated_guardrails(
    resource_type: str, attributes: Any, policies: PolicySet, now: datetime
) -> tuple[str, ...]:
    """Ids of the guardrails in effect today that ``attributes`` (the live value) violate."""
    return tuple(
        g.id
        for g in policies.guardrails
        if g.resourceType == resource_type and g.in_effect(now.date()) and g.violated_by(attributes)
    )


def guardrail_field(guardrail: Guardrail, attributes: Any) -> ChangedField:
    """The field a guardrail finding shows: the rule's path and only the values that
    violate it (the matching list elements, not the resource), cut to a few hundred
    characters. The attributes are already redacted."""
    culprits = guardrail.rule.culprits(attributes)
    shown: Any = culprits[0] if len(culprits) == 1 else culprits
    text = json.dumps(shown, sort_keys=True, default=str)
    if len(text) > GUARDRAIL_VALUE_LIMIT:
        shown = text[: GUARDRAIL_VALUE_LIMIT - 1] + "…"
    return ChangedField(pointer=guardrail.rule.path, after=shown)
