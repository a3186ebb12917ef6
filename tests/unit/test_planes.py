"""The three-plane decision, on the captured sandbox plans and on plain data."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from iacdrift.core.planes import (
    EXISTS,
    UNKNOWN_VALUE,
    Divergence,
    analyze,
    drift_view,
    ignore_path,
)
from iacdrift.core.redact import is_marker
from iacdrift.core.terraform_json import PlanView, read_plan
from iacdrift.models.finding import Plane, Relationship

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "plans"
SALT = b"unit-test-salt"
R = Relationship


def fixture_plan(scenario: str, stack: str, *, refresh_only: bool = False) -> PlanView:
    suffix = ".refresh-only.plan.json" if refresh_only else ".plan.json"
    path = FIXTURES / scenario / f"{stack}{suffix}"
    return read_plan(json.loads(path.read_text()), path.name)


def run(plan: PlanView, **kwargs: Any) -> list[Divergence]:
    return analyze(plan, salt=SALT, **kwargs)


def summary(found: list[Divergence]) -> list[tuple[str, Relationship]]:
    return [(d.address, d.relationship) for d in found]


# --- the captured sandbox scenarios ----------------------------------------------------

CLEAN_STACKS = sorted(p.name.split(".")[0] for p in (FIXTURES / "clean").glob("*.state.json"))
IAM_NOISE = [("aws_iam_policy.ledger_read", R.NOISE_ONLY)]
# The reporting role's policies are attached by their own resources, applied after the
# role: the first refresh reads them into the role. The planes see recorded != actual;
# core.aggregates explains it (tests/unit/test_aggregates.py).
IAM_AGGREGATES = [("aws_iam_role.reporting", R.RECORDED_NE_ACTUAL)]


@pytest.mark.parametrize("stack", CLEAN_STACKS)
def test_clean_stacks_have_no_drift(stack: str) -> None:
    found = run(fixture_plan("clean", stack))
    assert summary(found) == ([*IAM_NOISE, *IAM_AGGREGATES] if stack == "prod-iam" else [])


def test_iam_read_noise_is_noise_only() -> None:
    noise, _ = run(fixture_plan("clean", "prod-iam"))
    assert noise.relationship is R.NOISE_ONLY
    assert noise.also_true == ()
    assert noise.changed_fields == ()
    assert [(f.pointer, f.before, f.after) for f in noise.noise_fields] == [("/tags", None, {})]
    assert (noise.before_plane, noise.after_plane) == (Plane.RECORDED, Plane.ACTUAL)
    assert noise.drift_actions == ("update",)
    assert noise.planned_actions == ("no-op",)
    assert noise.resource_id == "arn:aws:iam::123456789012:policy/prod-ledger-read"


def test_sg_open_ssh_is_out_of_band() -> None:
    [sg] = run(fixture_plan("sg-open-ssh", "prod-network"))
    assert sg.address == 'module.tier["web"].aws_security_group.this'
    assert sg.relationship is R.OUT_OF_BAND
    assert sg.also_true == (R.DESIRED_NE_ACTUAL, R.RECORDED_NE_ACTUAL)
    assert (sg.before_plane, sg.after_plane) == (Plane.RECORDED, Plane.ACTUAL)
    assert sg.type == "aws_security_group"
    assert sg.module_address == 'module.tier["web"]'
    assert sg.resource_id == "sg-207dd0f8620c23663"
    assert sg.planned_actions == sg.drift_actions == ("update",)
    [field] = sg.changed_fields
    assert field.pointer == "/ingress/0"
    assert field.before is None
    assert field.after == {
        "cidr_blocks": ["0.0.0.0/0"],
        "description": "debug",
        "from_port": 22,
        "protocol": "tcp",
        "to_port": 22,
    }
    assert field.desired is None  # the plan removes the element
    assert field.sensitive is False
    assert sg.noise_fields == ()


def test_bucket_tag_is_out_of_band() -> None:
    [bucket] = run(fixture_plan("bucket-tag", "prod-payments"))
    assert bucket.address == 'module.bucket["receipts"].aws_s3_bucket.this'
    assert bucket.relationship is R.OUT_OF_BAND
    assert bucket.also_true == (R.DESIRED_NE_ACTUAL, R.RECORDED_NE_ACTUAL)
    assert [(f.pointer, f.before, f.after, f.desired) for f in bucket.changed_fields] == [
        ("/tags/data-class", "internal", "public", "internal"),
        ("/tags_all/data-class", "internal", "public", "internal"),
    ]
    assert bucket.resource_id == "iacdrift-demo-prod-receipts"


def test_resource_deleted_is_missing_in_actual() -> None:
    [bucket] = run(fixture_plan("resource-deleted", "prod-payments"))
    assert bucket.address == 'module.bucket["ledger"].aws_s3_bucket.this'
    assert bucket.relationship is R.MISSING_IN_ACTUAL
    assert bucket.also_true == (R.DESIRED_NE_ACTUAL,)  # the plan creates it again
    assert bucket.changed_fields == ()
    assert (bucket.before_plane, bucket.after_plane) == (Plane.RECORDED, Plane.ACTUAL)
    assert bucket.drift_actions == ("delete",)
    assert bucket.planned_actions == ("create",)
    assert bucket.resource_id == "iacdrift-demo-prod-ledger"


def test_role_policy_attached_is_out_of_band() -> None:
    found = run(fixture_plan("role-policy-attached", "prod-iam"))
    assert summary(found) == [*IAM_NOISE, ("aws_iam_role.service[0]", R.OUT_OF_BAND)]
    role = found[1]
    assert role.also_true == (R.DESIRED_NE_ACTUAL, R.RECORDED_NE_ACTUAL)
    assert [(f.pointer, f.before, f.after, f.desired) for f in role.changed_fields] == [
        ("/managed_policy_arns/1", None, "arn:aws:iam::aws:policy/AdministratorAccess", None)
    ]
    assert role.resource_id == "prod-payments-api"


SCENARIO_PLANS = sorted(
    (p.parent.name, p.name.split(".")[0])
    for p in FIXTURES.glob("*/*.plan.json")
    if not p.name.endswith(".refresh-only.plan.json")
)


@pytest.mark.parametrize(("scenario", "stack"), SCENARIO_PLANS)
def test_derived_drift_view_equals_the_refresh_only_plan(scenario: str, stack: str) -> None:
    normal = drift_view(fixture_plan(scenario, stack), salt=SALT)
    refresh_only = drift_view(fixture_plan(scenario, stack, refresh_only=True), salt=SALT)
    assert normal == refresh_only
    if scenario != "clean":
        assert normal  # the scenario did drift


def test_drift_view_contents() -> None:
    view = drift_view(fixture_plan("bucket-tag", "prod-payments"), salt=SALT)
    [(address, (action, fields))] = view.items()
    assert address == 'module.bucket["receipts"].aws_s3_bucket.this'
    assert action == "update"
    assert [f.pointer for f in fields] == ["/tags/data-class", "/tags_all/data-class"]
    deleted = drift_view(fixture_plan("resource-deleted", "prod-payments"), salt=SALT)
    assert deleted == {'module.bucket["ledger"].aws_s3_bucket.this': ("delete", ())}
    noise = drift_view(fixture_plan("clean", "prod-iam"), salt=SALT)
    assert noise["aws_iam_policy.ledger_read"] == ("update", ())
    assert [f.pointer for f in noise["aws_iam_role.reporting"][1]] == [
        "/inline_policy/0",
        "/managed_policy_arns/0",
    ]


def test_refresh_only_plan_alone_says_recorded_ne_actual() -> None:
    found = run(fixture_plan("bucket-tag", "prod-payments", refresh_only=True))
    assert summary(found) == [
        ('module.bucket["receipts"].aws_s3_bucket.this', R.RECORDED_NE_ACTUAL)
    ]
    assert all(f.desired is None for f in found[0].changed_fields)


# --- plain data ----------------------------------------------------------------------

ADDRESS = "aws_s3_bucket.b"
BASE: dict[str, Any] = {
    "id": "bucket-b",
    "bucket": "bucket-b",
    "acl": "private",
    "tags": {"owner": "team-a", "data-class": "internal"},
    "description": "",
}


def entry(
    actions: list[str],
    before: Any,
    after: Any,
    *,
    address: str = ADDRESS,
    type_name: str = "aws_s3_bucket",
    mode: str = "managed",
    **extra: Any,
) -> dict[str, Any]:
    change: dict[str, Any] = {
        "actions": actions,
        "before": before,
        "after": after,
        "before_sensitive": {} if before is not None else False,
        "after_sensitive": {} if after is not None else False,
        "after_unknown": {},
    }
    for key in ("importing", "after_unknown", "before_sensitive", "after_sensitive"):
        if key in extra:
            change[key] = extra.pop(key)
    found = {
        "address": address,
        "mode": mode,
        "type": type_name,
        "name": address.rsplit(".", 1)[-1].split("[")[0],
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": change,
    }
    found.update(extra)
    return found


def plan(drift: list[dict[str, Any]], changes: list[dict[str, Any]]) -> PlanView:
    return read_plan(
        {"format_version": "1.2", "resource_drift": drift, "resource_changes": changes}, "plan.json"
    )


def with_tags(**tags: str) -> dict[str, Any]:
    value = copy.deepcopy(BASE)
    value["tags"] = {**value["tags"], **tags}
    return value


RECORDED = with_tags()
ACTUAL = with_tags(**{"data-class": "public"})


def test_recorded_ne_actual_when_the_plan_leaves_the_field() -> None:
    # What Terraform plans when the configuration has ignore_changes = [tags]:
    # the drift is reported, the planned change is no-op.
    p = plan([entry(["update"], RECORDED, ACTUAL)], [entry(["no-op"], ACTUAL, ACTUAL)])
    [found] = run(p, ignore_changes={ADDRESS: frozenset({"tags"})})
    assert found.relationship is R.RECORDED_NE_ACTUAL
    assert found.also_true == ()
    assert [(f.pointer, f.before, f.after, f.desired) for f in found.changed_fields] == [
        ("/tags/data-class", "internal", "public", None)
    ]
    assert (found.before_plane, found.after_plane) == (Plane.RECORDED, Plane.ACTUAL)


def test_ignore_changes_discounts_a_planned_change_on_the_field() -> None:
    p = plan([entry(["update"], RECORDED, ACTUAL)], [entry(["update"], ACTUAL, RECORDED)])
    [reverted] = run(p)
    assert reverted.relationship is R.OUT_OF_BAND
    for ignore in ({"tags"}, {'tags["data-class"]'}, {"/tags/data-class"}, {"*"}, {"all"}):
        [found] = run(p, ignore_changes={ADDRESS: frozenset(ignore)})
        assert found.relationship is R.RECORDED_NE_ACTUAL, ignore
    # An entry that cannot be read discounts nothing.
    [found] = run(p, ignore_changes={ADDRESS: frozenset({"tags[", "tags"})})
    assert found.relationship is R.RECORDED_NE_ACTUAL
    [found] = run(p, ignore_changes={ADDRESS: frozenset({"tags["})})
    assert found.relationship is R.OUT_OF_BAND
    # Keyed by configuration address (no instance key), as loaders/stack_hcl.py reads it.
    counted = "aws_s3_bucket.b[0]"
    p = plan(
        [entry(["update"], RECORDED, ACTUAL, address=counted)],
        [entry(["update"], ACTUAL, RECORDED, address=counted)],
    )
    [found] = run(p, ignore_changes={ADDRESS: frozenset({"tags"})})
    assert found.relationship is R.RECORDED_NE_ACTUAL


def test_recorded_ne_actual_while_the_plan_changes_other_fields() -> None:
    desired = {**ACTUAL, "acl": "log-delivery-write"}
    p = plan([entry(["update"], RECORDED, ACTUAL)], [entry(["update"], ACTUAL, desired)])
    [found] = run(p)
    assert found.relationship is R.RECORDED_NE_ACTUAL
    assert found.also_true == (R.DESIRED_NE_ACTUAL, R.DESIRED_NE_RECORDED)
    assert [f.pointer for f in found.changed_fields] == ["/tags/data-class"]


def test_desired_ne_actual_when_the_plan_sets_something_else() -> None:
    desired = with_tags(**{"data-class": "restricted"})
    p = plan([entry(["update"], RECORDED, ACTUAL)], [entry(["update"], ACTUAL, desired)])
    [found] = run(p)
    assert found.relationship is R.DESIRED_NE_ACTUAL
    assert found.also_true == (R.RECORDED_NE_ACTUAL, R.DESIRED_NE_RECORDED)
    assert [(f.pointer, f.before, f.after, f.desired) for f in found.changed_fields] == [
        ("/tags/data-class", "internal", "public", "restricted")
    ]


def test_out_of_band_with_other_planned_changes_also_has_desired_ne_recorded() -> None:
    desired = {**RECORDED, "acl": "log-delivery-write"}
    p = plan([entry(["update"], RECORDED, ACTUAL)], [entry(["update"], ACTUAL, desired)])
    [found] = run(p)
    assert found.relationship is R.OUT_OF_BAND
    assert found.also_true == (R.DESIRED_NE_ACTUAL, R.RECORDED_NE_ACTUAL, R.DESIRED_NE_RECORDED)


def test_desired_ne_recorded_when_the_configuration_changed() -> None:
    desired = with_tags(release="2026-11")
    p = plan([], [entry(["update"], RECORDED, desired)])
    [found] = run(p)
    assert found.relationship is R.DESIRED_NE_RECORDED
    assert found.also_true == (R.DESIRED_NE_ACTUAL,)
    assert (found.before_plane, found.after_plane) == (Plane.RECORDED, Plane.DESIRED)
    assert [(f.pointer, f.before, f.after, f.desired) for f in found.changed_fields] == [
        ("/tags/release", None, "2026-11", "2026-11")
    ]
    assert found.planned_actions == ("update",)
    assert found.drift_actions == ()


def test_desired_ne_recorded_beside_read_noise() -> None:
    noisy = {**RECORDED, "description": None}
    desired = with_tags(release="2026-11")
    p = plan([entry(["update"], RECORDED, noisy)], [entry(["update"], noisy, desired)])
    [found] = run(p)
    assert found.relationship is R.DESIRED_NE_RECORDED
    # Both comparisons hid a difference: recorded -> actual, and actual -> desired.
    assert [(f.pointer, f.before, f.after) for f in found.noise_fields] == [
        ("/description", "", None),
        ("/description", None, ""),
    ]


def test_create_and_delete_are_one_whole_resource_field() -> None:
    p = plan(
        [],
        [
            entry(["create"], None, RECORDED, address="aws_s3_bucket.new"),
            entry(["delete"], RECORDED, None, address="aws_s3_bucket.old"),
        ],
    )
    created, deleted = run(p)
    assert created.relationship is deleted.relationship is R.DESIRED_NE_RECORDED
    assert [(f.pointer, f.before, f.after) for f in created.changed_fields] == [("", None, EXISTS)]
    assert [(f.pointer, f.before, f.after) for f in deleted.changed_fields] == [("", EXISTS, None)]
    assert created.also_true == deleted.also_true == (R.DESIRED_NE_ACTUAL,)


def test_replace_lists_fields_with_unknown_values() -> None:
    after = {k: v for k, v in RECORDED.items() if k != "id"}
    after["bucket"] = "bucket-c"
    p = plan(
        [],
        [
            entry(
                ["delete", "create"],
                RECORDED,
                after,
                after_unknown={"id": True},
                action_reason="replace_because_cannot_update",
            )
        ],
    )
    [found] = run(p)
    assert found.relationship is R.DESIRED_NE_RECORDED
    assert [(f.pointer, f.before, f.after, f.desired) for f in found.changed_fields] == [
        ("/bucket", "bucket-b", "bucket-c", "bucket-c"),
        ("/id", "bucket-b", UNKNOWN_VALUE, None),
    ]
    assert found.planned_actions == ("delete", "create")


def test_moved_only_is_not_a_divergence() -> None:
    p = plan([], [entry(["no-op"], RECORDED, RECORDED, previous_address="aws_s3_bucket.a")])
    assert run(p) == []


def test_moved_with_changes_is_desired_ne_recorded() -> None:
    desired = with_tags(release="x")
    p = plan([], [entry(["update"], RECORDED, desired, previous_address="aws_s3_bucket.a")])
    [found] = run(p)
    assert found.relationship is R.DESIRED_NE_RECORDED


def test_import_is_desired_ne_recorded() -> None:
    p = plan([], [entry(["no-op"], RECORDED, RECORDED, importing={"id": "bucket-b"})])
    [found] = run(p)
    assert found.relationship is R.DESIRED_NE_RECORDED
    assert found.also_true == ()  # nothing changes in the provider
    assert [(f.pointer, f.before, f.after) for f in found.changed_fields] == [("", None, EXISTS)]


def test_planned_update_that_is_only_noise() -> None:
    p = plan([], [entry(["update"], {**RECORDED, "tags": {}}, {**RECORDED, "tags": None})])
    [found] = run(p)
    assert found.relationship is R.NOISE_ONLY
    assert found.changed_fields == ()
    assert [f.pointer for f in found.noise_fields] == ["/tags"]


def test_planned_update_with_no_visible_difference_is_not_clean() -> None:
    p = plan([], [entry(["update"], RECORDED, RECORDED)])
    [found] = run(p)
    assert found.relationship is R.DESIRED_NE_RECORDED
    assert found.changed_fields == ()


def test_data_sources_are_skipped() -> None:
    p = plan(
        [entry(["update"], RECORDED, ACTUAL, address="data.aws_s3_bucket.b", mode="data")],
        [entry(["read"], None, ACTUAL, address="data.aws_s3_bucket.b", mode="data")],
    )
    assert run(p) == []


def test_deposed_object_to_destroy() -> None:
    p = plan([], [entry(["delete"], RECORDED, None, deposed="00000001")])
    [found] = run(p)
    assert found.relationship is R.DESIRED_NE_RECORDED
    assert [(f.pointer, f.before, f.after) for f in found.changed_fields] == [("", EXISTS, None)]


def test_missing_in_actual_without_a_planned_create() -> None:
    p = plan([entry(["delete"], RECORDED, None)], [])
    [found] = run(p)
    assert found.relationship is R.MISSING_IN_ACTUAL
    assert found.also_true == ()


def test_sensitive_values_are_fingerprints() -> None:
    recorded = {"id": "s-1", "secret_string": "hunter2-old", "version_stages": ["AWSCURRENT"]}
    actual = {**recorded, "secret_string": "hunter2-new"}
    masks: dict[str, Any] = {
        "before_sensitive": {"secret_string": True},
        "after_sensitive": {"secret_string": True},
    }
    address = "aws_secretsmanager_secret_version.v"
    kind = "aws_secretsmanager_secret_version"
    p = plan(
        [entry(["update"], recorded, actual, address=address, type_name=kind, **masks)],
        [entry(["update"], actual, recorded, address=address, type_name=kind, **masks)],
    )
    [found] = run(p)
    assert found.relationship is R.OUT_OF_BAND
    [field] = found.changed_fields
    assert field.pointer == "/secret_string"
    assert field.sensitive is True
    assert is_marker(field.before) and is_marker(field.after) and is_marker(field.desired)
    assert field.before != field.after
    assert field.desired == field.before
    assert "hunter2" not in repr(found)


def test_always_secret_attribute_with_a_false_mask() -> None:
    recorded = {"id": "p", "name": "/app/key", "type": "SecureString", "value": "plain-old"}
    actual = {**recorded, "value": "plain-new"}
    address, kind = "aws_ssm_parameter.p", "aws_ssm_parameter"
    p = plan([entry(["update"], recorded, actual, address=address, type_name=kind)], [])
    [found] = run(p)
    assert found.relationship is R.RECORDED_NE_ACTUAL
    assert found.changed_fields[0].sensitive is True
    assert "plain-" not in repr(found)


def test_missing_masks_fail_closed() -> None:
    p = plan([entry(["update"], RECORDED, ACTUAL, before_sensitive=None, after_sensitive=None)], [])
    [found] = run(p)
    [field] = found.changed_fields
    assert field.pointer == ""
    assert field.sensitive is True
    assert "public" not in repr(found)


def test_result_is_sorted_by_address() -> None:
    changes = [
        entry(["update"], RECORDED, with_tags(x=str(i)), address=f"aws_s3_bucket.b{i}")
        for i in (3, 1, 2)
    ]
    addresses = [d.address for d in run(plan([], changes))]
    assert addresses == sorted(addresses)


def test_deterministic() -> None:
    path = FIXTURES / "sg-open-ssh" / "prod-network.plan.json"
    first = analyze(read_plan(json.loads(path.read_text()), "a"), salt=SALT)
    second = analyze(read_plan(json.loads(path.read_text()), "a"), salt=SALT)
    assert first == second

    def dump(found: list[Divergence]) -> str:
        return json.dumps(
            [asdict(d) for d in found], sort_keys=True, default=lambda o: o.model_dump()
        )

    assert dump(first) == dump(second)
    secret_plan = plan(
        [entry(["update"], RECORDED, ACTUAL, before_sensitive=True, after_sensitive=True)], []
    )
    assert run(secret_plan) == run(secret_plan)


def test_salt_is_required() -> None:
    with pytest.raises(ValueError, match="salt"):
        analyze(plan([], []), salt=b"")
    with pytest.raises(ValueError, match="salt"):
        drift_view(plan([], []), salt=b"")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tags", ("tags",)),
        ('tags["data-class"]', ("tags", "data-class")),
        ("tags.owner", ("tags", "owner")),
        ("ingress[0].cidr_blocks", ("ingress", "0", "cidr_blocks")),
        ("/tags/a~1b", ("tags", "a/b")),
        ("all", ()),
        ("*", ()),
    ],
)
def test_ignore_path(text: str, expected: tuple[str, ...]) -> None:
    assert ignore_path(text) == expected


@pytest.mark.parametrize("text", ["", "tags[", ".tags", "tags..x", "tags[x]"])
def test_ignore_path_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="ignore_changes"):
        ignore_path(text)
