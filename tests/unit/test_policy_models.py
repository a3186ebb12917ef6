"""Policy file formats: loading, every problem as ``file: field: what to do``, the
policy version, and the documented semantics of each kind."""

from __future__ import annotations

import json
import shutil
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from iacdrift.core.normalize import normalize
from iacdrift.errors import Problem, RegistryError
from iacdrift.loaders.policy import load_policies, policy_version
from iacdrift.models.catalog import schema_file
from iacdrift.models.finding import Action, Domain, DriftClass, Risk
from iacdrift.models.policy import (
    KIND_MODELS,
    AutoHealPolicy,
    Check,
    DecisionTable,
    FieldOwnership,
    Guardrail,
    IgnoreMatch,
    IgnoreRule,
    NotifyTarget,
    OwnerKind,
    PolicyKind,
    Route,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies"
SCHEMAS = ROOT / "schemas"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(directory: Path, cwd: Path) -> list[Problem]:
    with pytest.raises(RegistryError) as caught:
        load_policies(directory, cwd=cwd)
    return caught.value.problems


def lines(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


IGNORE = """\
apiVersion: iacdrift.dev/v1
kind: IgnoreRule
id: web-sg-description
match: {resourceType: aws_security_group, stack: prod-network}
paths: [/tags/last-audit]
reason: the audit job stamps the tag
owner: platform-network
expires: 2027-01-31
"""

# --- the example policies ----------------------------------------------------------


def test_example_policies_load_every_kind() -> None:
    policies = load_policies(EXAMPLES, cwd=ROOT)

    kinds = {source.document.kind for source in policies.sources}
    assert kinds == {kind.value for kind in PolicyKind}
    assert sorted(policies.field_ownership) == [
        "aws_autoscaling_group",
        "aws_iam_role",
        "aws_s3_bucket",
        "aws_security_group",
    ]
    asg = policies.field_ownership["aws_autoscaling_group"].owner_of("/desired_capacity")
    assert asg is not None and asg.kind is OwnerKind.CONTROLLER
    assert asg.owner == "ec2-autoscaling"
    assert policies.decision_table is not None
    assert [source.name for source in policies.sources] == sorted(
        source.name for source in policies.sources
    )
    assert policies.source_of("sg-no-world-ssh").file == "policies/guardrails.yaml"


def test_policy_version_is_a_content_hash(tmp_path: Path) -> None:
    first = load_policies(EXAMPLES, cwd=ROOT).version
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert load_policies(EXAMPLES, cwd=ROOT).version == first

    # Same content elsewhere, under another directory name: same version.
    copy = tmp_path / "elsewhere" / "rules"
    shutil.copytree(EXAMPLES, copy)
    assert load_policies(copy, cwd=tmp_path).version == first

    # Comments, key order and flow style do not matter; content does.
    ignore = copy / "ignore.yaml"
    document = yaml.safe_load(ignore.read_text(encoding="utf-8"))
    ignore.write_text(yaml.safe_dump(document, sort_keys=True), encoding="utf-8")
    assert load_policies(copy, cwd=tmp_path).version == first

    document["expires"] = date(2027, 1, 1)
    ignore.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert load_policies(copy, cwd=tmp_path).version != first


def test_policy_version_orders_by_file_name_and_counts_file_names(tmp_path: Path) -> None:
    rule = IgnoreRule.model_validate(yaml.safe_load(IGNORE))
    assert policy_version([("b.yaml", [rule]), ("a.yaml", [])]) == policy_version(
        [("a.yaml", []), ("b.yaml", [rule])]
    )
    assert policy_version([("a.yaml", [rule])]) != policy_version([("b.yaml", [rule])])
    # Defaults are part of the content: writing them out changes nothing.
    explicit = IgnoreRule.model_validate({**yaml.safe_load(IGNORE), "schemaVersion": 1})
    assert policy_version([("a.yaml", [rule])]) == policy_version([("a.yaml", [explicit])])


def test_missing_directory_is_empty_only_when_allowed(tmp_path: Path) -> None:
    empty = load_policies(Path("policies"), cwd=tmp_path, missing_ok=True)
    assert (empty.sources, empty.version) == ((), policy_version([]))
    assert lines(problems_of(Path("policies"), tmp_path)) == [
        "policies: policy directory not found; create it with policy files (kind: "
        "AutoHealPolicy, DecisionTable, FieldOwnership, Guardrail, IgnoreRule, Route) or "
        "point --policies at it"
    ]


@pytest.mark.parametrize("source", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_documents_pass_their_published_schema(source: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for document in yaml.safe_load_all(source.read_text(encoding="utf-8")):
        model = KIND_MODELS[PolicyKind(document["kind"])]
        schema = json.loads((SCHEMAS / schema_file(model)).read_text(encoding="utf-8"))
        # JSON Schema sees JSON: YAML dates become the strings a JSON file would hold.
        as_json = json.loads(json.dumps(document, default=str))
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(as_json))
        assert errors == [], (document["id"], [e.message for e in errors])


# --- problems ---------------------------------------------------------------------


def test_each_problem_names_file_document_and_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        "policies/x.yaml",
        """\
        apiVersion: iacdrift.dev/v1
        kind: IgnoreRules
        id: a
        ---
        kind: IgnoreRule
        id: b
        match: {resourceType: aws_security_group, adress: x}
        paths: [ingress, /a//b, /tags/env*, "/a/~2"]
        reason: why
        owner: me
        expires: '2026-02-30'
        ---
        - a list
        """,
    )
    write(tmp_path, "policies/y.yml", "id: c\n")

    assert lines(problems_of(Path("policies"), tmp_path)) == [
        "policies/x.yaml (document 1): kind: unknown kind 'IgnoreRules'; use one of: "
        "AutoHealPolicy, DecisionTable, FieldOwnership, Guardrail, IgnoreRule, Route; "
        "did you mean 'IgnoreRule'?",
        "policies/x.yaml (document 2): expires: '2026-02-30' is not a calendar date "
        "(day is out of range for month); fix the date",
        "policies/x.yaml (document 2): match.adress: unknown field; remove it (allowed here: "
        "address, environment, resourceType, stack, tags); did you mean 'address'?",
        "policies/x.yaml (document 2): paths.0: 'ingress' is not a JSON pointer; start it with "
        "`/`, e.g. /tags/owner (RFC 6901)",
        "policies/x.yaml (document 2): paths.1: '/a//b' has an empty segment (`//` or a "
        "trailing `/`); remove it",
        "policies/x.yaml (document 2): paths.2: '/tags/env*': `*` matches a whole segment "
        "only; write /* as its own segment (e.g. /tags/*) or spell the key out",
        "policies/x.yaml (document 2): paths.3: '/a/~2': `~` must be written ~0 and `/` "
        "inside a key ~1 (RFC 6901)",
        "policies/x.yaml (document 3): the document is a list, not a mapping; write "
        "`key: value` fields at the top level (apiVersion, kind, id, ...)",
        "policies/y.yml: kind: required field is missing; add one of: AutoHealPolicy, "
        "DecisionTable, FieldOwnership, Guardrail, IgnoreRule, Route",
    ]


def test_yaml_problems(tmp_path: Path) -> None:
    write(tmp_path, "p/empty.yaml", "# nothing yet\n")
    write(tmp_path, "p/dup.yaml", IGNORE + "owner: someone-else\n")
    write(tmp_path, "p/syntax.yaml", "kind: [IgnoreRule\n")
    write(tmp_path, "p/date.yaml", IGNORE.replace("2027-01-31", "2027-13-01"))
    write(tmp_path, "p/stamp.yaml", IGNORE.replace("2027-01-31", "2027-01-31T10:00:00Z"))
    write(tmp_path, "p/skipped.txt", "not a policy")

    problems = lines(problems_of(Path("p"), tmp_path))

    assert problems[0] == (
        "p/date.yaml: YAML cannot read a value (month must be in 1..12); fix the date or quote it"
    )
    assert problems[1] == (
        "p/dup.yaml: owner: duplicate key on line 9 (first on line 7); keep only one "
        "(YAML would silently use the last)"
    )
    assert problems[2] == (
        "p/empty.yaml: file is empty; write policy documents (kind: AutoHealPolicy, "
        "DecisionTable, FieldOwnership, Guardrail, IgnoreRule, Route) or delete it"
    )
    assert problems[3].startswith("p/stamp.yaml: expires: expected a date written YYYY-MM-DD")
    assert problems[4].startswith("p/syntax.yaml: YAML syntax error at line 2")
    assert len(problems) == 5


def test_cross_document_problems(tmp_path: Path) -> None:
    table = "kind: DecisionTable\nid: {id}\nrows: [{{recommendedAction: INVESTIGATE}}]\n"
    ownership = (
        "kind: FieldOwnership\nid: {id}\nresourceType: aws_iam_role\n"
        "gitOwned: [/assume_role_policy]\n"
    )
    write(tmp_path, "policies/a.yaml", table.format(id="t1"))
    write(
        tmp_path,
        "policies/b.yaml",
        table.format(id="t2") + "---\n" + ownership.format(id="t1"),
    )
    write(tmp_path, "policies/c.yaml", ownership.format(id="o2"))

    assert lines(problems_of(Path("policies"), tmp_path)) == [
        "policies/b.yaml (document 1): kind: a second DecisionTable (the first is 't1' in "
        "policies/a.yaml); keep one table and order its rows",
        "policies/b.yaml (document 2): id: duplicate id 't1' (also in policies/a.yaml); ids "
        "must be unique across policy files",
        "policies/c.yaml: resourceType: aws_iam_role already has FieldOwnership 't1' "
        "(policies/b.yaml (document 2)); merge them into one",
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"kind": "FieldOwnership", "id": "x", "resourceType": "aws_iam_role"},
            "no fields listed; add gitOwned, runtimeOwned or controllerOwned paths",
        ),
        (
            {
                "kind": "FieldOwnership",
                "id": "x",
                "resourceType": "aws_iam_role",
                "gitOwned": ["/a"],
                "controllerOwned": [{"path": "/a", "owner": "c"}],
            },
            "/a listed more than once; give each path one owner",
        ),
        (
            {
                "kind": "AutoHealPolicy",
                "id": "x",
                "appliesTo": {"resourceTypes": ["aws_s3_bucket"]},
                "allowedPaths": ["/tags"],
                "deniedPaths": ["/tags"],
                "maxObjectsPerReconcile": 1,
            },
            "/tags both allowed and denied; a denied path always wins, remove it from allowedPaths",
        ),
        (
            {
                "kind": "DecisionTable",
                "id": "x",
                "rows": [{"recommendedAction": "INCIDENT_AND_REVERT", "autoHealAllowed": True}],
            },
            "autoHealAllowed only applies to REVERT (action is INCIDENT_AND_REVERT); set "
            "autoHealAllowed: false",
        ),
        (
            {"kind": "Route", "id": "x", "notify": [{"type": "slack", "url": "hooks.example"}]},
            "url 'hooks.example' is not an http(s) URL; write https://host/...",
        ),
        (
            {"kind": "Route", "id": "x", "notify": [{"type": "stdout", "path": "x.jsonl"}]},
            "a stdout target takes neither url nor path; remove them",
        ),
        (
            {
                "kind": "Guardrail",
                "id": "x",
                "resourceType": "aws_s3_bucket",
                "description": "d",
                "effectiveDate": "2025-01-01",
                "rule": {"path": "/acl", "operator": "at-most", "value": "3"},
            },
            "operator at-most needs a number as value (got '3')",
        ),
        (
            {
                "kind": "Guardrail",
                "id": "x",
                "resourceType": "aws_s3_bucket",
                "description": "d",
                "effectiveDate": "2025-01-01",
                "rule": {"path": "/grant", "operator": "any-of", "value": "x"},
            },
            "operator any-of needs `where`: a list of checks",
        ),
    ],
)
def test_model_rules_say_what_to_do(document: dict[str, Any], message: str) -> None:
    model = KIND_MODELS[PolicyKind(document["kind"])]
    with pytest.raises(ValidationError) as caught:
        model.model_validate(document)
    assert [error["msg"].removeprefix("Value error, ") for error in caught.value.errors()] == [
        message
    ]


# --- semantics of each kind -----------------------------------------------------------


def test_ignore_rule_matches_scope_and_applies_through_its_expiry_day() -> None:
    rule = IgnoreRule.model_validate(
        {
            "kind": "IgnoreRule",
            "id": "r",
            "match": {
                "resourceType": "aws_s3_bucket",
                "address": "module.assets.*",
                "environment": "staging",
                "tags": {"team": "store*"},
            },
            "paths": ["/tags/cost-center", "/lifecycle_rule/*/expiration"],
            "reason": "why",
            "owner": "team",
            "expires": "2027-02-26",
        }
    )
    facts: dict[str, Any] = {
        "resource_type": "aws_s3_bucket",
        "address": "module.assets.aws_s3_bucket.this",
        "stack": "staging-app",
        "environment": "staging",
        "tags": {"team": "storefront"},
    }
    assert rule.match.matches(**facts)
    assert not rule.match.matches(**{**facts, "environment": "prod"})
    assert not rule.match.matches(**{**facts, "tags": {}})
    assert not rule.match.matches(**{**facts, "resource_type": "aws_s3_bucket_policy"})
    assert rule.covers("/tags/cost-center")
    assert rule.covers("/lifecycle_rule/0/expiration/days")
    assert not rule.covers("/tags/owner")
    assert rule.active(date(2027, 2, 26)) and not rule.active(date(2027, 2, 27))


def test_ignore_match_scope() -> None:
    def scoped(**match: Any) -> bool:
        return IgnoreMatch.model_validate({"resourceType": "aws_s3_bucket", **match}).scoped

    assert not scoped()
    assert not scoped(address="*", stack="**")
    assert scoped(tags={"team": "*"})
    assert scoped(stack="prod-*")


def test_field_ownership_most_specific_path_decides() -> None:
    ownership = FieldOwnership.model_validate(
        {
            "kind": "FieldOwnership",
            "id": "o",
            "resourceType": "aws_security_group",
            "gitOwned": ["/tags", "/ingress/*/x"],
            "runtimeOwned": ["/ingress/0/*"],
            "controllerOwned": [{"path": "/tags/k8s", "owner": "ctl", "condition": "when"}],
        }
    )
    controller = ownership.owner_of("/tags/k8s")
    assert controller is not None
    assert (controller.kind, controller.owner, controller.condition) == (
        OwnerKind.CONTROLLER,
        "ctl",
        "when",
    )
    git = ownership.owner_of("/tags/team")
    assert git is not None and git.kind is OwnerKind.GIT
    # Same length, same number of wildcards: Git wins the tie.
    tie = ownership.owner_of("/ingress/0/x")
    assert tie is not None and tie.kind is OwnerKind.GIT
    runtime = ownership.owner_of("/ingress/0/y")
    assert runtime is not None and runtime.kind is OwnerKind.RUNTIME
    assert ownership.owner_of("/egress") is None


def test_auto_heal_policy_bounds() -> None:
    policies = load_policies(EXAMPLES, cwd=ROOT)
    (policy,) = policies.auto_heal_policies
    assert isinstance(policy, AutoHealPolicy)
    assert policy.applies_to(resource_type="aws_s3_bucket", risk_tier="low", environment="staging")
    assert not policy.applies_to(
        resource_type="aws_s3_bucket", risk_tier="high", environment="staging"
    )
    assert not policy.applies_to(resource_type="aws_s3_bucket", risk_tier="low", environment="prod")
    assert not policy.applies_to(
        resource_type="aws_security_group", risk_tier="low", environment="staging"
    )
    assert policy.permits("/tags/environment")
    assert not policy.permits("/tags/data-class")
    # A change of the whole tag map would also touch a denied tag.
    assert not policy.permits("/tags")
    assert not policy.permits("/versioning/0/enabled")
    assert policy.maxObjectsPerReconcile == 5


def _sg(*ingress: dict[str, Any]) -> Any:
    return normalize("aws_security_group", {"ingress": list(ingress), "name": "web"})


def _rule(
    cidr: str = "0.0.0.0/0", port: int = 22, to: int | None = None, proto: str = "tcp"
) -> dict[str, Any]:
    return {
        "cidr_blocks": [cidr],
        "from_port": port,
        "to_port": port if to is None else to,
        "protocol": proto,
        "self": False,
    }


def test_example_guardrails_on_security_groups() -> None:
    guardrails = {g.id: g for g in load_policies(EXAMPLES, cwd=ROOT).guardrails}
    ssh, rdp, everything = (
        guardrails["sg-no-world-ssh"],
        guardrails["sg-no-world-rdp"],
        guardrails["sg-no-world-all-traffic"],
    )
    assert ssh.violated_by(_sg(_rule()))
    assert ssh.violated_by(_sg(_rule(port=0, to=1024)))
    assert ssh.violated_by(_sg(_rule("10.0.0.0/8", 443), _rule(port=20, to=23)))
    assert ssh.violated_by(
        _sg({"ipv6_cidr_blocks": ["::/0"], "from_port": 22, "to_port": 22, "protocol": "6"})
    )
    assert not ssh.violated_by(_sg(_rule("10.0.0.0/8")))
    assert not ssh.violated_by(_sg(_rule(port=443)))
    assert not ssh.violated_by(_sg(_rule(proto="udp")))
    assert not ssh.violated_by(_sg())
    assert rdp.violated_by(_sg(_rule(port=3389)))
    assert not rdp.violated_by(_sg(_rule()))
    assert everything.violated_by(_sg(_rule(port=0, proto="-1")))
    assert not everything.violated_by(_sg(_rule(port=0, proto="-1", cidr="10.0.0.0/8")))
    assert ssh.in_effect(date(2025, 1, 1)) and not ssh.in_effect(date(2024, 12, 31))


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_example_guardrails_on_buckets_and_iam() -> None:
    guardrails = {g.id: g for g in load_policies(EXAMPLES, cwd=ROOT).guardrails}
    public = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
    account = {**public, "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}
    anyone_aws = {**public, "Principal": {"AWS": ["*"]}}
    denied = {**public, "Effect": "Deny"}

    def bucket(**attributes: Any) -> Any:
        return normalize("aws_s3_bucket", {"bucket": "b", **attributes})

    acl, policy = guardrails["s3-no-public-acl"], guardrails["s3-no-public-policy"]
    assert acl.violated_by(bucket(acl="public-read"))
    assert not acl.violated_by(bucket(acl="private"))
    assert acl.violated_by(
        bucket(grant=[{"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"}])
    )
    assert policy.violated_by(bucket(policy=_policy(public)))
    assert policy.violated_by(bucket(policy=_policy(account, anyone_aws)))
    assert not policy.violated_by(bucket(policy=_policy(account, denied)))
    assert not policy.violated_by(bucket())

    admin = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    narrow = {"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}
    iam = guardrails["iam-policy-no-wildcard-admin"]
    assert iam.violated_by(normalize("aws_iam_policy", {"policy": _policy(narrow, admin)}))
    assert not iam.violated_by(normalize("aws_iam_policy", {"policy": _policy(narrow)}))
    role = guardrails["iam-role-inline-no-wildcard-admin"]
    inline = [{"name": "a", "policy": _policy(narrow)}, {"name": "b", "policy": _policy(admin)}]
    assert role.violated_by(normalize("aws_iam_role", {"inline_policy": inline}))
    assert not role.violated_by(normalize("aws_iam_role", {"inline_policy": inline[:1]}))


@pytest.mark.parametrize(
    ("check", "document", "holds"),
    [
        ({"path": "/n", "operator": "equals", "value": 22}, {"n": 22.0}, True),
        ({"path": "/n", "operator": "equals", "value": 1}, {"n": True}, False),
        ({"path": "/n", "operator": "equals", "value": 1}, {}, False),
        ({"path": "/s", "operator": "contains", "value": "ad"}, {"s": "admin"}, True),
        ({"path": "/l", "operator": "contains", "value": 1}, {"l": [2, 1]}, True),
        ({"path": "/l", "operator": "contains", "value": 1}, {"l": 1}, False),
        ({"path": "/s", "operator": "matches", "value": "a.*"}, {"s": "xadmin"}, False),
        ({"path": "/n", "operator": "at-most", "value": 5}, {"n": "4"}, False),
        (
            {"path": "/*/n", "operator": "at-least", "value": 5},
            {"a": {"n": 1}, "b": {"n": 7}},
            True,
        ),
    ],
)
def test_check_operators(check: dict[str, Any], document: Any, holds: bool) -> None:
    assert Check.model_validate(check).holds(document) is holds


def test_example_decision_table_follows_the_auto_heal_matrix() -> None:
    table = load_policies(EXAMPLES, cwd=ROOT).decision_table
    assert isinstance(table, DecisionTable)

    def decide(drift_class: DriftClass, domain: Domain, environment: str) -> tuple[Action, bool]:
        decided = table.decide(
            drift_class=drift_class, domain=domain, environment=environment, risk=Risk.HIGH
        )
        assert decided is not None
        return decided[1].recommendedAction, decided[1].autoHealAllowed

    unauthorized = DriftClass.UNAUTHORIZED_RUNTIME_DRIFT
    for domain in (Domain.IAM, Domain.NETWORK, Domain.SECRETS, Domain.DATABASE):
        for environment in ("prod", "staging"):
            assert decide(unauthorized, domain, environment)[1] is False
    assert decide(unauthorized, Domain.IAM, "prod") == (Action.INCIDENT_AND_REVERT, False)
    assert decide(unauthorized, Domain.NETWORK, "staging") == (Action.REVERT, False)
    assert decide(unauthorized, Domain.DATABASE, "prod") == (Action.INVESTIGATE, False)
    assert decide(unauthorized, Domain.STORAGE, "staging") == (Action.REVERT, True)
    assert decide(unauthorized, Domain.OTHER, "prod") == (Action.REVERT, False)
    for domain in Domain:
        assert decide(DriftClass.PROVIDER_READ_NOISE, domain, "prod") == (Action.IGNORE, False)
        assert decide(DriftClass.CONTROLLER_OWNED_DRIFT, domain, "prod") == (Action.IGNORE, False)
    # Every class gets a decision (the last row is a catch-all).
    for drift_class in DriftClass:
        decide(drift_class, Domain.COMPUTE, "dev")


def test_decide_first_matching_row_wins() -> None:
    table = DecisionTable.model_validate(
        {
            "kind": "DecisionTable",
            "id": "t",
            "rows": [
                {"match": {"risk": "CRITICAL"}, "recommendedAction": "INCIDENT_AND_REVERT"},
                {"match": {"environment": "prod*"}, "recommendedAction": "INVESTIGATE"},
            ],
        }
    )
    facts: dict[str, Any] = {
        "drift_class": DriftClass.STATE_DRIFT,
        "domain": Domain.COST,
        "environment": "prod-eu",
        "risk": Risk.CRITICAL,
    }
    assert table.decide(**facts) == (0, table.rows[0])
    assert table.decide(**{**facts, "risk": Risk.LOW}) == (1, table.rows[1])
    assert table.decide(**{**facts, "risk": Risk.LOW, "environment": None}) is None


def test_routes_match_min_risk_and_continue() -> None:
    routes = {r.id: r for r in load_policies(EXAMPLES, cwd=ROOT).routes}
    iam = routes["prod-iam-unauthorized"]
    facts: dict[str, Any] = {
        "drift_class": DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
        "domain": Domain.IAM,
        "environment": "prod",
        "risk": Risk.CRITICAL,
    }
    assert iam.match.matches(**facts)
    assert not iam.match.matches(**{**facts, "risk": Risk.MEDIUM})
    assert iam.createIncident and iam.continueMatching
    assert routes["findings-log"].match.matches(**{**facts, "environment": None})
    assert isinstance(routes["controller-owned-quiet"], Route)
    assert routes["controller-owned-quiet"].notify == []


def test_notify_targets() -> None:
    webhook = NotifyTarget.model_validate({"type": "webhook", "url": "http://127.0.0.1:8080/x"})
    assert webhook.url == "http://127.0.0.1:8080/x"
    with pytest.raises(ValidationError, match="a jsonl target needs path"):
        NotifyTarget.model_validate({"type": "jsonl"})
    with pytest.raises(ValidationError, match="posts to url; remove path"):
        NotifyTarget.model_validate({"type": "slack", "url": "https://x", "path": "y"})


def test_guardrail_rule_describes_the_violation() -> None:
    guardrail = Guardrail.model_validate(
        {
            "kind": "Guardrail",
            "id": "g",
            "resourceType": "aws_s3_bucket",
            "description": "no versioning off",
            "effectiveDate": date(2026, 1, 1),
            "rule": {"path": "/versioning/0/enabled", "operator": "equals", "value": False},
        }
    )
    assert guardrail.violated_by({"versioning": [{"enabled": False}]})
    assert not guardrail.violated_by({"versioning": [{"enabled": True}]})
