"""Field-level differences: RFC 6901 pointers, sets element by element, noise kept apart."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iacdrift.core.diff import diff_fields, pointer, related, value_at
from iacdrift.core.redact import marker
from iacdrift.models.finding import ChangedField


def fields(type_name: str, before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    real, _ = diff_fields(type_name, before, after)
    return [(f.pointer, f.before, f.after) for f in real]


def noise(type_name: str, before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    _, hidden = diff_fields(type_name, before, after)
    return [(f.pointer, f.before, f.after) for f in hidden]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((), ""),
        (("tags", "data-class"), "/tags/data-class"),
        (("a/b", "c~d"), "/a~1b/c~0d"),
        (("ingress", 0, "cidr_blocks", 1), "/ingress/0/cidr_blocks/1"),
        (("",), "/"),
    ],
)
def test_pointer(parts: tuple[str | int, ...], expected: str) -> None:
    assert pointer(parts) == expected


def test_value_at() -> None:
    value = {"a": [{"b": 1}]}
    assert value_at(value, ("a", 0, "b")) == 1
    assert value_at(value, ("a", 1, "b")) is None
    assert value_at(value, ("x",)) is None
    assert value_at(value, ()) == value


def test_objects_recurse_by_key() -> None:
    before = {"tags": {"a": "1", "b": "2"}, "name": "x"}
    after = {"tags": {"a": "1", "b": "3", "c": "4"}, "name": "x"}
    assert fields("aws_s3_bucket", before, after) == [
        ("/tags/b", "2", "3"),
        ("/tags/c", None, "4"),
    ]


def test_object_to_empty_is_leaf_level() -> None:
    assert fields("aws_s3_bucket", {"tags": {"a": "1"}}, {"tags": None}) == [("/tags/a", "1", None)]


def test_keys_with_slashes_and_tildes_are_escaped() -> None:
    assert fields("aws_s3_bucket", {"tags": {"k8s/app~x": "a"}}, {"tags": {"k8s/app~x": "b"}}) == [
        ("/tags/k8s~1app~0x", "a", "b")
    ]


def test_ordered_lists_recurse_by_index_and_grow_at_the_end() -> None:
    before = {"lifecycle_rule": [{"id": "a", "days": 30}]}
    after = {"lifecycle_rule": [{"id": "a", "days": 60}, {"id": "b", "days": 1}]}
    assert fields("aws_s3_bucket", before, after) == [
        ("/lifecycle_rule/0/days", 30, 60),
        ("/lifecycle_rule/1", None, {"days": 1, "id": "b"}),
    ]
    assert fields("aws_s3_bucket", after, before) == [
        ("/lifecycle_rule/0/days", 60, 30),
        ("/lifecycle_rule/1", {"days": 1, "id": "b"}, None),
    ]


def test_set_elements_added_and_removed_at_their_sorted_positions() -> None:
    before = {"managed_policy_arns": ["arn:c", "arn:a"]}
    after = {"managed_policy_arns": ["arn:b", "arn:a", "arn:d"]}
    assert fields("aws_iam_role", before, after) == [
        ("/managed_policy_arns/1", "arn:c", None),
        ("/managed_policy_arns/1", None, "arn:b"),
        ("/managed_policy_arns/2", None, "arn:d"),
    ]


def rule(port: int, description: str) -> dict[str, Any]:
    return {
        "cidr_blocks": ["0.0.0.0/0"],
        "description": description,
        "from_port": port,
        "ipv6_cidr_blocks": [],
        "protocol": "tcp",
        "self": False,
        "to_port": port,
    }


def test_changed_set_element_is_one_removal_and_one_addition() -> None:
    before = {"ingress": [rule(80, "http"), rule(443, "https")]}
    after = {"ingress": [rule(443, "https"), rule(80, "web")]}
    assert fields("aws_security_group", before, after) == [
        (
            "/ingress/0",
            {
                "cidr_blocks": ["0.0.0.0/0"],
                "description": "http",
                "from_port": 80,
                "protocol": "tcp",
                "to_port": 80,
            },
            None,
        ),
        (
            "/ingress/1",
            None,
            {
                "cidr_blocks": ["0.0.0.0/0"],
                "description": "web",
                "from_port": 80,
                "protocol": "tcp",
                "to_port": 80,
            },
        ),
    ]


def test_reordered_set_is_noise_only() -> None:
    before = {"ingress": [rule(80, "http"), rule(443, "https")]}
    after = {"ingress": [rule(443, "https"), rule(80, "http")]}
    real, hidden = diff_fields("aws_security_group", before, after)
    assert real == []
    assert hidden
    assert all(f.pointer.startswith("/ingress/") for f in hidden)


def test_policy_pointers_reach_inside_the_document() -> None:
    before = {
        "policy": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        )
    }
    after = {
        "policy": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}
                ],
            }
        )
    }
    real, hidden = diff_fields("aws_iam_policy", before, after)
    # Statement is a set: the changed statement is removed and re-added.
    assert [f.pointer for f in real] == ["/policy/Statement/0", "/policy/Statement/0"]
    assert real[0].after is None and real[0].before["Action"] == ["s3:GetObject"]
    assert real[1].before is None
    assert real[1].after["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert hidden == []  # the raw /policy change is related to the real ones


def test_iam_read_noise_is_reported_as_noise() -> None:
    # The sandbox IAM policy: tags null -> {} on read.
    real, hidden = diff_fields(
        "aws_iam_policy", {"tags": None, "name": "p"}, {"tags": {}, "name": "p"}
    )
    assert real == []
    assert hidden == [ChangedField(pointer="/tags", before=None, after={})]


def test_policy_whitespace_is_noise() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    before = {"policy": json.dumps(doc)}
    after = {"policy": json.dumps(doc, indent=2)}
    real, hidden = diff_fields("aws_iam_policy", before, after)
    assert real == []
    assert [(f.pointer, f.before, f.after) for f in hidden] == [
        ("/policy", before["policy"], after["policy"])
    ]


def test_noise_beside_a_real_change_is_kept_apart() -> None:
    before = {"tags": {"a": "1"}, "description": None, "path": "/"}
    after = {"tags": {"a": "2"}, "description": "", "path": None}
    assert fields("aws_iam_role", before, after) == [("/tags/a", "1", "2")]
    assert noise("aws_iam_role", before, after) == [
        ("/description", None, ""),
        ("/path", "/", None),
    ]


def test_defaults_are_shown_instead_of_null() -> None:
    assert fields("aws_iam_role", {"path": "/"}, {"path": "/admin/"}) == [("/path", "/", "/admin/")]
    assert fields("aws_iam_role", {}, {"max_session_duration": 7200}) == [
        ("/max_session_duration", 3600, 7200)
    ]


def test_bool_to_number_is_a_change() -> None:
    assert fields("aws_thing", {"x": True}, {"x": 1}) == [("/x", True, 1)]


def test_type_change_is_a_leaf() -> None:
    assert fields("aws_thing", {"x": {"a": 1}}, {"x": [1]}) == [("/x", {"a": 1}, [1])]
    assert fields("aws_thing", {"x": "s"}, {"x": {"a": 1}}) == [("/x", "s", {"a": 1})]


def test_whole_value_change_has_the_empty_pointer() -> None:
    m1, m2 = marker("a", salt=b"s"), marker("b", salt=b"s")
    real, _ = diff_fields("aws_thing", m1, m2)
    assert [(f.pointer, f.sensitive) for f in real] == [("", True)]


def test_sensitive_fields_are_flagged() -> None:
    m1, m2 = marker("old", salt=b"s"), marker("new", salt=b"s")
    real, _ = diff_fields(
        "aws_db_instance", {"password": m1, "port": 1}, {"password": m2, "port": 2}
    )
    assert [(f.pointer, f.sensitive) for f in real] == [("/password", True), ("/port", False)]
    # The same secret on both sides is no change at all.
    assert diff_fields("aws_db_instance", {"password": m1}, {"password": m1}) == ([], [])


def test_output_is_sorted_by_pointer() -> None:
    before = {"z": 1, "a": {"y": 1, "b": 1}, "m": [1, 2]}
    after = {"z": 2, "a": {"y": 2, "b": 2}, "m": [2, 1, 3]}
    real, _ = diff_fields("aws_thing", before, after)
    pointers = [f.pointer for f in real]
    assert pointers == sorted(pointers)
    assert pointers == ["/a/b", "/a/y", "/m/0", "/m/1", "/m/2", "/z"]


def test_identical_values_have_no_fields() -> None:
    value = {"a": [1, {"b": None}], "policy": '{"Statement": []}'}
    assert diff_fields("aws_iam_policy", value, json.loads(json.dumps(value))) == ([], [])


def test_related() -> None:
    assert related("aws_s3_bucket", ("tags",), ("tags", "a"))
    assert related("aws_s3_bucket", ("tags", "a"), ("tags", "a"))
    assert not related("aws_s3_bucket", ("tags", "a"), ("tags", "b"))
    assert related("aws_security_group", ("ingress", 0), ("ingress", 3, "description"))
    assert not related("aws_security_group", ("ingress", 0), ("egress", 0))
    assert related("aws_thing", (), ("anything",))
