"""Redaction: Terraform's masks honoured, fingerprints stable and salted, fail closed."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iacdrift.core.redact import (
    SENSITIVE_MARKER_PREFIX,
    contains_marker,
    fingerprint,
    is_marker,
    marker,
    redact,
)
from iacdrift.core.resource_types import ALWAYS_SECRET

SALT = b"test-salt"
MARKER = re.compile(r"^\(sensitive:[0-9a-f]{16}\)$")


def r(value: Any, mask: Any, type_name: str = "aws_thing") -> Any:
    return redact(value, mask, salt=SALT, type_name=type_name)


def test_marker_shape_and_fingerprint() -> None:
    m = marker("hunter2", salt=SALT)
    assert MARKER.match(m)
    assert m.startswith(SENSITIVE_MARKER_PREFIX)
    assert is_marker(m)
    expected = hmac.new(SALT, b'"hunter2"', hashlib.sha256).hexdigest()[:16]
    assert m == f"(sensitive:{expected})"
    assert fingerprint("hunter2", salt=SALT) == expected


def test_fingerprints_are_stable_distinct_and_salted() -> None:
    assert marker("a", salt=SALT) == marker("a", salt=SALT)
    assert marker("a", salt=SALT) != marker("b", salt=SALT)
    assert marker("a", salt=SALT) != marker("a", salt=b"other-salt")
    # Canonical JSON: key order does not change the fingerprint.
    assert marker({"x": 1, "y": 2}, salt=SALT) == marker({"y": 2, "x": 1}, salt=SALT)
    # The type is part of the value.
    assert marker(1, salt=SALT) != marker("1", salt=SALT)


@pytest.mark.parametrize(
    "text", ["hunter2", "(sensitive:)", "(sensitive:xyz)", "(sensitive:0123456789abcdef", ""]
)
def test_is_marker_rejects_look_alikes(text: str) -> None:
    assert not is_marker(text)


def test_is_marker_rejects_non_strings() -> None:
    assert not is_marker(None)
    assert not is_marker(["(sensitive:0123456789abcdef)"])


def test_masks_as_terraform_writes_them() -> None:
    value = {
        "name": "app",
        "password": "hunter2",
        "tags": {"env": "prod", "token": "abc"},
        "rules": [{"cidr": "10.0.0.0/8", "key": "k1"}, {"cidr": "0.0.0.0/0", "key": "k2"}],
        "list": ["a", "b"],
        "empty": [],
        "nothing": None,
    }
    mask = {
        "password": True,
        "tags": {"token": True},
        "rules": [{"key": True}, {}],
        "list": [False, True],
        "empty": [],
    }
    out = r(value, mask)
    assert out["name"] == "app"
    assert is_marker(out["password"])
    assert out["tags"]["env"] == "prod"
    assert is_marker(out["tags"]["token"])
    assert out["rules"][0]["cidr"] == "10.0.0.0/8"
    assert is_marker(out["rules"][0]["key"])
    assert out["rules"][1] == {"cidr": "0.0.0.0/0", "key": "k2"}
    assert out["list"][0] == "a"
    assert is_marker(out["list"][1])
    assert out["empty"] == []
    assert out["nothing"] is None
    assert "hunter2" not in json.dumps(out)


def test_true_at_the_top_redacts_everything() -> None:
    assert is_marker(r({"a": 1}, True))


def test_null_stays_null_even_when_sensitive() -> None:
    assert r(None, True) is None
    assert r({"password": None}, {"password": True}) == {"password": None}


def test_false_means_not_sensitive() -> None:
    assert r({"a": {"b": "c"}}, False) == {"a": {"b": "c"}}
    assert r({"a": {"b": "c"}}, {"a": False}) == {"a": {"b": "c"}}


def test_input_is_not_modified() -> None:
    value = {"a": {"b": "secret"}, "c": ["x"]}
    before = copy.deepcopy(value)
    r(value, {"a": {"b": True}, "c": [True]})
    assert value == before


def test_captured_masks_keep_everything_visible() -> None:
    # Real shape from the bucket-tag fixture: nothing sensitive.
    value = {"tags": {"data-class": "public"}, "versioning": [{"enabled": False}], "grant": []}
    mask: dict[str, Any] = {"tags": {}, "versioning": [{}], "grant": []}
    assert r(value, mask, "aws_s3_bucket") == value


# --- fail closed ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "mask"),
    [
        ({"a": "secret"}, ["a"]),  # list mask over an object
        (["secret"], {"0": True}),  # object mask over a list
        (["secret", "x"], [False]),  # list mask of the wrong length
        ("secret", {}),  # object mask over a string
        ("secret", []),  # list mask over a string
        ("secret", "false"),  # a string leaf
        ("secret", 0),  # a number leaf
        ("secret", None),  # no mask at all
        ({"a": "secret"}, None),  # no mask for a whole resource
    ],
)
def test_wrong_mask_redacts_the_value_it_covers(value: Any, mask: Any) -> None:
    out = r(value, mask)
    assert is_marker(out)
    assert "secret" not in json.dumps(out)


def test_wrong_mask_deep_down_redacts_only_that_subtree() -> None:
    value = {"visible": "ok", "nested": {"items": ["s1", "s2"]}}
    out = r(value, {"nested": {"items": [False]}})
    assert out["visible"] == "ok"
    assert is_marker(out["nested"]["items"])
    out = r(value, {"nested": None})
    assert out["visible"] == "ok"
    assert is_marker(out["nested"])


def test_null_value_without_mask_is_null() -> None:
    assert r(None, None) is None


def test_empty_salt_is_refused() -> None:
    with pytest.raises(ValueError, match="salt"):
        redact("x", True, salt=b"", type_name="aws_thing")


# --- always secret, whatever the mask says ----------------------------------------

ALWAYS = sorted((t, a) for t, attrs in ALWAYS_SECRET.items() for a in attrs)
REQUIRED = [
    ("aws_secretsmanager_secret_version", "secret_string"),
    ("aws_secretsmanager_secret_version", "secret_binary"),
    ("aws_db_instance", "password"),
    ("aws_rds_cluster", "master_password"),
    ("aws_iam_access_key", "secret"),
    ("aws_iam_access_key", "ses_smtp_password_v4"),
    ("aws_iam_user_login_profile", "password"),
    ("aws_ssm_parameter", "value"),
    ("aws_kms_ciphertext", "plaintext"),
    ("aws_lambda_function", "environment"),
]


def test_always_secret_table_covers_the_required_attributes() -> None:
    assert set(REQUIRED) <= set(ALWAYS)


@pytest.mark.parametrize(("type_name", "attribute"), ALWAYS)
@pytest.mark.parametrize("mask", [False, {}, {"other": True}, None])
def test_always_secret_even_if_the_mask_says_no(type_name: str, attribute: str, mask: Any) -> None:
    value = {attribute: "leaked-if-you-see-me", "id": "visible-id"}
    out = r(value, mask, type_name)
    assert "leaked-if-you-see-me" not in json.dumps(out)
    if mask is not None:  # no mask at all redacts the whole resource instead
        assert is_marker(out[attribute])
        assert out["id"] == "visible-id"


def test_always_secret_with_a_path() -> None:
    assert is_marker(redact("x", False, salt=SALT, type_name="aws_ssm_parameter", path=("value",)))
    assert redact("x", False, salt=SALT, type_name="aws_ssm_parameter", path=("name",)) == "x"


def test_always_secret_only_at_the_top_level() -> None:
    value = {"tags": {"value": "public"}}
    assert r(value, {"tags": {}}, "aws_ssm_parameter") == value


def test_contains_marker() -> None:
    m = marker("x", salt=SALT)
    assert contains_marker({"a": [1, {"b": m}]})
    assert not contains_marker({"a": [1, {"b": "x"}]})


# --- property: a planted secret never survives ---------------------------------------

SECRET = st.text(alphabet="§¶SECRETxyz", min_size=6, max_size=20).map(lambda s: "§" + s)
PLAIN = st.text(alphabet="abcdefghij0123456789 -_", max_size=12)
KEYS = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)


@st.composite
def planted(draw: st.DrawFn, depth: int = 0) -> tuple[Any, Any, bool]:
    """(value, mask, holds_secret): secrets only where the mask cannot be trusted
    or says sensitive; elsewhere plain values under a well-formed mask."""
    kind = draw(
        st.sampled_from(
            ["plain", "secret", "wrong"]
            if depth >= 3
            else ["plain", "secret", "wrong", "dict", "list"]
        )
    )
    value: Any
    if kind == "plain":
        value = draw(st.one_of(PLAIN, st.integers(), st.booleans(), st.none()))
        return value, draw(st.sampled_from([False, None])) if value is None else False, False
    if kind == "secret":
        return draw(st.one_of(SECRET, st.lists(SECRET, min_size=1, max_size=3))), True, True
    if kind == "wrong":
        secret = draw(st.one_of(SECRET, st.dictionaries(KEYS, SECRET, min_size=1, max_size=3)))
        bad_mask = draw(
            st.sampled_from(
                [None, "true", 1, ["x"], {"k": True}]
                if isinstance(secret, str)
                else [None, "true", 1, [True]]
            )
        )
        return secret, bad_mask, True
    if kind == "dict":
        items = draw(st.dictionaries(KEYS, planted(depth + 1), max_size=4))
        value = {k: v for k, (v, _, _) in items.items()}
        mask = {k: m for k, (_, m, _) in items.items() if m is not False}
        return value, mask, any(s for _, _, s in items.values())
    items_list = draw(st.lists(planted(depth + 1), max_size=4))
    return (
        [v for v, _, _ in items_list],
        [m for _, m, _ in items_list],
        any(s for _, _, s in items_list),
    )


@settings(max_examples=300, deadline=None)
@given(case=planted(), salt=st.binary(min_size=1, max_size=16))
def test_no_planted_secret_survives(case: tuple[Any, Any, bool], salt: bytes) -> None:
    value, mask, _ = case
    out = redact(value, mask, salt=salt, type_name="aws_thing")
    text = json.dumps(out, ensure_ascii=False)
    assert "§" not in text


@settings(max_examples=200, deadline=None)
@given(secret=SECRET, mask=st.sampled_from([False, {}, None, {"secret_string": False}]))
def test_no_always_secret_survives(secret: str, mask: Any) -> None:
    value = {"secret_string": secret, "version_id": "v1"}
    out = redact(value, mask, salt=SALT, type_name="aws_secretsmanager_secret_version")
    assert secret not in json.dumps(out, ensure_ascii=False)
    assert "§" not in json.dumps(out, ensure_ascii=False)
