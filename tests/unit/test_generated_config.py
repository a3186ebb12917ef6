"""core/reconcile/generated.py on what Terraform 1.15 and OpenTofu 1.6 really generate.

The fixtures under tests/fixtures/generated/ are `plan -generate-config-out` output for
objects made by hand on the sandbox, with the real aws provider 3.39.0
(scripts/capture_generated_config.py). ``terraform-aws-3.39.0.cleaned.tf`` is the
reviewed result of the rules; that an import of it applies and leaves a clean next
plan is tests/integration/test_engine_repair.py's part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest

from iacdrift.core.reconcile.generated import DERIVED_ATTRIBUTES, clean_generated_config

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "generated"
TERRAFORM = FIXTURES / "terraform-aws-3.39.0.tf"
OPENTOFU = FIXTURES / "opentofu-aws-3.39.0.tf"
CLEANED = FIXTURES / "terraform-aws-3.39.0.cleaned.tf"
BLOCK = "__is_block__"
# What python-hcl2 adds to a body that holds comments (rule 6 writes one).
COMMENTS = "__comments__"


def resources(text: str) -> dict[str, dict[str, Any]]:
    """{"type.name": body} as python-hcl2 reads the text."""
    found: dict[str, dict[str, Any]] = {}
    for entry in hcl2.loads(text)["resource"]:
        for rtype, named in entry.items():
            for name, body in named.items():
                found[f"{rtype.strip(chr(34))}.{name.strip(chr(34))}"] = body
    return found


def is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get(BLOCK) for v in value)
    )


def dropped_rightly(name: str, value: Any, address: str) -> bool:
    rtype = address.split(".")[0]
    return (
        value is None  # rule 1
        or value in ({}, [])  # rule 4
        or name == "tags_all"  # rule 2
        or name in DERIVED_ATTRIBUTES.get(rtype, frozenset())  # rule 3
    )


def assert_subset(raw: dict[str, Any], clean: dict[str, Any], address: str) -> None:
    """Every kept attribute as generated; every missing one dropped by a rule."""
    for name, value in raw.items():
        if name == BLOCK:
            continue
        if name not in clean:
            if is_block(value):  # rule 5: every instance was left empty
                for instance in value:
                    assert all(
                        dropped_rightly(k, v, address) for k, v in instance.items() if k != BLOCK
                    ), (address, name)
                continue
            assert dropped_rightly(name, value, address), (address, name, value)
        elif is_block(value):
            assert len(clean[name]) == len(value), (address, name)
            for before, after in zip(value, clean[name], strict=True):
                assert_subset(before, after, f"{address}.{name}")
        else:
            assert clean[name] == value, (address, name)


@pytest.mark.parametrize("fixture", [TERRAFORM, OPENTOFU], ids=["terraform", "opentofu"])
def test_every_kept_attribute_is_as_generated_and_every_dropped_one_by_a_rule(
    fixture: Path,
) -> None:
    raw_text = fixture.read_text(encoding="utf-8")
    raw, clean = resources(raw_text), resources(clean_generated_config(raw_text))
    assert sorted(clean) == sorted(raw)
    for address, body in raw.items():
        added = {"lifecycle"} if address == "aws_s3_bucket.publicacl" else set()
        assert set(clean[address]) - set(body) - {COMMENTS} == added, address
        assert_subset(body, clean[address], address)


def test_the_terraform_fixture_cleans_to_the_reviewed_text() -> None:
    cleaned = clean_generated_config(TERRAFORM.read_text(encoding="utf-8"))
    assert cleaned == CLEANED.read_text(encoding="utf-8")
    # And again changes nothing.
    assert clean_generated_config(cleaned) == cleaned


def test_what_goes_and_what_stays() -> None:
    raw = resources(TERRAFORM.read_text(encoding="utf-8"))
    clean = resources(CLEANED.read_text(encoding="utf-8"))
    bucket = clean["aws_s3_bucket.tags"]
    # Rule 1 (null), 2 (tags_all), 3 (derived): gone; tags and zero values stay.
    assert raw["aws_s3_bucket.tags"]["acl"] is None and "acl" not in bucket
    assert "tags_all" in raw["aws_s3_bucket.tags"] and "tags_all" not in bucket
    assert {"arn", "hosted_zone_id"} <= set(raw["aws_s3_bucket.tags"]) - set(bucket)
    assert bucket["tags"] == {"env": '"prod"', "team": '"data"'}
    assert bucket["versioning"] == [{"enabled": False, "mfa_delete": False, BLOCK: True}]
    # Rule 4 outside values only: an object inside `egress = [{...}]` keeps its `[]`s
    # (every attribute of that object type is required).
    group = clean["aws_security_group.web"]
    assert group["egress"][0]["ipv6_cidr_blocks"] == []
    assert "revoke_rules_on_delete" not in group
    # Rule 5: a block left empty goes.
    assert "timeouts" in raw["aws_security_group.web"] and "timeouts" not in group
    assert "inline_policy" in raw["aws_iam_role.role"]
    assert "inline_policy" not in clean["aws_iam_role.role"]
    assert "managed_policy_arns" not in clean["aws_iam_role.role"]
    # Rule 6: only the bucket with grants.
    assert clean["aws_s3_bucket.publicacl"]["lifecycle"] == [
        {"ignore_changes": ["acl", "force_destroy"], BLOCK: True}
    ]
    assert [a for a, body in clean.items() if "lifecycle" in body] == ["aws_s3_bucket.publicacl"]


def test_derived_attributes_are_the_callers_to_choose() -> None:
    text = TERRAFORM.read_text(encoding="utf-8")
    kept = resources(clean_generated_config(text, derived={}))
    assert kept["aws_s3_bucket.tags"]["arn"] == '"arn:aws:s3:::gen-tags"'
    more = resources(clean_generated_config(text, derived={"aws_iam_role": frozenset({"path"})}))
    assert "path" not in more["aws_iam_role.role"]
    assert "path" in more["aws_iam_policy.policy"]


def test_heredocs_one_line_blocks_comments_and_other_blocks_are_kept() -> None:
    text = (
        "# a comment\n"
        "locals {\n  x = null\n}\n\n"
        'resource "aws_iam_policy" "p" {\n'
        "  // why\n"
        "  description = null\n"
        "  policy      = <<EOT\n"
        '{"a": [], "b": null}\n'
        "   }\n"
        "EOT\n"
        '  name = "p" # trailing { comment\n'
        "  timeouts {}\n"
        '  tags = { "a}" = "b{" }\n'
        "}\n"
    )
    assert clean_generated_config(text) == (
        "# a comment\n"
        "locals {\n  x = null\n}\n\n"
        'resource "aws_iam_policy" "p" {\n'
        "  // why\n"
        "  policy = <<EOT\n"
        '{"a": [], "b": null}\n'
        "   }\n"
        "EOT\n"
        '  name = "p" # trailing { comment\n'
        '  tags = { "a}" = "b{" }\n'
        "}\n"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('resource "a" "b" {\n  x = 1\n', "ends inside a block"),
        ("}\n", "closing brace"),
        ('resource "a" "b" {\n  x = [1,\n}\n', "never closes"),
        ('resource "a" "b" {\n  x = <<EOT\nno end\n}\n', "heredoc"),
        ('resource "a" "b" {\n  x = "open\n}\n', "string"),
        ("what is this\n", "not generated configuration"),
    ],
)
def test_text_that_is_not_generated_configuration_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clean_generated_config(text)
