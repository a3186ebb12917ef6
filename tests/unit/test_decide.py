"""The classification table, one row per class, on plain data (no Terraform, no AWS)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from iacdrift.core.attribution import index_audit
from iacdrift.core.decide import judge
from iacdrift.core.guardrails import guardrail_field, violated_guardrails
from iacdrift.core.planfacts import DataChange
from iacdrift.core.subject import Situation, StackFacts, Subject
from iacdrift.loaders.policy import policy_version
from iacdrift.models.context import (
    AuditEvent,
    ChangeOutcome,
    ChangeRecord,
    ChangeType,
    ContextSettings,
    Window,
)
from iacdrift.models.finding import Action, ChangedField, DriftClass, Relationship, Risk
from iacdrift.models.policy import (
    AutoHealPolicy,
    DecisionTable,
    FieldOwnership,
    Guardrail,
    IgnoreRule,
    PolicySet,
    PolicySource,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STACK = "prod-network"
SG = "module.web.aws_security_group.this"
SG_ID = "sg-0123456789abcdef0"
BREAK_GLASS_ROLE = "arn:aws:iam::123456789012:role/break-glass-admin"
HUMAN = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_x/alice@example.com"
PIPELINE_ROLE = "arn:aws:iam::123456789012:role/iacdrift-prod-network"


def policies(*documents: Any) -> PolicySet:
    sources = tuple(
        PolicySource("test.yaml", "policies/test.yaml", i + 1, doc, f"policies/test.yaml ({i + 1})")
        for i, doc in enumerate(documents)
    )
    return PolicySet(version=policy_version([("test.yaml", list(documents))]), sources=sources)


def doc(model: Any, **fields: Any) -> Any:
    kind = model.__name__
    return model.model_validate({"kind": kind, **fields})


def event(
    name: str = "AuthorizeSecurityGroupIngress",
    *,
    actor: str = HUMAN,
    role: str | None = None,
    at: datetime = NOW - timedelta(hours=1),
    ids: tuple[str, ...] = (SG_ID,),
    read_only: bool = False,
) -> AuditEvent:
    return AuditEvent(
        eventId=f"evt-{name}-{at.isoformat()}",
        eventTime=at,
        eventName=name,
        eventSource="ec2.amazonaws.com",
        region="us-east-1",
        actorArn=actor,
        actorType="AssumedRole",
        roleArn=role,
        resourceIds=list(ids),
        readOnly=read_only,
        source="test",
    )


def record(**fields: Any) -> ChangeRecord:
    base: dict[str, Any] = {
        "kind": "ChangeRecord",
        "id": "CHG-1",
        "type": "change",
        "stack": STACK,
        "resources": [SG],
        "window": {"start": NOW - timedelta(hours=3), "end": NOW + timedelta(hours=3)},
    }
    base.update(fields)
    return ChangeRecord.model_validate(base)


def subject(**fields: Any) -> Subject:
    base: dict[str, Any] = {
        "stack": STACK,
        "address": SG,
        "resource_type": "aws_security_group",
        "resource_id": SG_ID,
        "relationship": Relationship.OUT_OF_BAND,
        "fields": (ChangedField(pointer="/ingress/1", after={"from_port": 443}),),
        "identifiers": (SG_ID,),
    }
    base.update(fields)
    return Subject(**base)


def situation(**fields: Any) -> Situation:
    base: dict[str, Any] = {
        "facts": StackFacts(stack=STACK, environment="prod", risk_tier="critical"),
        "policies": policies(),
        "now": NOW,
        "settings": ContextSettings(breakGlassRoles=["arn:aws:iam::*:role/break-glass-*"]),
        "audit": [],
        "pipeline_roles": (
            PIPELINE_ROLE,
            "arn:aws:sts::123456789012:assumed-role/iacdrift-prod-network/*",
        ),
    }
    base.update(fields)
    if isinstance(base["audit"], list):
        base["audit"] = index_audit(base["audit"])
    return Situation(**base)


SECRET_VERSION = "aws_secretsmanager_secret_version"
TAGS_OWNERSHIP = doc(
    FieldOwnership,
    id="sg-desc-owned",
    resourceType="aws_security_group",
    controllerOwned=[{"path": "/tags/last-scaled", "owner": "autoscaler"}],
    gitOwned=["/ingress"],
)

CASES: list[tuple[str, Subject, Situation, DriftClass, Action, bool]] = [
    (
        "noise",
        subject(relationship=Relationship.NOISE_ONLY, fields=()),
        situation(),
        DriftClass.PROVIDER_READ_NOISE,
        Action.IGNORE,
        False,
    ),
    (
        "controller-owned by policy",
        subject(fields=(ChangedField(pointer="/tags/last-scaled", after="x"),)),
        situation(policies=policies(TAGS_OWNERSHIP)),
        DriftClass.CONTROLLER_OWNED_DRIFT,
        Action.IGNORE,
        False,
    ),
    (
        "owned outside Terraform by lifecycle.ignore_changes",
        subject(
            relationship=Relationship.RECORDED_NE_ACTUAL,
            fields=(ChangedField(pointer="/description", after="x"),),
            ignore_changes=frozenset({"description"}),
        ),
        situation(),
        DriftClass.CONTROLLER_OWNED_DRIFT,
        Action.IGNORE,
        False,
    ),
    (
        "emergency: break-glass actor and a break-glass incident record",
        subject(),
        situation(
            audit=[
                event(
                    actor="arn:aws:sts::123456789012:assumed-role/break-glass-admin/bob",
                    role=BREAK_GLASS_ROLE,
                )
            ],
            changes=[record(id="INC-7", type="incident", breakGlass=True)],
        ),
        DriftClass.EMERGENCY_DRIFT,
        Action.RECONCILE_AFTER_INCIDENT,
        True,
    ),
    (
        "secret delivery: a managed secret version rotated",
        subject(
            resource_type=SECRET_VERSION,
            address="aws_secretsmanager_secret_version.dsn",
            relationship=Relationship.RECORDED_NE_ACTUAL,
            fields=(ChangedField(pointer="/version_stages/0", before="AWSCURRENT", after=None),),
        ),
        situation(),
        DriftClass.SECRET_DELIVERY_DRIFT,
        Action.REFRESH,
        False,
    ),
    (
        "secret delivery: a secret read through a data source rotated",
        subject(
            resource_type=SECRET_VERSION,
            address="aws_secretsmanager_secret_version.dsn",
            relationship=Relationship.DESIRED_NE_RECORDED,
            fields=(
                ChangedField(
                    pointer="/secret_string",
                    before="iacdrift:fp:1",
                    after="iacdrift:fp:2",
                    sensitive=True,
                ),
            ),
            changed_data=(
                DataChange(
                    "data.aws_secretsmanager_secret_version.pw", SECRET_VERSION, True, "v1", "v2"
                ),
            ),
        ),
        situation(),
        DriftClass.SECRET_DELIVERY_DRIFT,
        Action.REFRESH,
        False,
    ),
    (
        "state drift: missing in actual",
        subject(relationship=Relationship.MISSING_IN_ACTUAL, fields=()),
        situation(),
        DriftClass.STATE_DRIFT,
        Action.INVESTIGATE,
        True,
    ),
    (
        "state drift: a rename without moved",
        subject(
            relationship=Relationship.DESIRED_NE_RECORDED,
            planned_actions=("delete",),
            refactor_counterpart="module.front.aws_security_group.this",
        ),
        situation(),
        DriftClass.STATE_DRIFT,
        Action.MOVE,
        False,  # nothing changed in the cloud: a rename never pages
    ),
    (
        "state drift: the state went back to an older serial",
        subject(relationship=Relationship.DESIRED_NE_RECORDED),
        situation(state_regressed="serial 9 -> 7"),
        DriftClass.STATE_DRIFT,
        Action.INVESTIGATE,
        True,
    ),
    (
        "dependency: a remote state output changed",
        subject(
            relationship=Relationship.DESIRED_NE_RECORDED,
            changed_data=(
                DataChange("data.terraform_remote_state.network", "terraform_remote_state", False),
            ),
        ),
        situation(),
        DriftClass.DEPENDENCY_DRIFT,
        Action.APPLY,
        False,
    ),
    (
        "pending apply: this stack's code changed",
        subject(relationship=Relationship.DESIRED_NE_RECORDED),
        situation(),
        DriftClass.PENDING_APPLY,
        Action.APPLY,
        False,
    ),
    (
        "failed reconciliation: the last apply failed",
        subject(relationship=Relationship.DESIRED_NE_RECORDED),
        situation(changes=[record(id="APPLY-3", type="apply", outcome="failed", resources=[])]),
        DriftClass.FAILED_RECONCILIATION_DRIFT,
        Action.INVESTIGATE,
        True,
    ),
    (
        "policy drift: in sync but violates a guardrail in effect",
        subject(relationship=Relationship.VIOLATES_GUARDRAIL, guardrails=("sg-no-world-ssh",)),
        situation(
            policies=policies(
                doc(
                    Guardrail,
                    id="sg-no-world-ssh",
                    resourceType="aws_security_group",
                    description="no world ssh",
                    effectiveDate="2026-11-01",
                    rule={
                        "path": "/ingress",
                        "operator": "any-element-matches",
                        "where": [{"path": "/from_port", "operator": "equals", "value": 22}],
                    },
                )
            )
        ),
        DriftClass.POLICY_DRIFT,
        Action.UPDATE_CODE,
        True,
    ),
    (
        "stale desired state: an approved change accepted the runtime value",
        subject(),
        situation(audit=[event()], changes=[record(acceptsRuntime=True, approvers=["a", "b"])]),
        DriftClass.STALE_DESIRED_STATE,
        Action.UPDATE_CODE,
        False,
    ),
    (
        "unauthorized: a manual change with no record",
        subject(),
        situation(audit=[event()]),
        DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
        Action.INCIDENT_AND_REVERT,
        True,
    ),
    (
        "unauthorized: an unmanaged resource",
        subject(
            stack=None,
            address=f"aws_security_group:{SG_ID}",
            relationship=Relationship.UNMANAGED,
            fields=(),
        ),
        situation(facts=None),
        DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
        Action.INVESTIGATE,
        True,
    ),
]


@pytest.mark.parametrize(
    ("subj", "sit", "drift_class", "action", "alert"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_every_class(
    subj: Subject, sit: Situation, drift_class: DriftClass, action: Action, alert: bool
) -> None:
    verdict = judge(subj, sit)
    assert verdict.drift_class is drift_class, verdict.reason
    assert verdict.action is action
    assert verdict.alert is alert
    assert verdict.reason
    # Deterministic: the same inputs give the same verdict.
    assert judge(subj, sit) == verdict


def test_every_class_is_covered() -> None:
    assert {case[3] for case in CASES} == set(DriftClass)


def test_emergency_carries_a_deadline_and_escalates_past_it() -> None:
    actor = "arn:aws:sts::123456789012:assumed-role/break-glass-admin/bob"
    incident = record(id="INC-7", type="incident", breakGlass=True)
    sit = situation(audit=[event(actor=actor, role=BREAK_GLASS_ROLE)], changes=[incident])
    verdict = judge(subject(), sit)
    assert verdict.deadline == NOW - timedelta(hours=1) + timedelta(hours=24)
    assert verdict.change_records == ("INC-7",)
    assert [a.actorArn for a in verdict.actors] == [actor]
    late = judge(subject(), dataclasses.replace(sit, now=NOW + timedelta(days=2)))
    assert "PAST its reconcile deadline" in late.reason
    # In staging the base risk leaves room to see the step up.
    staging = StackFacts(stack=STACK, environment="staging", risk_tier="low")
    on_time = judge(subject(), dataclasses.replace(sit, facts=staging))
    overdue = judge(subject(), dataclasses.replace(sit, facts=staging, now=NOW + timedelta(days=2)))
    assert overdue.risk.rank == on_time.risk.rank + 1


def test_break_glass_record_without_a_break_glass_actor_is_not_an_emergency() -> None:
    sit = situation(audit=[event()], changes=[record(id="INC-7", type="incident", breakGlass=True)])
    assert judge(subject(), sit).drift_class is DriftClass.UNAUTHORIZED_RUNTIME_DRIFT


def test_pipeline_changes_and_reads_are_not_manual_changes() -> None:
    terraform = event(
        actor="arn:aws:sts::123456789012:assumed-role/iacdrift-prod-network/run-1",
        role=PIPELINE_ROLE,
    )
    read = event("DescribeSecurityGroups", read_only=True)
    verdict = judge(subject(), situation(audit=[terraform, read]))
    assert verdict.actors == ()


def test_events_outside_the_lookback_or_on_other_resources_are_ignored() -> None:
    old = event(at=NOW - timedelta(days=30))
    other = event(ids=("sg-other",))
    assert judge(subject(), situation(audit=[old, other])).actors == ()


def test_an_ignore_rule_suppresses_and_names_itself_and_an_expired_one_does_not() -> None:
    rule = doc(
        IgnoreRule,
        id="web-ingress-desc",
        match={"resourceType": "aws_security_group", "stack": STACK},
        paths=["/ingress"],
        reason="descriptions are edited by the NOC",
        owner="team-network",
        expires="2026-12-31",
    )
    verdict = judge(subject(), situation(policies=policies(rule)))
    assert verdict.suppressed
    assert not verdict.alert
    assert verdict.action is Action.IGNORE
    assert [f.ignoredBy for f in verdict.fields] == ["web-ingress-desc"]
    assert "web-ingress-desc" in verdict.reason

    expired = judge(
        subject(), situation(policies=policies(rule), now=datetime(2027, 1, 2, tzinfo=UTC))
    )
    assert not expired.suppressed
    assert expired.alert
    assert [f.ignoredBy for f in expired.fields] == [None]
    assert any("expired on 2026-12-31" in e.detail for e in expired.evidence)


def test_git_ownership_overrides_ignore_changes() -> None:
    ownership = doc(
        FieldOwnership, id="sg-own", resourceType="aws_security_group", gitOwned=["/description"]
    )
    subj = subject(
        relationship=Relationship.RECORDED_NE_ACTUAL,
        fields=(ChangedField(pointer="/description", after="x"),),
        ignore_changes=frozenset({"description"}),
    )
    assert judge(subj, situation(policies=policies(ownership))).drift_class is (
        DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
    )


def test_decision_table_row_and_bounded_auto_heal() -> None:
    table = doc(
        DecisionTable,
        id="decisions",
        rows=[
            {
                "match": {"driftClass": "UNAUTHORIZED_RUNTIME_DRIFT", "domain": "storage"},
                "recommendedAction": "REVERT",
                "autoHealAllowed": True,
            },
            {"recommendedAction": "INVESTIGATE"},
        ],
    )
    heal = doc(
        AutoHealPolicy,
        id="bucket-tags",
        appliesTo={"resourceTypes": ["aws_s3_bucket"], "environments": ["staging"]},
        allowedPaths=["/tags"],
        deniedPaths=["/tags/owner"],
        maxObjectsPerReconcile=5,
    )
    facts = StackFacts(stack="staging-app", environment="staging", risk_tier="low", auto_heal=True)
    bucket = subject(
        stack="staging-app",
        address="aws_s3_bucket.b",
        resource_type="aws_s3_bucket",
        resource_id="b",
        fields=(ChangedField(pointer="/tags/cost-center", after="x"),),
    )
    sit = situation(facts=facts, policies=policies(table, heal))
    verdict = judge(bucket, sit)
    assert verdict.action is Action.REVERT and verdict.auto_heal_allowed
    assert {e.ref for e in verdict.evidence} >= {"decisions#1", "bucket-tags"}

    denied = dataclasses.replace(bucket, fields=(ChangedField(pointer="/tags/owner", after="x"),))
    assert not judge(denied, sit).auto_heal_allowed
    switched_off = dataclasses.replace(sit, facts=dataclasses.replace(facts, auto_heal=False))
    assert not judge(bucket, switched_off).auto_heal_allowed
    # IAM is never auto-healed, whatever the table says.
    role = dataclasses.replace(bucket, resource_type="aws_iam_role", address="aws_iam_role.r")
    assert not judge(role, sit).auto_heal_allowed


def test_guardrails_in_effect_only_from_their_date() -> None:
    guardrail = doc(
        Guardrail,
        id="no-world-ssh",
        resourceType="aws_security_group",
        description="no world ssh",
        effectiveDate="2026-12-01",
        rule={
            "path": "/ingress",
            "operator": "any-element-matches",
            "where": [{"path": "/from_port", "operator": "equals", "value": 22}],
        },
    )
    live = {"ingress": [{"from_port": 22}]}
    assert violated_guardrails("aws_security_group", live, policies(guardrail), NOW) == ()
    later = datetime.combine(date(2026, 12, 1), datetime.min.time(), tzinfo=UTC)
    assert violated_guardrails("aws_security_group", live, policies(guardrail), later) == (
        "no-world-ssh",
    )
    # A runtime change that breaks a guardrail stays unauthorized, at HIGH risk or more.
    verdict = judge(
        subject(guardrails=("no-world-ssh",)),
        situation(
            policies=policies(guardrail), now=later, audit=[event(at=later - timedelta(hours=1))]
        ),
    )
    assert verdict.drift_class is DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
    assert verdict.risk.rank >= Risk.HIGH.rank


def test_unmanaged_resource_named_by_an_approved_change_is_stale_desired_state() -> None:
    unmanaged = subject(
        stack=None,
        address="aws_s3_bucket:scratch",
        resource_type="aws_s3_bucket",
        resource_id="scratch",
        relationship=Relationship.UNMANAGED,
        fields=(),
        identifiers=("scratch",),
    )
    approved = record(resources=["scratch"], acceptsRuntime=True)
    verdict = judge(unmanaged, situation(facts=None, changes=[approved]))
    assert verdict.drift_class is DriftClass.STALE_DESIRED_STATE


def test_a_succeeded_apply_after_a_failed_one_clears_it() -> None:
    failed = record(
        id="APPLY-1",
        type="apply",
        outcome=ChangeOutcome.FAILED,
        resources=[],
        window=Window(start=NOW - timedelta(hours=5), end=NOW - timedelta(hours=4)),
    )
    fixed = record(
        id="APPLY-2",
        type="apply",
        outcome=ChangeOutcome.SUCCEEDED,
        resources=[],
        window=Window(start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1)),
    )
    pending = subject(relationship=Relationship.DESIRED_NE_RECORDED)
    assert judge(pending, situation(changes=[failed])).drift_class is (
        DriftClass.FAILED_RECONCILIATION_DRIFT
    )
    assert (
        judge(pending, situation(changes=[failed, fixed])).drift_class is DriftClass.PENDING_APPLY
    )
    # A clean check after the failed apply: reconciled since.
    reconciled = situation(changes=[failed], clean_since=NOW - timedelta(hours=3))
    assert judge(pending, reconciled).drift_class is DriftClass.PENDING_APPLY
    # A person changed it after the failed apply: a manual change, not its leftovers.
    later = event(at=NOW - timedelta(hours=1))
    assert judge(subject(), situation(changes=[failed], audit=[later])).drift_class is (
        DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
    )
    # A guardrail hit is never a failed apply's leftover.
    hit = subject(relationship=Relationship.VIOLATES_GUARDRAIL, guardrails=())
    assert judge(hit, situation(changes=[failed])).drift_class is DriftClass.POLICY_DRIFT
    assert failed.type is ChangeType.APPLY


def test_an_approved_change_outlives_the_audit_window() -> None:
    closed = record(
        acceptsRuntime=True,
        window=Window(start=NOW - timedelta(days=20), end=NOW - timedelta(days=19)),
    )
    for audit in (None, []):
        verdict = judge(subject(), situation(audit=audit, changes=[closed]))
        assert verdict.drift_class is DriftClass.STALE_DESIRED_STATE
    future = record(acceptsRuntime=True, window=Window(start=NOW + timedelta(days=1)))
    assert judge(subject(), situation(changes=[future])).drift_class is (
        DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
    )


def test_ssm_rotation_is_judged_on_versions_never_on_values_alone() -> None:
    value = ChangedField(pointer="/value", before="(s:a)", after="(s:b)", sensitive=True)
    rotated = subject(
        resource_type="aws_ssm_parameter",
        address="aws_ssm_parameter.p",
        relationship=Relationship.RECORDED_NE_ACTUAL,
        fields=(value, ChangedField(pointer="/version", before=1, after=2)),
    )
    assert judge(rotated, situation()).drift_class is DriftClass.SECRET_DELIVERY_DRIFT
    value_only = dataclasses.replace(rotated, fields=(value,))
    assert judge(value_only, situation()).drift_class is DriftClass.UNAUTHORIZED_RUNTIME_DRIFT


def test_ignore_changes_on_one_tag_owns_only_that_tag() -> None:
    scaled = subject(
        relationship=Relationship.RECORDED_NE_ACTUAL,
        fields=(ChangedField(pointer="/tags/last-scaled", after="x"),),
        ignore_changes=frozenset({'tags["last-scaled"]'}),
    )
    assert judge(scaled, situation()).drift_class is DriftClass.CONTROLLER_OWNED_DRIFT
    owner = dataclasses.replace(scaled, fields=(ChangedField(pointer="/tags/owner", after="x"),))
    assert judge(owner, situation()).drift_class is DriftClass.UNAUTHORIZED_RUNTIME_DRIFT


def test_ignore_rule_scoped_to_an_address_with_an_instance_key() -> None:
    address = 'module.bucket["ledger"].aws_s3_bucket.this'
    rule = doc(
        IgnoreRule,
        id="ledger-tags",
        match={"resourceType": "aws_s3_bucket", "address": address},
        paths=["/tags/backup"],
        reason="set by AWS Backup",
        owner="team-storage",
        expires="2027-01-31",
    )
    bucket = subject(
        address=address,
        resource_type="aws_s3_bucket",
        resource_id="ledger",
        fields=(ChangedField(pointer="/tags/backup", after="daily"),),
    )
    assert judge(bucket, situation(policies=policies(rule))).suppressed


SSH_RULE = {
    "path": "/ingress",
    "operator": "any-element-matches",
    "where": [{"path": "/from_port", "operator": "equals", "value": 22}],
}


def test_a_guardrail_field_shows_only_the_violating_elements() -> None:
    ssh = doc(
        Guardrail,
        id="no-world-ssh",
        resourceType="aws_security_group",
        description="no world ssh",
        effectiveDate="2026-01-01",
        rule=SSH_RULE,
    )
    live = {"ingress": [{"from_port": 443}, {"from_port": 22}], "secret": "not shown"}
    shown = guardrail_field(ssh, live)
    assert shown.pointer == "/ingress"
    assert shown.after == {"from_port": 22}
    whole = doc(
        Guardrail,
        id="any",
        resourceType="aws_security_group",
        description="anything",
        effectiveDate="2026-01-01",
        rule={
            "operator": "any-of",
            "where": [{"path": "/name", "operator": "equals", "value": "x" * 900}],
        },
    )
    assert len(str(guardrail_field(whole, {"name": "x" * 900}).after)) <= 400


def test_tags_all_is_governed_by_what_is_said_of_tags() -> None:
    ownership = doc(
        FieldOwnership,
        id="bucket-own",
        resourceType="aws_s3_bucket",
        runtimeOwned=["/tags/data-class"],
    )
    bucket = subject(
        address="aws_s3_bucket.b",
        resource_type="aws_s3_bucket",
        resource_id="b",
        fields=(
            ChangedField(pointer="/tags/data-class", after="x"),
            ChangedField(pointer="/tags_all/data-class", after="x"),
        ),
    )
    verdict = judge(bucket, situation(policies=policies(ownership)))
    assert verdict.drift_class is DriftClass.CONTROLLER_OWNED_DRIFT
    assert [f.ownedBy for f in verdict.fields] == ["runtime", "runtime"]


def test_state_regression_needs_the_same_lineage_and_a_lower_serial() -> None:
    from iacdrift.flows.classification import state_regression
    from iacdrift.models.finding import StackResult, StackStatus

    seen = StackResult(
        stack=STACK,
        status=StackStatus.CLEAN,
        checkedAt=NOW - timedelta(days=1),
        stateLineage="lin-1",
        stateSerial=9,
    )
    assert state_regression(None, "lin-1", 7) is None
    assert state_regression(seen, "lin-1", 9) is None
    assert state_regression(seen, "lin-1", 12) is None
    assert state_regression(seen, "lin-2", 3) is None  # a new state, not a restore
    reason = state_regression(seen, "lin-1", 7)
    assert reason is not None and "from 9" in reason and "to 7" in reason


def test_an_unmanaged_resource_is_never_reverted() -> None:
    table = doc(
        DecisionTable,
        id="decisions",
        rows=[
            {"match": {"driftClass": "UNAUTHORIZED_RUNTIME_DRIFT"}, "recommendedAction": "REVERT"}
        ],
    )
    stray = subject(
        stack=None,
        address="aws_s3_bucket:stray",
        resource_type="aws_s3_bucket",
        resource_id="stray",
        relationship=Relationship.UNMANAGED,
        fields=(),
    )
    verdict = judge(stray, situation(facts=None, policies=policies(table)))
    assert verdict.action is Action.INVESTIGATE
    assert not verdict.auto_heal_allowed
    assert any(e.ref == "unmanaged" for e in verdict.evidence)


# --- who rotated a secret (a person alerts, a controller does not) -------------------------

ROTATION_ROLE = "arn:aws:iam::123456789012:role/db-secret-rotation"
ROTATION = "arn:aws:sts::123456789012:assumed-role/db-secret-rotation/rotation-lambda"
DB_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/db-pw-AbCdEf"
CONTROLLERS = ContextSettings(controllerRoles=["arn:aws:iam::*:role/db-secret-rotation"])


def secret_event(actor: str, name: str = "PutSecretValue", role: str | None = None) -> AuditEvent:
    return event(name, actor=actor, role=role, ids=(DB_SECRET, "team/db-pw"))


def reads_rotated_secret() -> Subject:
    return subject(
        resource_type=SECRET_VERSION,
        address="aws_secretsmanager_secret_version.dsn",
        resource_id="arn:aws:secretsmanager:us-east-1:123456789012:secret:dsn-x|v9",
        identifiers=("arn:aws:secretsmanager:us-east-1:123456789012:secret:dsn-x",),
        relationship=Relationship.DESIRED_NE_RECORDED,
        fields=(
            ChangedField(
                pointer="/secret_string",
                before="(sensitive:aaaaaaaaaaaaaaaa)",
                after="(sensitive:bbbbbbbbbbbbbbbb)",
                sensitive=True,
            ),
        ),
        changed_data=(
            DataChange(
                "data.aws_secretsmanager_secret_version.pw",
                SECRET_VERSION,
                True,
                "v1",
                "v2",
                identifiers=(DB_SECRET, "team/db-pw"),
            ),
        ),
    )


def test_a_person_rotating_a_secret_a_stack_reads_is_alerted() -> None:
    person = judge(
        reads_rotated_secret(), situation(settings=CONTROLLERS, audit=[secret_event(HUMAN)])
    )
    assert person.drift_class is DriftClass.SECRET_DELIVERY_DRIFT
    assert person.alert is True
    assert HUMAN in person.reason and "not a registered controller" in person.reason
    assert [a.actorArn for a in person.actors] == [HUMAN]
    assert any(e.kind.value == "audit" and HUMAN in e.detail for e in person.evidence)
    # Version ids and fingerprints only: the reason names versions, never a value.
    assert "v1 -> v2" in person.reason and "sensitive:" not in person.reason

    controller = judge(
        reads_rotated_secret(),
        situation(settings=CONTROLLERS, audit=[secret_event(ROTATION, role=ROTATION_ROLE)]),
    )
    assert controller.drift_class is DriftClass.SECRET_DELIVERY_DRIFT
    assert controller.alert is False
    assert "registered controller" in controller.reason and ROTATION in controller.reason
    assert controller.risk.rank < person.risk.rank  # quiet: one step lower

    # The controller then a person: the person's change alerts.
    both = judge(
        reads_rotated_secret(),
        situation(
            settings=CONTROLLERS,
            audit=[
                secret_event(ROTATION, role=ROTATION_ROLE),
                secret_event(HUMAN).model_copy(update={"eventId": "evt-later"}),
            ],
        ),
    )
    assert both.alert is True and len(both.actors) == 2


def test_a_secret_rotation_by_nobody_known_or_by_a_non_writing_call_is_quiet() -> None:
    for audit in (None, [], [secret_event(HUMAN, name="TagResource")]):
        verdict = judge(reads_rotated_secret(), situation(settings=CONTROLLERS, audit=audit))
        assert verdict.drift_class is DriftClass.SECRET_DELIVERY_DRIFT
        assert verdict.alert is False
        assert "unknown" in verdict.reason


def test_a_person_moving_a_managed_secrets_current_version_is_alerted() -> None:
    managed = subject(
        resource_type=SECRET_VERSION,
        address="aws_secretsmanager_secret_version.dsn",
        resource_id=f"{DB_SECRET}|v1",
        identifiers=(DB_SECRET,),
        relationship=Relationship.RECORDED_NE_ACTUAL,
        fields=(ChangedField(pointer="/version_stages/0", before="AWSCURRENT", after=None),),
    )
    staged = secret_event(HUMAN, name="UpdateSecretVersionStage")
    person = judge(managed, situation(settings=CONTROLLERS, audit=[staged]))
    assert (person.drift_class, person.alert) == (DriftClass.SECRET_DELIVERY_DRIFT, True)
    rotated = secret_event(ROTATION, role=ROTATION_ROLE)
    controller = judge(managed, situation(settings=CONTROLLERS, audit=[rotated]))
    assert (controller.drift_class, controller.alert) == (DriftClass.SECRET_DELIVERY_DRIFT, False)
    # With no controller registered, every identity is a person.
    anyone = judge(managed, situation(audit=[rotated]))
    assert anyone.alert is True


# --- a rename without moved ---------------------------------------------------------------

OLD_BUCKET = "aws_s3_bucket.logs"
NEW_BUCKET = "aws_s3_bucket.audit_logs"


def renamed(address: str, counterpart: str, action: str) -> Subject:
    return subject(
        address=address,
        resource_type="aws_s3_bucket",
        resource_id="prod-logs",
        relationship=Relationship.DESIRED_NE_RECORDED,
        planned_actions=(action,),
        fields=(
            ChangedField(
                pointer="",
                before="(exists)" if action == "delete" else None,
                after=None if action == "delete" else "(exists)",
            ),
        ),
        refactor_counterpart=counterpart,
    )


def test_a_rename_without_moved_is_a_quiet_move_no_decision_row_replaces() -> None:
    """The shipped table sends STATE_DRIFT to a person; a rename is a fact of the plan
    (one identity destroyed and created), so its MOVE stands and the trail says why."""
    from pathlib import Path

    from iacdrift.loaders.policy import load_policies

    shipped = load_policies(Path(__file__).resolve().parents[2] / "policies")
    for subj in (
        renamed(OLD_BUCKET, NEW_BUCKET, "delete"),
        renamed(NEW_BUCKET, OLD_BUCKET, "create"),
    ):
        bare = judge(subj, situation())
        assert (bare.drift_class, bare.action, bare.alert) == (
            DriftClass.STATE_DRIFT,
            Action.MOVE,
            False,
        )
        verdict = judge(subj, situation(policies=shipped))
        assert (verdict.drift_class, verdict.action, verdict.alert) == (
            DriftClass.STATE_DRIFT,
            Action.MOVE,
            False,
        )
        assert "applying the plan would destroy and recreate the resource" in verdict.reason
        assert f"destroy {OLD_BUCKET}, create {NEW_BUCKET}" in verdict.reason
        assert "without a moved block" in verdict.reason
        assert any(e.ref.startswith("default-decisions#") for e in verdict.evidence)
        (firm,) = [e for e in verdict.evidence if e.ref == "rename"]
        assert firm.detail.startswith("MOVE, not INVESTIGATE: the plan destroys and creates")


def test_a_rename_of_an_object_also_changed_by_hand_still_pages() -> None:
    changed = subject(
        address=OLD_BUCKET,
        resource_type="aws_s3_bucket",
        resource_id="prod-logs",
        identifiers=("prod-logs",),
        relationship=Relationship.DESIRED_NE_ACTUAL,
        planned_actions=("delete",),
        fields=(ChangedField(pointer="/tags/owner", before="a", after="b"),),
        refactor_counterpart=NEW_BUCKET,
    )
    verdict = judge(changed, situation(audit=[event(ids=("prod-logs",))]))
    assert verdict.drift_class is DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
    assert verdict.alert is True
    assert any(e.ref == NEW_BUCKET for e in verdict.evidence)


# --- aggregates explained by other resources -------------------------------------------------


def test_explained_aggregate_elements_are_noise_naming_their_managers() -> None:
    from iacdrift.core.aggregates import Explanation

    attachment = "aws_iam_role_policy_attachment.reporting_ledger_read"
    explained = (Explanation("/managed_policy_arns/0", (attachment,)),)
    role = subject(
        address="aws_iam_role.reporting",
        resource_type="aws_iam_role",
        resource_id="prod-payments-reporting",
        relationship=Relationship.NOISE_ONLY,
        fields=(),
        explained=explained,
    )
    noise = judge(role, situation())
    assert (noise.drift_class, noise.alert, noise.action) == (
        DriftClass.PROVIDER_READ_NOISE,
        False,
        Action.IGNORE,
    )
    assert f"/managed_policy_arns/0 by {attachment}" in noise.reason
    assert [e.ref for e in noise.evidence] == [attachment]
    # What nothing explains stays drift; the reason still names what is noise.
    mixed = dataclasses.replace(
        role,
        relationship=Relationship.RECORDED_NE_ACTUAL,
        fields=(ChangedField(pointer="/managed_policy_arns/1", after="arn:aws:iam::aws:policy/X"),),
        identifiers=("prod-payments-reporting",),
    )
    loud = judge(mixed, situation(audit=[event(ids=("prod-payments-reporting",))]))
    assert loud.drift_class is DriftClass.UNAUTHORIZED_RUNTIME_DRIFT and loud.alert
    assert f"noise, managed by other resources: /managed_policy_arns/0 by {attachment}" in (
        loud.reason
    )
