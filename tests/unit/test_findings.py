"""Assembling a stack's findings: divergences, then in-sync guardrail hits (plain data)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from iacdrift.core.findings import StackPlan, stack_findings
from iacdrift.core.planes import Divergence
from iacdrift.core.planfacts import LiveResource
from iacdrift.core.subject import Situation, StackFacts
from iacdrift.loaders.policy import policy_version
from iacdrift.models.finding import ChangedField, DriftClass, Plane, Relationship
from iacdrift.models.policy import Guardrail, PolicySet, PolicySource

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SG = "aws_security_group.web"


def guardrail(gid: str, port: int) -> Guardrail:
    return Guardrail.model_validate(
        {
            "kind": "Guardrail",
            "id": gid,
            "resourceType": "aws_security_group",
            "description": f"no world tcp/{port}",
            "effectiveDate": "2026-01-01",
            "rule": {
                "path": "/ingress",
                "operator": "any-element-matches",
                "where": [
                    {"path": "/cidr_blocks", "operator": "contains", "value": "0.0.0.0/0"},
                    {"path": "/from_port", "operator": "at-most", "value": port},
                    {"path": "/to_port", "operator": "at-least", "value": port},
                ],
            },
        }
    )


def policies(*docs: Any) -> PolicySet:
    sources = tuple(
        PolicySource("g.yaml", "g.yaml", i + 1, d, "g.yaml") for i, d in enumerate(docs)
    )
    return PolicySet(version=policy_version([("g.yaml", list(docs))]), sources=sources)


def situation(policy_set: PolicySet) -> Situation:
    facts = StackFacts(stack="prod-network", environment="prod", risk_tier="critical")
    return Situation(facts=facts, policies=policy_set, now=NOW)


WIDE_OPEN = {
    "id": "sg-1",
    "ingress": [{"cidr_blocks": ["0.0.0.0/0"], "from_port": 0, "to_port": 65535}],
    "tags": {"env": "prod"},
}
LIVE = {SG: LiveResource(SG, "aws_security_group", "sg-1", WIDE_OPEN, {"env": "prod"})}


def divergence(relationship: Relationship, fields: tuple[ChangedField, ...] = ()) -> Divergence:
    return Divergence(
        address=SG,
        type="aws_security_group",
        module_address=None,
        provider_name="registry.terraform.io/hashicorp/aws",
        resource_id="sg-1",
        relationship=relationship,
        also_true=(),
        before_plane=Plane.RECORDED,
        after_plane=Plane.ACTUAL,
        changed_fields=fields,
        noise_fields=(ChangedField(pointer="/tags", before=None, after={}),),
        planned_actions=("no-op",),
        drift_actions=("update",),
    )


def test_in_sync_resource_breaking_two_guardrails_gets_two_findings() -> None:
    found = stack_findings(
        [],
        StackPlan(live=LIVE),
        situation(policies(guardrail("ssh", 22), guardrail("rdp", 3389))),
        NOW,
    )
    assert [f.driftClass for f in found] == [DriftClass.POLICY_DRIFT] * 2
    assert len({f.findingId for f in found}) == 2
    assert {f.evidence[0].ref for f in found} == {"ssh", "rdp"}
    assert all(f.relationship is Relationship.VIOLATES_GUARDRAIL for f in found)
    assert found[0].changedFields[0].after == WIDE_OPEN["ingress"][0]


def test_noise_does_not_hide_a_guardrail_violation() -> None:
    found = stack_findings(
        [divergence(Relationship.NOISE_ONLY)],
        StackPlan(live=LIVE),
        situation(policies(guardrail("ssh", 22))),
        NOW,
    )
    assert sorted(f.driftClass.value for f in found) == ["POLICY_DRIFT", "PROVIDER_READ_NOISE"]
    policy = next(f for f in found if f.driftClass is DriftClass.POLICY_DRIFT)
    assert policy.alert and policy.risk.value in ("HIGH", "CRITICAL")


def test_a_loud_runtime_change_carries_the_guardrail_instead() -> None:
    opened = ChangedField(pointer="/ingress/0", after=WIDE_OPEN["ingress"][0])
    found = stack_findings(
        [divergence(Relationship.OUT_OF_BAND, (opened,))],
        StackPlan(live=LIVE),
        situation(policies(guardrail("ssh", 22))),
        NOW,
    )
    assert [f.driftClass for f in found] == [DriftClass.UNAUTHORIZED_RUNTIME_DRIFT]
    assert any(e.ref == "ssh" for e in found[0].evidence)
    assert found[0].policyVersion and found[0].policyVersion.startswith("sha256:")
