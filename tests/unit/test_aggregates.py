"""Aggregates explained by the resources that manage their parts (core.aggregates), on
plan JSON captured from real runs (scripts/capture_plan_fixtures.py) and plain data.

The defect this guards against: a role whose policies are attached by their own
resources reads as drift on the first refresh, so every such stack said DRIFTED.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from iacdrift.core import aggregates
from iacdrift.core.findings import StackPlan, stack_findings, status_and_counts
from iacdrift.core.planes import Divergence, analyze
from iacdrift.core.planfacts import LiveResource, live_resources
from iacdrift.core.redact import marker
from iacdrift.core.routing import plan as route_plan
from iacdrift.core.subject import Situation, StackFacts
from iacdrift.core.terraform_json import read_plan
from iacdrift.loaders.policy import load_policies
from iacdrift.models.context import AuditEvent, ContextSettings
from iacdrift.models.finding import (
    ChangedField,
    DriftClass,
    Finding,
    Plane,
    Relationship,
    StackStatus,
)
from iacdrift.models.policy import PolicySet, Route

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "plans"
SALT = b"unit-test-salt"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROLE = "aws_iam_role.reporting"
ATTACHMENT = "aws_iam_role_policy_attachment.reporting_ledger_read"
INLINE = "aws_iam_role_policy.reporting_exports"
LEDGER_READ = "arn:aws:iam::123456789012:policy/prod-ledger-read"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
HUMAN = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_x/alice@example.com"
R = Relationship


def shipped_policies() -> PolicySet:
    return load_policies(ROOT / "policies")


def situation(**fields: Any) -> Situation:
    base: dict[str, Any] = {
        "facts": StackFacts(stack="prod-iam", environment="prod", risk_tier="critical"),
        "policies": shipped_policies(),
        "now": NOW,
        "settings": ContextSettings(),
    }
    base.update(fields)
    return Situation(**base)


def captured(scenario: str) -> tuple[list[Divergence], StackPlan]:
    plan_json = json.loads((FIXTURES / scenario / "prod-iam.plan.json").read_text())
    divergences = analyze(read_plan(plan_json, "plan.json"), salt=SALT)
    return divergences, StackPlan(live=live_resources(plan_json, salt=SALT))


def by_ref(found: list[Finding]) -> dict[str, Finding]:
    return {f.resourceRef: f for f in found}


# --- captured from real runs ---------------------------------------------------------------


def test_a_role_whose_policies_are_attached_by_their_own_resources_is_clean() -> None:
    divergences, stack_plan = captured("clean")
    # The planes see the role's aggregates change on the first refresh...
    role = next(d for d in divergences if d.address == ROLE)
    assert role.relationship is R.RECORDED_NE_ACTUAL
    assert [f.pointer for f in role.changed_fields] == [
        "/inline_policy/0",
        "/managed_policy_arns/0",
    ]
    # ...which the attachment and the inline policy resources explain.
    found = stack_findings(divergences, stack_plan, situation(), NOW)
    status, counts = status_and_counts(found, resources=6)
    assert status is StackStatus.CLEAN and counts.drifted == 0
    noise = by_ref(found)[ROLE]
    assert noise.driftClass is DriftClass.PROVIDER_READ_NOISE
    assert noise.relationship is R.NOISE_ONLY and noise.alsoTrue == []
    assert (noise.alert, noise.changedFields) == (False, [])
    assert [f.pointer for f in noise.noiseFields] == ["/inline_policy/0", "/managed_policy_arns/0"]
    assert f"/managed_policy_arns/0 by {ATTACHMENT}" in noise.reason
    assert f"/inline_policy/0 by {INLINE}" in noise.reason
    assert {e.ref for e in noise.evidence} >= {ATTACHMENT, INLINE}


def test_a_policy_attached_by_hand_beside_them_stays_drift_on_the_same_pointer() -> None:
    divergences, stack_plan = captured("reporting-policy-attached")
    attached = AuditEvent(
        eventId="evt-attach",
        eventTime=NOW.replace(hour=11),
        eventName="AttachRolePolicy",
        eventSource="iam.amazonaws.com",
        region="us-east-1",
        actorArn=HUMAN,
        actorType="AssumedRole",
        resourceIds=["prod-payments-reporting", READ_ONLY],
        readOnly=False,
        source="test",
    )
    audit = {i: (attached,) for i in attached.resourceIds}
    found = stack_findings(divergences, stack_plan, situation(audit=audit), NOW)
    role = by_ref(found)[ROLE]
    assert role.driftClass is DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
    assert role.relationship is R.RECORDED_NE_ACTUAL and role.alert
    assert [(f.pointer, f.before, f.after) for f in role.changedFields] == [
        ("/managed_policy_arns/1", None, READ_ONLY)
    ]
    # The explained elements are noise on the same finding, named in its reason.
    assert [(f.pointer, f.after) for f in role.noiseFields if "managed" in f.pointer] == [
        ("/managed_policy_arns/0", LEDGER_READ)
    ]
    assert f"/managed_policy_arns/0 by {ATTACHMENT}" in role.reason
    assert [a.actorArn for a in role.actors] == [HUMAN]
    status, _ = status_and_counts(found, resources=6)
    assert status is StackStatus.DRIFTED


def test_a_route_for_every_iam_change_does_not_page_on_explained_elements() -> None:
    # "Any change to a role's policies pages security."
    route = Route.model_validate(
        {
            "kind": "Route",
            "id": "iam-pages-security",
            "match": {"domain": "iam"},
            "notify": [{"type": "jsonl", "path": "security.jsonl"}],
            "createIncident": True,
        }
    )
    clean, clean_plan = captured("clean")
    quiet = route_plan(stack_findings(clean, clean_plan, situation(), NOW), [route], {}, NOW)
    assert quiet.deliveries == ()
    loud, loud_plan = captured("reporting-policy-attached")
    paged = route_plan(stack_findings(loud, loud_plan, situation(), NOW), [route], {}, NOW)
    assert [(d.resourceRef, d.page) for d in paged.deliveries] == [(ROLE, True)]


def test_members_recorded_in_another_registered_state_explain_too() -> None:
    divergences, stack_plan = captured("clean")
    state = json.loads((FIXTURES / "clean" / "prod-iam.state.json").read_text())
    others = aggregates.members_of_state(
        state, stack="iam-parts", account="123456789012", salt=SALT
    )
    assert sorted({(m.name, m.attribute) for m in others}) == [
        (f"{INLINE} (stack iam-parts)", "inline_policy"),
        (f"{ATTACHMENT} (stack iam-parts)", "managed_policy_arns"),
    ]
    # The role's own stack no longer declares the parts: only the other state has them.
    live = {a: r for a, r in stack_plan.live.items() if not a.startswith("aws_iam_role_policy")}
    role = next(d for d in divergences if d.address == ROLE)
    own = aggregates.index_members(aggregates.members_of_live(live))
    assert aggregates.needs_other_states([role], live, own)
    plan = StackPlan(live=live, other_members=others, account="123456789012")
    noise = by_ref(stack_findings([role], plan, situation(), NOW))[ROLE]
    assert noise.driftClass is DriftClass.PROVIDER_READ_NOISE
    assert f"{ATTACHMENT} (stack iam-parts)" in noise.reason
    # Another account's parts explain nothing; nor does this stack's own recorded state
    # (its members come from the refreshed plan).
    elsewhere = StackPlan(live=live, other_members=others, account="210987654321")
    assert by_ref(stack_findings([role], elsewhere, situation(), NOW))[ROLE].driftClass is (
        DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
    )
    mine = aggregates.members_of_state(state, stack="prod-iam", account=None, salt=SALT)
    itself = StackPlan(live=live, other_members=mine)
    assert by_ref(stack_findings([role], itself, situation(), NOW))[ROLE].driftClass is (
        DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
    )


def test_other_states_are_not_needed_when_this_one_explains_everything() -> None:
    divergences, stack_plan = captured("clean")
    own = aggregates.index_members(aggregates.members_of_live(stack_plan.live))
    assert not aggregates.needs_other_states(divergences, stack_plan.live, own)


# --- plain data ----------------------------------------------------------------------------


def divergence(
    type_name: str,
    address: str,
    resource_id: str,
    fields: list[ChangedField],
    relationship: Relationship = R.RECORDED_NE_ACTUAL,
) -> Divergence:
    return Divergence(
        address=address,
        type=type_name,
        module_address=None,
        provider_name="registry.terraform.io/hashicorp/aws",
        resource_id=resource_id,
        relationship=relationship,
        also_true=(),
        before_plane=Plane.RECORDED,
        after_plane=Plane.ACTUAL,
        changed_fields=tuple(fields),
        noise_fields=(),
        planned_actions=("no-op",),
        drift_actions=("update",),
    )


def live(address: str, type_name: str, attributes: dict[str, Any]) -> LiveResource:
    return LiveResource(address, type_name, attributes.get("id"), attributes, {})


def explained(
    subject: Divergence, resources: list[LiveResource], parent: dict[str, Any]
) -> aggregates.Explained:
    members = [m for r in resources for m in aggregates.members_of(r.address, r.type, r.attributes)]
    return aggregates.explain(subject, parent, aggregates.index_members(members))


SG = "aws_security_group.web"
SG_ID = "sg-0123"
HTTPS = {"cidr_blocks": ["10.0.0.0/8"], "from_port": 443, "protocol": "tcp", "to_port": 443}
OFFICE = {"cidr_blocks": ["10.20.0.0/16"], "from_port": 443, "protocol": "tcp", "to_port": 443}
SSH = {"cidr_blocks": ["0.0.0.0/0"], "from_port": 22, "protocol": "tcp", "to_port": 22}


def rule(address: str, cidrs: list[str], port: int, **extra: Any) -> LiveResource:
    attributes = {
        "id": address,
        "type": "ingress",
        "security_group_id": SG_ID,
        "protocol": "6",  # the rule says 6, the group reads tcp: one protocol
        "from_port": port,
        "to_port": port,
        "cidr_blocks": cidrs,
        **extra,
    }
    return live(address, "aws_security_group_rule", attributes)


def test_security_group_rules_explain_ingress_and_a_hand_added_rule_stays() -> None:
    https = rule("aws_security_group_rule.https", ["10.0.0.0/8"], 443)
    office = rule("aws_security_group_rule.office", ["10.20.0.0/16"], 443)
    # The group reads the two rule resources as one element (same protocol, ports and
    # description), and a world-SSH rule nobody declared.
    merged = {**HTTPS, "cidr_blocks": ["10.0.0.0/8", "10.20.0.0/16"]}
    sg = divergence(
        "aws_security_group",
        SG,
        SG_ID,
        [
            ChangedField(pointer="/ingress/0", before=HTTPS, after=None),
            ChangedField(pointer="/ingress/0", before=None, after=SSH),
            ChangedField(pointer="/ingress/1", before=None, after=merged),
        ],
    )
    parent = {"id": SG_ID, "ingress": [SSH, merged]}
    result = explained(sg, [https, office], parent)
    # The SSH rule stays, on its pointer; the regrouped and the new office source are noise.
    assert [(f.pointer, f.after) for f in result.divergence.changed_fields] == [("/ingress/0", SSH)]
    assert result.divergence.relationship is R.RECORDED_NE_ACTUAL
    assert [(e.pointer, e.addresses) for e in result.explanations] == [
        ("/ingress/0", ("aws_security_group_rule.office",)),
        ("/ingress/1", ("aws_security_group_rule.office",)),
    ]
    assert [f.pointer for f in result.divergence.noise_fields] == ["/ingress/0", "/ingress/1"]


def test_an_element_with_one_unexplained_source_stays_whole() -> None:
    https = rule("aws_security_group_rule.https", ["10.0.0.0/8"], 443)
    widened = {**HTTPS, "cidr_blocks": ["0.0.0.0/0", "10.0.0.0/8"]}
    sg = divergence(
        "aws_security_group", SG, SG_ID, [ChangedField(pointer="/ingress/0", after=widened)]
    )
    result = explained(sg, [https], {"id": SG_ID, "ingress": [widened]})
    assert result.explanations == ()
    assert result.divergence == sg


def test_a_description_changed_through_the_rule_resource_is_explained() -> None:
    was = {**HTTPS, "description": "old"}
    now = {**HTTPS, "description": "new"}
    https = rule("aws_security_group_rule.https", ["10.0.0.0/8"], 443, description="new")
    sg = divergence(
        "aws_security_group",
        SG,
        SG_ID,
        [
            ChangedField(pointer="/ingress/0", before=was, after=None),
            ChangedField(pointer="/ingress/0", before=None, after=now),
        ],
    )
    result = explained(sg, [https], {"id": SG_ID, "ingress": [now]})
    assert result.divergence.relationship is R.NOISE_ONLY
    assert result.divergence.changed_fields == ()


def test_vpc_rule_resources_and_all_traffic() -> None:
    everything = {"cidr_blocks": ["0.0.0.0/0"], "from_port": 0, "protocol": "-1", "to_port": 0}
    egress = live(
        "aws_vpc_security_group_egress_rule.all",
        "aws_vpc_security_group_egress_rule",
        {"security_group_id": SG_ID, "ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"},
    )
    sg = divergence(
        "aws_security_group", SG, SG_ID, [ChangedField(pointer="/egress/0", after=everything)]
    )
    result = explained(sg, [egress], {"id": SG_ID, "egress": [everything]})
    assert [e.addresses for e in result.explanations] == [
        ("aws_vpc_security_group_egress_rule.all",)
    ]
    # An ingress rule resource explains nothing of egress.
    ingress = live(
        "aws_vpc_security_group_ingress_rule.all",
        "aws_vpc_security_group_ingress_rule",
        {"security_group_id": SG_ID, "ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"},
    )
    assert explained(sg, [ingress], {"id": SG_ID, "egress": [everything]}).explanations == ()


def test_a_plan_that_would_change_the_aggregate_is_never_explained() -> None:
    # managed_policy_arns in the role's code and an attachment elsewhere: they fight.
    attachment = live(
        ATTACHMENT,
        "aws_iam_role_policy_attachment",
        {"role": "prod-payments-reporting", "policy_arn": LEDGER_READ},
    )
    role = divergence(
        "aws_iam_role",
        ROLE,
        "prod-payments-reporting",
        [ChangedField(pointer="/managed_policy_arns/0", after=LEDGER_READ)],
        relationship=R.OUT_OF_BAND,
    )
    parent = {"name": "prod-payments-reporting", "managed_policy_arns": [LEDGER_READ]}
    assert explained(role, [attachment], parent).divergence == role
    quiet = divergence(
        "aws_iam_role",
        ROLE,
        "prod-payments-reporting",
        [ChangedField(pointer="/managed_policy_arns/0", after=LEDGER_READ)],
    )
    assert explained(quiet, [attachment], parent).divergence.relationship is R.NOISE_ONLY
    # A policy detached by hand is lost by the role: nothing explains the loss.
    detached = divergence(
        "aws_iam_role",
        ROLE,
        "prod-payments-reporting",
        [ChangedField(pointer="/managed_policy_arns/0", before=LEDGER_READ)],
    )
    assert explained(detached, [attachment], {"name": "prod-payments-reporting"}).explanations == ()


def policy_doc(action: str) -> dict[str, Any]:
    return {
        "Statement": [{"Action": [action], "Effect": "Allow", "Resource": ["*"]}],
        "Version": "2012-10-17",
    }


def test_an_inline_policy_edited_through_its_resource_and_one_edited_by_hand() -> None:
    inline = live(
        INLINE,
        "aws_iam_role_policy",
        {"role": "prod-payments-reporting", "name": "exports", "policy": policy_doc("s3:Put*")},
    )
    old = {"name": "exports", "policy": policy_doc("s3:PutObject")}
    new = {"name": "exports", "policy": policy_doc("s3:Put*")}
    role = divergence(
        "aws_iam_role",
        ROLE,
        "prod-payments-reporting",
        [
            ChangedField(pointer="/inline_policy/0", before=old, after=None),
            ChangedField(pointer="/inline_policy/0", before=None, after=new),
        ],
    )
    parent = {"name": "prod-payments-reporting", "inline_policy": [new]}
    result = explained(role, [inline], parent)
    assert result.divergence.relationship is R.NOISE_ONLY
    assert {e.addresses for e in result.explanations} == {(INLINE,)}
    # The live policy is not what the resource says: the role reports it (as does the
    # resource's own refresh).
    by_hand = {"name": "exports", "policy": policy_doc("*")}
    edited = divergence(
        "aws_iam_role",
        ROLE,
        "prod-payments-reporting",
        [ChangedField(pointer="/inline_policy/0", before=None, after=by_hand)],
    )
    hand = explained(
        edited, [inline], {"name": "prod-payments-reporting", "inline_policy": [by_hand]}
    )
    assert hand.explanations == ()


def test_bucket_policy_and_acl_resources_explain_the_bucket() -> None:
    bucket = "iacdrift-demo-prod-receipts"
    document = policy_doc("s3:GetObject")
    grant = {"id": "owner-canonical-id", "permissions": ["FULL_CONTROL"], "type": "CanonicalUser"}
    policy = live(
        "aws_s3_bucket_policy.receipts",
        "aws_s3_bucket_policy",
        {"bucket": bucket, "policy": document},
    )
    acl = live(
        "aws_s3_bucket_acl.receipts",
        "aws_s3_bucket_acl",
        {
            "bucket": bucket,
            "access_control_policy": [
                {
                    "grant": [
                        {
                            "grantee": [{"id": "owner-canonical-id", "type": "CanonicalUser"}],
                            "permission": "FULL_CONTROL",
                        }
                    ],
                    "owner": [{"id": "owner-canonical-id"}],
                }
            ],
        },
    )
    fields = [
        ChangedField(pointer="/grant/0", after=grant),
        ChangedField(pointer="/policy/Statement/0", after=document["Statement"][0]),
        ChangedField(pointer="/policy/Version", after="2012-10-17"),
    ]
    subject = divergence("aws_s3_bucket", "aws_s3_bucket.receipts", bucket, fields)
    parent = {"bucket": bucket, "id": bucket, "policy": document, "grant": [grant]}
    result = explained(subject, [policy, acl], parent)
    assert result.divergence.relationship is R.NOISE_ONLY
    assert [(e.pointer, e.addresses) for e in result.explanations] == [
        ("/grant/0", ("aws_s3_bucket_acl.receipts",)),
        ("/policy/Statement/0", ("aws_s3_bucket_policy.receipts",)),
        ("/policy/Version", ("aws_s3_bucket_policy.receipts",)),
    ]
    # A policy that is not the resource's (a statement added by hand) stays, whole.
    opened = {**document, "Statement": [*document["Statement"], {"Effect": "Allow"}]}
    changed = explained(subject, [policy, acl], {**parent, "policy": opened})
    assert [f.pointer for f in changed.divergence.changed_fields] == [
        "/policy/Statement/0",
        "/policy/Version",
    ]


def test_a_fingerprint_matches_only_the_same_fingerprint() -> None:
    hidden = {"name": "exports", "policy": marker("doc", salt=SALT)}
    inline = live(
        INLINE,
        "aws_iam_role_policy",
        {"role": "prod-payments-reporting", "name": "exports", "policy": marker("doc", salt=SALT)},
    )
    role = divergence(
        "aws_iam_role",
        ROLE,
        "prod-payments-reporting",
        [ChangedField(pointer="/inline_policy/0", after=hidden, sensitive=True)],
    )
    parent = {"name": "prod-payments-reporting", "inline_policy": [hidden]}
    assert explained(role, [inline], parent).divergence.relationship is R.NOISE_ONLY
    other = {**hidden, "policy": marker("other", salt=SALT)}
    changed = divergence(
        "aws_iam_role",
        ROLE,
        "prod-payments-reporting",
        [ChangedField(pointer="/inline_policy/0", after=other, sensitive=True)],
    )
    assert explained(changed, [inline], {**parent, "inline_policy": [other]}).explanations == ()


def test_members_of_state_redacts_what_the_state_marks_sensitive() -> None:
    state = {
        "version": 4,
        "resources": [
            {
                "mode": "managed",
                "type": "aws_iam_role_policy",
                "name": "exports",
                "module": "module.jobs",
                "instances": [
                    {
                        "index_key": "a",
                        "attributes": {"role": "r", "name": "exports", "policy": "{}"},
                        "sensitive_attributes": [[{"type": "get_attr", "value": "policy"}]],
                    }
                ],
            },
            {"mode": "data", "type": "aws_iam_role_policy", "name": "x", "instances": []},
        ],
    }
    [member] = aggregates.members_of_state(state, stack="s", account=None, salt=SALT)
    assert member.address == 'module.jobs.aws_iam_role_policy.exports["a"]'
    [(_, value)] = member.atoms
    assert "(sensitive:" in value and "{}" not in value.replace("(sensitive:", "")


@pytest.mark.parametrize("relationship", [R.NOISE_ONLY, R.MISSING_IN_ACTUAL, R.UNMANAGED])
def test_other_relationships_pass_through(relationship: Relationship) -> None:
    subject = divergence("aws_iam_role", ROLE, "r", [], relationship=relationship)
    assert aggregates.explain(subject, None, {}) == aggregates.Explained(subject)
