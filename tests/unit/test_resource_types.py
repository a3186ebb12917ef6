"""The resource-type catalogue agrees with itself: tables that name the same types or
attributes must not contradict each other (plain data)."""

from __future__ import annotations

import re

from iacdrift.core.resource_types import (
    ALWAYS_SECRET,
    CRITICAL_FIELDS,
    DOMAIN_PREFIXES,
    IDENTITY_ATTRIBUTES,
    SECRET_DATA_SOURCES,
    SECRET_RESOURCE_TYPES,
    SECRET_VALUE_ATTRIBUTES,
    SECRET_VERSION_ATTRIBUTES,
)
from iacdrift.core.risk import NEVER_AUTO_HEAL, domain_of
from iacdrift.models.finding import Domain
from iacdrift.primitives.pointer import pointer_segments

TYPE_NAME = re.compile(r"^aws_[a-z0-9]+(_[a-z0-9]+)*$")
ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")

# Types the catalogue knows something about that no domain prefix claims, so they fall
# to Domain.OTHER (LOW base risk, auto-heal not refused by domain). Listed so that a new
# one is a decision, not an accident; giving one a domain changes its risk and is a
# behaviour change of its own.
CRITICAL_TYPES_IN_OTHER = {
    "aws_cloudtrail",
    "aws_cloudwatch_event_target",
    "aws_ecr_repository",
    "aws_ecr_repository_policy",
    "aws_sns_topic",
    "aws_sqs_queue",
    "aws_ssm_association",
    "aws_ssm_document",
}


def test_every_name_is_an_aws_provider_name() -> None:
    types = set(CRITICAL_FIELDS) | set(ALWAYS_SECRET) | SECRET_RESOURCE_TYPES | SECRET_DATA_SOURCES
    assert sorted(t for t in types if not TYPE_NAME.match(t)) == []
    attributes = (
        {a for attrs in ALWAYS_SECRET.values() for a in attrs}
        | set(IDENTITY_ATTRIBUTES)
        | set(SECRET_VERSION_ATTRIBUTES)
        | SECRET_VALUE_ATTRIBUTES
    )
    assert sorted(a for a in attributes if not ATTRIBUTE_NAME.match(a)) == []


def test_no_domain_prefix_is_shadowed_by_an_earlier_one() -> None:
    # The first matching prefix wins: a prefix that starts with an earlier one is dead.
    dead = [
        (earlier, later)
        for index, (later, _) in enumerate(DOMAIN_PREFIXES)
        for earlier, _ in DOMAIN_PREFIXES[:index]
        if later.startswith(earlier)
    ]
    assert dead == []
    assert Domain.OTHER not in {domain for _, domain in DOMAIN_PREFIXES}  # it is the default


def test_critical_fields_are_top_level_pointers_with_a_domain() -> None:
    for resource_type, fields in CRITICAL_FIELDS.items():
        assert fields, resource_type
        for pointer in fields:
            assert len(pointer_segments(pointer)) == 1, (resource_type, pointer)
    unclaimed = {t for t in CRITICAL_FIELDS if domain_of(t) is Domain.OTHER}
    assert unclaimed == CRITICAL_TYPES_IN_OTHER


def test_types_holding_a_secret_have_a_domain() -> None:
    for resource_type, attributes in ALWAYS_SECRET.items():
        assert attributes, resource_type
    # A type that holds a secret at rest is never in the catch-all domain: its domain
    # decides its base risk and whether auto-heal may touch it.
    unclaimed = {t for t in ALWAYS_SECRET if domain_of(t) is Domain.OTHER}
    assert unclaimed == set()
    for database in ("aws_docdb_cluster", "aws_neptune_cluster", "aws_redshift_cluster"):
        assert domain_of(database) is Domain.DATABASE and Domain.DATABASE in NEVER_AUTO_HEAL


def test_secret_delivery_types_are_secrets_never_auto_healed() -> None:
    for resource_type in SECRET_RESOURCE_TYPES | SECRET_DATA_SOURCES:
        assert domain_of(resource_type) is Domain.SECRETS, resource_type
    assert Domain.SECRETS in NEVER_AUTO_HEAL


def test_a_rotation_changes_only_attributes_the_catalogue_expects() -> None:
    # A secret's always-redacted attributes are its value: they may change with a new
    # version without the rotation being judged on them.
    for resource_type in SECRET_RESOURCE_TYPES:
        assert resource_type in ALWAYS_SECRET, resource_type
        assert ALWAYS_SECRET[resource_type] <= SECRET_VALUE_ATTRIBUTES, resource_type
    # Versions are what a rotation is judged on: never hidden, never a value.
    versions = set(SECRET_VERSION_ATTRIBUTES)
    assert len(versions) == len(SECRET_VERSION_ATTRIBUTES)
    assert versions.isdisjoint(SECRET_VALUE_ATTRIBUTES)
    assert all(versions.isdisjoint(attrs) for attrs in ALWAYS_SECRET.values())


def test_identity_attributes_are_never_redacted() -> None:
    # Identity attributes name an object (and pair a destroy with a create): a table
    # that also calls one a secret contradicts it.
    for resource_type, attributes in ALWAYS_SECRET.items():
        assert attributes.isdisjoint(IDENTITY_ATTRIBUTES), resource_type
    assert len(set(IDENTITY_ATTRIBUTES)) == len(IDENTITY_ATTRIBUTES)
