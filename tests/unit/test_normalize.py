"""Normalization: equal readings of one object compare equal, real changes stay."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iacdrift.core.normalize import (
    default_for,
    is_set_attribute,
    normalize,
    set_root,
)
from iacdrift.primitives.canonical import canonical_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "plans"


def same(type_name: str, a: Any, b: Any) -> bool:
    return canonical_json(normalize(type_name, a)) == canonical_json(normalize(type_name, b))


def doc(value: Any, **dumps: Any) -> str:
    return json.dumps(value, **dumps)


# --- (a) JSON documents ---------------------------------------------------------

POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
        },
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
    ],
}


def test_policy_text_formatting_and_key_order_do_not_matter() -> None:
    compact = doc(POLICY, separators=(",", ":"), sort_keys=True)
    pretty = doc(POLICY, indent=4)
    assert compact != pretty
    assert same("aws_iam_policy", {"policy": compact}, {"policy": "\n  " + pretty})


def test_policy_is_parsed_into_the_canonical_form() -> None:
    out = normalize("aws_iam_policy", {"policy": doc(POLICY)})
    assert out["policy"]["Version"] == "2012-10-17"
    deny = next(s for s in out["policy"]["Statement"] if s["Effect"] == "Deny")
    assert deny["Action"] == ["s3:DeleteObject"]
    assert deny["Resource"] == ["*"]


def test_policy_scalar_equals_one_element_list() -> None:
    scalar = copy.deepcopy(POLICY)
    listed = copy.deepcopy(POLICY)
    listed["Statement"][1]["Action"] = ["s3:DeleteObject"]
    listed["Statement"][1]["Resource"] = ["*"]
    assert same("aws_iam_policy", {"policy": doc(scalar)}, {"policy": doc(listed)})


def test_policy_lists_and_statements_are_unordered() -> None:
    shuffled = copy.deepcopy(POLICY)
    shuffled["Statement"].reverse()
    shuffled["Statement"][1]["Action"].reverse()
    shuffled["Statement"][1]["Resource"].reverse()
    assert same("aws_iam_policy", {"policy": doc(POLICY)}, {"policy": doc(shuffled)})


def test_policy_single_statement_object_equals_list() -> None:
    one = {"Version": "2012-10-17", "Statement": POLICY["Statement"][1]}
    listed = {"Version": "2012-10-17", "Statement": [POLICY["Statement"][1]]}
    assert same("aws_iam_policy", {"policy": doc(one)}, {"policy": doc(listed)})


def test_policy_version_default() -> None:
    without = {"Statement": POLICY["Statement"]}
    explicit = {"Version": "2008-10-17", "Statement": POLICY["Statement"]}
    assert same("aws_iam_policy", {"policy": doc(without)}, {"policy": doc(explicit)})
    assert not same("aws_iam_policy", {"policy": doc(without)}, {"policy": doc(POLICY)})


def test_principal_and_condition_values() -> None:
    a: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "ecs-tasks.amazonaws.com", "AWS": ["arn:b", "arn:a"]},
                "Condition": {"StringEquals": {"aws:SourceAccount": "123"}},
            }
        ],
    }
    b = copy.deepcopy(a)
    b["Statement"][0]["Principal"] = {
        "AWS": ["arn:a", "arn:b"],
        "Service": ["ecs-tasks.amazonaws.com"],
    }
    b["Statement"][0]["Condition"] = {"StringEquals": {"aws:SourceAccount": ["123"]}}
    assert same("aws_iam_role", {"assume_role_policy": doc(a)}, {"assume_role_policy": doc(b)})
    c = copy.deepcopy(b)
    c["Statement"][0]["Principal"]["AWS"].append("arn:c")
    assert not same("aws_iam_role", {"assume_role_policy": doc(a)}, {"assume_role_policy": doc(c)})


def test_real_policy_changes_remain() -> None:
    wider = copy.deepcopy(POLICY)
    wider["Statement"][0]["Action"].append("s3:PutObject")
    assert not same("aws_iam_policy", {"policy": doc(POLICY)}, {"policy": doc(wider)})


def test_any_json_document_attribute_is_parsed() -> None:
    a = {"container_definitions": '[{"name": "web", "cpu": 256}]'}
    b = {"container_definitions": '[{"cpu":256,"name":"web"}]'}
    assert same("aws_ecs_task_definition", a, b)
    # Not a set: order inside a generic document matters.
    c = {"container_definitions": '[{"name": "a"}, {"name": "b"}]'}
    d = {"container_definitions": '[{"name": "b"}, {"name": "a"}]'}
    assert not same("aws_ecs_task_definition", c, d)


@pytest.mark.parametrize("text", ["{not json", "[1,", "plain", "(sensitive:0123456789abcdef)"])
def test_strings_that_are_not_documents_stay(text: str) -> None:
    assert normalize("aws_iam_policy", {"policy": text}) == {"policy": text}


# --- (b) sets ---------------------------------------------------------------------


def rule(port: int, *cidrs: str, description: str = "") -> dict[str, Any]:
    return {
        "cidr_blocks": list(cidrs),
        "description": description,
        "from_port": port,
        "ipv6_cidr_blocks": [],
        "prefix_list_ids": [],
        "protocol": "tcp",
        "security_groups": [],
        "self": False,
        "to_port": port,
    }


def test_security_group_rules_are_sets() -> None:
    a = {"ingress": [rule(80, "10.0.0.0/8", "10.1.0.0/16"), rule(443, "0.0.0.0/0")]}
    b = {"ingress": [rule(443, "0.0.0.0/0"), rule(80, "10.1.0.0/16", "10.0.0.0/8")]}
    assert same("aws_security_group", a, b)
    c = {
        "ingress": [
            rule(443, "0.0.0.0/0"),
            rule(22, "0.0.0.0/0"),
            rule(80, "10.0.0.0/8", "10.1.0.0/16"),
        ]
    }
    assert not same("aws_security_group", a, c)


def test_set_elements_are_sorted_canonically() -> None:
    out = normalize("aws_iam_role", {"managed_policy_arns": ["arn:b", "arn:a", "arn:b"]})
    assert out == {"managed_policy_arns": ["arn:a", "arn:b"]}


def test_empty_set_elements_vanish() -> None:
    # aws 3.39 reads an IAM role without inline policies as one empty element.
    a = {"inline_policy": [{"name": "", "policy": ""}]}
    assert normalize("aws_iam_role", a) is None
    assert same("aws_iam_role", a, {"inline_policy": []})


def test_ordered_lists_keep_their_order() -> None:
    a = {"lifecycle_rule": [{"id": "a"}, {"id": "b"}]}
    b = {"lifecycle_rule": [{"id": "b"}, {"id": "a"}]}
    assert not same("aws_s3_bucket", a, b)
    # A list type that the tables do not know is ordered.
    assert not same("aws_unknown_thing", {"items": [1, 2]}, {"items": [2, 1]})


def test_is_set_attribute() -> None:
    assert is_set_attribute("aws_security_group", ("ingress",))
    assert is_set_attribute("aws_security_group", ("egress", 3, "cidr_blocks"))
    assert not is_set_attribute("aws_security_group", ("ingress", 0, "description"))
    assert not is_set_attribute("aws_security_group", ("tags",))
    assert is_set_attribute("aws_iam_role", ("managed_policy_arns",))
    assert is_set_attribute("aws_iam_role", ("inline_policy",))
    assert is_set_attribute("aws_s3_bucket", ("grant",))
    assert not is_set_attribute("aws_s3_bucket", ("lifecycle_rule",))
    assert not is_set_attribute("aws_iam_role", ("ingress",))
    # Inside IAM policy documents.
    assert is_set_attribute("aws_iam_policy", ("policy", "Statement"))
    assert is_set_attribute("aws_iam_policy", ("policy", "Statement", 0, "Action"))
    assert is_set_attribute("aws_iam_policy", ("policy", "Statement", 1, "NotResource"))
    assert is_set_attribute(
        "aws_iam_role", ("assume_role_policy", "Statement", 0, "Principal", "AWS")
    )
    assert is_set_attribute(
        "aws_s3_bucket_policy", ("policy", "Statement", 0, "Condition", "StringEquals", "aws:x")
    )
    assert not is_set_attribute("aws_iam_policy", ("policy", "Statement", 0, "Effect"))
    assert is_set_attribute("aws_iam_role", ("inline_policy", 0, "policy", "Statement"))


def test_set_root() -> None:
    assert set_root("aws_security_group", ("ingress", 2, "cidr_blocks", 0)) == ("ingress",)
    assert set_root("aws_security_group", ("tags", "Name")) is None
    assert set_root("aws_iam_policy", ("policy", "Statement", 0, "Action", 1)) == (
        "policy",
        "Statement",
    )


# --- (c) empty --------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, {}, [], ""])
def test_all_empties_are_equal(empty: Any) -> None:
    others: tuple[Any, ...] = (None, {}, [], "")
    for other in others:
        assert same("aws_iam_policy", {"tags": empty}, {"tags": other})
    assert same("aws_iam_policy", {"tags": empty}, {})


def test_nested_empties() -> None:
    assert normalize("aws_thing", {"a": {"b": [{"c": ""}], "d": None}}) is None
    assert normalize("aws_thing", {"a": {"b": [{"c": "x"}], "d": None}}) == {
        "a": {"b": [{"c": "x"}]}
    }


def test_false_and_zero_are_not_empty() -> None:
    assert normalize("aws_thing", {"flag": False, "count": 0}) == {"flag": False, "count": 0}
    assert not same("aws_thing", {"flag": False}, {"flag": None})


def test_integral_floats_are_ints() -> None:
    assert normalize("aws_thing", {"n": 3600.0}) == {"n": 3600}
    assert normalize("aws_thing", {"n": 1.5}) == {"n": 1.5}


# --- (d) provider defaults ---------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "attribute", "default"),
    [
        ("aws_iam_role", "path", "/"),
        ("aws_iam_role", "max_session_duration", 3600),
        ("aws_iam_role", "force_detach_policies", False),
        ("aws_s3_bucket", "force_destroy", False),
        ("aws_s3_bucket", "acl", "private"),
        ("aws_security_group", "revoke_rules_on_delete", False),
    ],
)
def test_default_equals_absent(type_name: str, attribute: str, default: Any) -> None:
    assert same(type_name, {attribute: default}, {})
    assert same(type_name, {attribute: default}, {attribute: None})
    assert default_for(type_name, (attribute,)) == default


def test_non_default_values_remain() -> None:
    assert not same("aws_iam_role", {"path": "/service/"}, {})
    assert not same("aws_iam_role", {"max_session_duration": 7200}, {})
    assert not same("aws_iam_role", {"force_detach_policies": True}, {})
    # A default of another type is not the default.
    assert not same("aws_iam_role", {"max_session_duration": "3600"}, {})
    # Defaults belong to their type.
    assert not same("aws_iam_user", {"max_session_duration": 3600}, {})


def test_nested_defaults() -> None:
    read = {"versioning": [{"enabled": False, "mfa_delete": False}]}
    assert same("aws_s3_bucket", read, {"versioning": []})
    assert not same("aws_s3_bucket", {"versioning": [{"enabled": True, "mfa_delete": False}]}, read)
    assert default_for("aws_security_group", ("ingress", 4, "self")) is False


# --- the captured fixtures ------------------------------------------------------------


def test_iam_read_noise_of_the_sandbox_vanishes() -> None:
    plan = json.loads((FIXTURES / "clean/prod-iam.plan.json").read_text())
    [drift] = [d for d in plan["resource_drift"] if d["type"] == "aws_iam_policy"]
    before, after = drift["change"]["before"], drift["change"]["after"]
    assert before != after
    assert same(drift["type"], before, after)


@pytest.mark.parametrize("scenario", ["sg-open-ssh", "bucket-tag", "role-policy-attached"])
def test_real_drift_of_the_sandbox_remains(scenario: str) -> None:
    [path] = (FIXTURES / scenario).glob("*.refresh-only.plan.json")
    plan = json.loads(path.read_text())
    real = [
        d
        for d in plan["resource_drift"]
        if not same(d["type"], d["change"]["before"], d["change"]["after"])
    ]
    assert len(real) == 1


def test_input_is_not_modified() -> None:
    value = {"policy": doc(POLICY), "ingress": [rule(443, "b", "a"), rule(80, "c")], "tags": {}}
    before = copy.deepcopy(value)
    normalize("aws_security_group", value)
    assert value == before


JSONISH = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.sampled_from(["", "a", "/", "private", '{"Statement": {"Action": "s3:*"}}', "[1, 2]"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(["ingress", "cidr_blocks", "path", "tags", "policy", "x"]),
            children,
            max_size=3,
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    value=JSONISH,
    type_name=st.sampled_from(["aws_security_group", "aws_iam_role", "aws_s3_bucket"]),
)
def test_normalize_is_idempotent(value: Any, type_name: str) -> None:
    once = normalize(type_name, value)
    assert canonical_json(normalize(type_name, once)) == canonical_json(once)
