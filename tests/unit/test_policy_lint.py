"""``iacdrift policy lint``: bad rules as plain data, the example policies clean."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from iacdrift.core.policy_lint import critical_overlaps, has_errors, lint
from iacdrift.core.resource_types import CRITICAL_FIELDS
from iacdrift.loaders.policy import load_policies
from iacdrift.models.policy import (
    KIND_MODELS,
    LintFinding,
    PolicyKind,
    PolicySet,
    PolicySource,
    Severity,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies"
TODAY = date(2026, 11, 25)
FILE = "policies/p.yaml"


def policy_set(*documents: dict[str, Any]) -> PolicySet:
    sources = []
    for position, document in enumerate(documents, start=1):
        model = KIND_MODELS[PolicyKind(document["kind"])].model_validate(document)
        where = f"{FILE} (document {position})"
        sources.append(PolicySource("p.yaml", FILE, position, model, where))
    return PolicySet(version="sha256:test", sources=tuple(sources))


def ignore(rule_id: str = "narrow", **fields: Any) -> dict[str, Any]:
    """A narrow, owned, expiring rule; ``fields`` override (``match`` is merged)."""
    document: dict[str, Any] = {
        "kind": "IgnoreRule",
        "id": rule_id,
        "match": {
            "resourceType": "aws_security_group",
            "stack": "prod-network",
            "address": 'module.tier["web"].aws_security_group.this',
        },
        "paths": ["/tags/last-audit"],
        "reason": "the audit job stamps the tag",
        "owner": "platform-network",
        "expires": "2027-01-31",
    }
    match = fields.pop("match", {})
    document["match"] = {**document["match"], **match}
    document.update(fields)
    return {key: value for key, value in document.items() if value is not None}


def messages(findings: list[LintFinding]) -> list[tuple[str, Severity, str]]:
    return [(f.ruleId, f.severity, f.message) for f in findings]


def only(findings: list[LintFinding]) -> LintFinding:
    assert len(findings) == 1, messages(findings)
    return findings[0]


# --- the examples ---------------------------------------------------------------------


def test_example_policies_lint_clean() -> None:
    assert lint(load_policies(EXAMPLES, cwd=ROOT), TODAY) == []


def test_narrow_owned_expiring_rule_is_accepted() -> None:
    assert lint(policy_set(ignore()), TODAY) == []


# --- critical fields ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "path", "hidden"),
    [
        ("aws_security_group", "/ingress", "network field /ingress"),
        ("aws_security_group", "/ingress/*/cidr_blocks", "network field /ingress"),
        ("aws_security_group", "/egress/0", "network field /egress"),
        ("aws_iam_role", "/assume_role_policy", "identity field /assume_role_policy"),
        (
            "aws_iam_role",
            "/inline_policy/*/policy/Statement",
            "privilege field /inline_policy",
        ),
        ("aws_iam_policy", "/policy/Statement/0/Action", "privilege field /policy"),
        ("aws_instance", "/ami", "image field /ami"),
        ("aws_instance", "/user_data", "command-execution field /user_data"),
        ("aws_lambda_function", "/image_uri", "image field /image_uri"),
        ("aws_s3_bucket", "/acl", "privilege field /acl"),
        ("aws_s3_bucket", "/versioning", "persistence field /versioning"),
        ("aws_s3_bucket", "/*", "every field of the resource"),
        ("aws_cloudwatch_log_group", "/*/*", "every field of the resource"),
    ],
)
def test_rule_hiding_a_critical_field_is_an_error(
    resource_type: str, path: str, hidden: str
) -> None:
    rule = ignore(match={"resourceType": resource_type}, paths=[path])
    finding = only(lint(policy_set(rule), TODAY))
    assert finding.severity is Severity.ERROR
    assert finding.message.startswith(f"path {path} would hide {hidden}")
    assert has_errors([finding])


def test_all_hidden_fields_are_named_and_each_path_judged() -> None:
    rule = ignore(
        match={"resourceType": "aws_instance"},
        paths=["/tags/Name", "/*/0"],
    )
    finding = only(lint(policy_set(rule), TODAY))
    assert finding.message.startswith("path /*/0 would hide image field /ami, network field")

    assert critical_overlaps("aws_instance", "/metadata_options/0/http_tokens") == [
        ("/metadata_options", CRITICAL_FIELDS["aws_instance"]["/metadata_options"])
    ]
    assert critical_overlaps("aws_instance", "/tags") == []
    assert critical_overlaps("aws_unknown_thing", "/policy") == []


def test_tags_and_controller_fields_are_not_critical() -> None:
    rules = [
        ignore("a", paths=["/tags/last-audit"]),
        ignore(
            "b",
            match={"resourceType": "aws_autoscaling_group", "address": "aws_autoscaling_group.web"},
            paths=["/desired_capacity"],
        ),
    ]
    assert lint(policy_set(*rules), TODAY) == []


# --- scope and expiry ----------------------------------------------------------------


@pytest.mark.parametrize(
    "match",
    [
        {"stack": None, "address": None},
        {"stack": "*", "address": "*"},
    ],
)
def test_unscoped_rule_is_an_error(match: dict[str, Any]) -> None:
    document = ignore(match=match)
    document["match"] = {k: v for k, v in document["match"].items() if v is not None}
    finding = only(lint(policy_set(document), TODAY))
    assert (finding.severity, finding.message) == (
        Severity.ERROR,
        "unscoped: matches every aws_security_group everywhere; scope it by match.address, "
        "match.stack, match.environment or match.tags",
    )


def test_tag_or_environment_scope_is_enough() -> None:
    by_tag = ignore("a", match={"stack": "*", "address": None, "tags": {"team": "*"}})
    by_env = ignore("b", match={"stack": None, "address": None, "environment": "dev"})
    by_tag["match"] = {k: v for k, v in by_tag["match"].items() if v is not None}
    by_env["match"] = {k: v for k, v in by_env["match"].items() if v is not None}
    assert lint(policy_set(by_tag, by_env), TODAY) == []


def test_rule_without_expiry_is_an_error() -> None:
    finding = only(lint(policy_set(ignore(expires=None)), TODAY))
    assert (finding.severity, finding.message) == (
        Severity.ERROR,
        "no expiry; add expires: YYYY-MM-DD so the exception is revisited",
    )


def test_expired_rule_is_a_warning_and_applies_through_its_last_day() -> None:
    assert lint(policy_set(ignore(expires="2026-11-25")), TODAY) == []
    finding = only(lint(policy_set(ignore(expires="2026-11-24")), TODAY))
    assert (finding.severity, finding.message) == (
        Severity.WARNING,
        "expired on 2026-11-24: no longer applied; review it and set a new expiry, or delete it",
    )
    assert not has_errors([finding])


def test_expiry_more_than_a_year_ahead_is_a_warning() -> None:
    assert lint(policy_set(ignore(expires="2027-11-25")), TODAY) == []
    finding = only(lint(policy_set(ignore(expires="2030-01-01")), TODAY))
    assert finding.severity is Severity.WARNING
    assert finding.message.startswith("expires 2030-01-01, more than a year ahead")


def test_one_bad_rule_gets_every_finding_sorted() -> None:
    bad = ignore(
        "bad",
        match={"resourceType": "aws_iam_role", "stack": None, "address": None},
        paths=["/assume_role_policy", "/managed_policy_arns"],
        expires=None,
    )
    bad["match"] = {k: v for k, v in bad["match"].items() if v is not None}
    findings = lint(policy_set(bad, ignore()), TODAY)
    assert [(f.ruleId, f.message.split(";")[0]) for f in findings] == [
        ("bad", "no expiry"),
        (
            "bad",
            "path /assume_role_policy would hide identity field /assume_role_policy of "
            "aws_iam_role",
        ),
        (
            "bad",
            "path /managed_policy_arns would hide privilege field /managed_policy_arns of "
            "aws_iam_role",
        ),
        ("bad", "unscoped: matches every aws_iam_role everywhere"),
    ]
    assert {f.file for f in findings} == {FILE}
    assert {f.kind for f in findings} == {PolicyKind.IGNORE_RULE}


# --- shadowing -------------------------------------------------------------------------


def test_rule_shadowed_by_a_broader_one_is_a_warning() -> None:
    broad = ignore("broad", match={"address": "module.tier*"}, paths=["/tags"])
    narrow = ignore("narrow", paths=["/tags/last-audit"])
    finding = only(lint(policy_set(narrow, broad), TODAY))
    assert (finding.ruleId, finding.severity) == ("narrow", Severity.WARNING)
    assert finding.message == (
        f"shadowed by 'broad' ({FILE} (document 2)), which already ignores every path of this "
        "rule on every resource it matches; delete one of them"
    )


def test_of_two_identical_rules_the_later_is_reported() -> None:
    findings = lint(policy_set(ignore("first"), ignore("second")), TODAY)
    assert [f.ruleId for f in findings] == ["second"]


@pytest.mark.parametrize(
    "broad",
    [
        # Ends earlier: the narrow rule still matters afterwards.
        ignore("broad", paths=["/tags"], expires="2026-12-31"),
        # Expired: no longer applied, so it shadows nothing (reported as expired).
        ignore("broad", paths=["/tags"], expires="2026-01-01"),
        # Matches other resources only.
        ignore("broad", match={"stack": "prod-app"}, paths=["/tags"]),
        # Ignores other fields only.
        ignore("broad", paths=["/tags/owner", "/tags/team"]),
        # Needs a tag the narrow rule does not require.
        ignore("broad", match={"tags": {"team": "*"}}, paths=["/tags"]),
    ],
)
def test_not_shadowed(broad: dict[str, Any]) -> None:
    findings = lint(policy_set(ignore("narrow"), broad), TODAY)
    assert "narrow" not in [f.ruleId for f in findings], messages(findings)


def test_wildcard_path_shadows_concrete_paths() -> None:
    broad = ignore("broad", paths=["/tags/*"])
    narrow = ignore("narrow", paths=["/tags/last-audit", "/tags/owner"])
    assert [f.ruleId for f in lint(policy_set(broad, narrow), TODAY)] == ["narrow"]


# --- ownership, auto-heal, decisions, routes ------------------------------------------


def test_quiet_ownership_of_a_critical_field_is_an_error() -> None:
    ownership = {
        "kind": "FieldOwnership",
        "id": "sg",
        "resourceType": "aws_security_group",
        "gitOwned": ["/egress"],
        "runtimeOwned": ["/owner_id"],
        "controllerOwned": [{"path": "/ingress/*/cidr_blocks", "owner": "vpn-sync"}],
    }
    finding = only(lint(policy_set(ownership), TODAY))
    assert finding.severity is Severity.ERROR
    assert finding.message.startswith(
        "controller-owned (vpn-sync) path /ingress/*/cidr_blocks would make drift in network "
        "field /ingress of aws_security_group quiet"
    )


def auto_heal(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "AutoHealPolicy",
        "id": "heal",
        "appliesTo": {"resourceTypes": ["aws_s3_bucket"]},
        "allowedPaths": ["/tags"],
        "maxObjectsPerReconcile": 3,
        **fields,
    }


def test_auto_heal_on_never_heal_domains_is_an_error() -> None:
    policy = auto_heal(appliesTo={"resourceTypes": ["aws_s3_bucket", "aws_iam_role"]})
    finding = only(lint(policy_set(policy), TODAY))
    assert (finding.severity, finding.message.split(":")[0]) == (
        Severity.ERROR,
        "auto-heal on aws_iam_role (iam)",
    )


def test_auto_heal_reverting_a_critical_field_is_a_warning_unless_denied() -> None:
    finding = only(lint(policy_set(auto_heal(allowedPaths=["/tags", "/policy"])), TODAY))
    assert finding.severity is Severity.WARNING
    assert finding.message.startswith(
        "allowed path /policy lets auto-heal revert privilege field /policy of aws_s3_bucket"
    )
    denied = auto_heal(allowedPaths=["/tags", "/policy/Statement"], deniedPaths=["/policy"])
    assert lint(policy_set(denied), TODAY) == []


def table(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "DecisionTable", "id": "table", "rows": list(rows)}


def test_decision_row_healing_a_never_heal_domain_is_an_error() -> None:
    explicit = table(
        {"match": {"domain": "iam"}, "recommendedAction": "REVERT", "autoHealAllowed": True}
    )
    finding = only(lint(policy_set(explicit), TODAY))
    assert (finding.severity, finding.message.split(",")[0]) == (
        Severity.ERROR,
        "rows.0 allows auto-heal for iam findings",
    )

    wildcard = table(
        {"match": {"domain": "iam"}, "recommendedAction": "INVESTIGATE"},
        {
            "match": {"driftClass": "UNAUTHORIZED_RUNTIME_DRIFT"},
            "recommendedAction": "REVERT",
            "autoHealAllowed": True,
        },
    )
    finding = only(lint(policy_set(wildcard), TODAY))
    assert finding.message.startswith(
        "rows.1 allows auto-heal for database, network, secrets findings"
    )

    guarded = table(
        *(
            {"match": {"domain": domain}, "recommendedAction": "INVESTIGATE"}
            for domain in ("iam", "network", "secrets", "database")
        ),
        {"recommendedAction": "REVERT", "autoHealAllowed": True},
    )
    assert lint(policy_set(guarded), TODAY) == []


def test_unreachable_decision_row_is_a_warning() -> None:
    rows = table(
        {"match": {"driftClass": "STATE_DRIFT"}, "recommendedAction": "INVESTIGATE"},
        {
            "match": {"driftClass": "STATE_DRIFT", "environment": "prod"},
            "recommendedAction": "APPLY",
        },
        {"recommendedAction": "INVESTIGATE"},
    )
    finding = only(lint(policy_set(rows), TODAY))
    assert (finding.severity, finding.message) == (
        Severity.WARNING,
        "rows.1 never matches: rows.0 matches everything it does and comes first; delete it "
        "or move it up",
    )


def route(route_id: str, match: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"kind": "Route", "id": route_id, "match": match, **fields}


def test_unreachable_route_is_a_warning_unless_the_earlier_continues() -> None:
    catch_all = route("all", {}, notify=[{"type": "stdout"}])
    iam = route("iam", {"domain": "iam", "minRisk": "HIGH"}, createIncident=True)
    finding = only(lint(policy_set(catch_all, iam), TODAY))
    assert (finding.ruleId, finding.severity) == ("iam", Severity.WARNING)
    assert finding.message.startswith(f"never matches: route 'all' ({FILE} (document 1))")

    continuing = {**catch_all, "continueMatching": True}
    assert lint(policy_set(continuing, iam), TODAY) == []
    # A lower minimum risk is broader: HIGH first does not hide MEDIUM.
    assert (
        lint(policy_set(iam, route("iam-medium", {"domain": "iam", "minRisk": "MEDIUM"})), TODAY)
        == []
    )


# --- the command ---------------------------------------------------------------------


def run_cli(args: list[str]) -> int:
    from iacdrift.cli.common import run_guarded
    from iacdrift.cli.policy_cmd import policy_group

    return int(
        run_guarded(
            lambda: policy_group.main(args=args, prog_name="iacdrift policy", standalone_mode=False)
        )
    )


def test_cli_lint_examples_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["lint", "--policies", str(EXAMPLES), "--today", "2026-11-25"])
    out = capsys.readouterr().out
    assert code == 0, out
    version = load_policies(EXAMPLES, cwd=ROOT).version
    assert out.endswith(f"0 errors, 0 warnings; policy version {version}\n")


def test_cli_lint_reports_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "ignore.yaml").write_text(
        "kind: IgnoreRule\nid: all-ingress\n"
        "match: {resourceType: aws_security_group, environment: prod}\n"
        "paths: [/ingress]\nreason: noisy\nowner: me\nexpires: 2026-01-01\n",
        encoding="utf-8",
    )

    code = run_cli(["lint", "--today", "2026-11-25"])

    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0].startswith(
        "error: policies/ignore.yaml: all-ingress: path /ingress would hide network field"
    )
    assert out[1].startswith("warning: policies/ignore.yaml: all-ingress: expired on 2026-01-01")
    assert out[2].startswith("failed: 1 document in policies/, 1 error, 1 warning; policy version")

    assert run_cli(["lint", "--today", "2026-11-25", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["documents"] == 1 and report["today"] == "2026-11-25"
    assert [f["severity"] for f in report["findings"]] == ["error", "warning"]


def test_cli_invalid_files_and_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(["lint"]) == 1
    assert "policies: policy directory not found" in capsys.readouterr().err

    (tmp_path / "ops" / "policies").mkdir(parents=True)
    (tmp_path / "ops" / "policies" / "x.yaml").write_text("kind: Nope\nid: x\n", encoding="utf-8")
    assert run_cli(["version", "--config", "ops/iacdrift.yaml"]) == 1
    assert "error: ops/policies/x.yaml: kind: unknown kind 'Nope'" in capsys.readouterr().err

    assert run_cli(["version", "--policies", str(EXAMPLES)]) == 0
    assert capsys.readouterr().out == load_policies(EXAMPLES, cwd=ROOT).version + "\n"
