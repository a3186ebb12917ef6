"""What a step's saved plan would do (iacdrift.core.reconcile.targeted), rule by rule.

The plans are dicts shaped like ``terraform show -json`` of a saved plan: only the
``resource_changes`` fields the module reads, plus some it must ignore.
"""

from __future__ import annotations

from typing import Any

from iacdrift.core.reconcile.targeted import (
    PlannedChange,
    expected_plan,
    out_of_bounds,
    plan_changes,
)


def _change(
    address: str,
    *actions: str,
    mode: str = "managed",
    previous_address: str | None = None,
    importing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    change: dict[str, Any] = {"actions": list(actions), "before": None, "after": None}
    if importing is not None:
        change["importing"] = importing
    item: dict[str, Any] = {
        "address": address,
        "mode": mode,
        "type": address.split(".")[-2],
        "name": address.split(".")[-1],
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": change,
    }
    if previous_address is not None:
        item["previous_address"] = previous_address
    return item


def _plan(*changes: dict[str, Any]) -> dict[str, Any]:
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.8",
        "resource_changes": list(changes),
        "resource_drift": [_change("aws_s3_bucket.drifted", "update")],
    }


# --- rule 1: what counts -------------------------------------------------------------------


def test_no_op_and_read_do_not_count() -> None:
    plan = _plan(
        _change("aws_s3_bucket.same", "no-op"),
        _change("aws_s3_bucket.deferred", "read"),
    )
    assert plan_changes(plan) == []


def test_data_sources_never_count_even_when_they_would_act() -> None:
    plan = _plan(
        _change("data.aws_iam_policy_document.p", "read", mode="data"),
        # A data source never creates; a plan saying so is still ignored (rule 1).
        _change("data.aws_caller_identity.me", "create", mode="data"),
        _change(
            "module.net.data.aws_vpc.main",
            "read",
            mode="data",
            previous_address="data.aws_vpc.main",
        ),
    )
    assert plan_changes(plan) == []


def test_resource_drift_is_not_a_change_of_the_plan() -> None:
    # Only resource_changes say what applying would do; resource_drift is what was seen.
    assert plan_changes(_plan()) == []


def test_a_plan_without_resource_changes_has_none() -> None:
    assert plan_changes({"format_version": "1.2"}) == []
    assert plan_changes({"resource_changes": None}) == []


def test_an_update_counts() -> None:
    assert plan_changes(_plan(_change("aws_s3_bucket.b", "update"))) == [
        PlannedChange("aws_s3_bucket.b", ("update",))
    ]


# --- rule 2: one PlannedChange each ---------------------------------------------------------


def test_a_move_alone_is_a_move_from_its_previous_address() -> None:
    plan = _plan(_change("aws_s3_bucket.new", "no-op", previous_address="aws_s3_bucket.old"))
    assert plan_changes(plan) == [
        PlannedChange("aws_s3_bucket.new", ("move",), previous_address="aws_s3_bucket.old")
    ]


def test_a_move_with_an_update_keeps_both() -> None:
    plan = _plan(_change("aws_s3_bucket.new", "update", previous_address="aws_s3_bucket.old"))
    assert plan_changes(plan) == [
        PlannedChange("aws_s3_bucket.new", ("move", "update"), previous_address="aws_s3_bucket.old")
    ]


def test_a_previous_address_equal_to_the_address_is_not_a_move() -> None:
    plan = _plan(_change("aws_s3_bucket.b", "no-op", previous_address="aws_s3_bucket.b"))
    assert plan_changes(plan) == []


def test_an_import_is_import_then_its_actions() -> None:
    plan = _plan(
        _change("aws_s3_bucket.quiet", "no-op", importing={"id": "bucket-quiet"}),
        _change("aws_s3_bucket.loud", "update", importing={"id": "bucket-loud"}),
    )
    assert plan_changes(plan) == [
        PlannedChange("aws_s3_bucket.loud", ("import", "update")),
        PlannedChange("aws_s3_bucket.quiet", ("import",)),
    ]


def test_forget_is_terraforms_removal_from_state() -> None:
    # A removed {} block with lifecycle { destroy = false } plans "forget" (Terraform 1.7+).
    plan = _plan(_change("aws_security_group.web", "forget"))
    assert plan_changes(plan) == [PlannedChange("aws_security_group.web", ("forget",))]


def test_a_replace_keeps_terraforms_order_of_actions() -> None:
    plan = _plan(
        _change("aws_instance.a", "delete", "create"),
        _change("aws_instance.b", "create", "delete"),  # create_before_destroy
    )
    assert plan_changes(plan) == [
        PlannedChange("aws_instance.a", ("delete", "create")),
        PlannedChange("aws_instance.b", ("create", "delete")),
    ]


def test_changes_are_sorted_by_address() -> None:
    plan = _plan(
        _change("module.z.aws_s3_bucket.b", "create"),
        _change("aws_s3_bucket.b", "delete"),
        _change('aws_s3_bucket.c["k"]', "update"),
    )
    assert [c.address for c in plan_changes(plan)] == [
        "aws_s3_bucket.b",
        'aws_s3_bucket.c["k"]',
        "module.z.aws_s3_bucket.b",
    ]


def test_unknown_fields_and_odd_items_are_ignored() -> None:
    # Lenient on Terraform's JSON: foreign fields ignored, non-string actions dropped.
    odd = _change("aws_s3_bucket.b", "update")
    odd["action_reason"] = "replace_because_cannot_update"
    odd["change"]["actions"].append(7)
    plan = {"resource_changes": ["not an object", odd], "planned_values": {}}
    assert plan_changes(plan) == [PlannedChange("aws_s3_bucket.b", ("update",))]


# --- rule 3: bounds --------------------------------------------------------------------------


def test_in_bounds_when_only_the_steps_addresses_change() -> None:
    changes = plan_changes(_plan(_change("aws_s3_bucket.b", "update")))
    assert out_of_bounds(changes, ["aws_s3_bucket.b"]) == []


def test_out_of_bounds_lists_every_other_address_sorted() -> None:
    changes = plan_changes(
        _plan(
            _change("aws_s3_bucket.b", "update"),
            _change("module.z.aws_iam_role.r", "delete", "create"),
            _change("aws_iam_policy.p", "create"),
            _change("aws_s3_bucket.untouched", "no-op"),
        )
    )
    assert out_of_bounds(changes, {"aws_s3_bucket.b"}) == [
        "aws_iam_policy.p",
        "module.z.aws_iam_role.r",
    ]


def test_a_move_touches_its_from_address_too() -> None:
    changes = plan_changes(
        _plan(_change("aws_s3_bucket.new", "no-op", previous_address="aws_s3_bucket.old"))
    )
    # A move step's addresses hold both ends: in bounds.
    assert out_of_bounds(changes, ["aws_s3_bucket.new", "aws_s3_bucket.old"]) == []
    # Allowed only where it goes: the from-address it takes the object from is touched.
    assert out_of_bounds(changes, ["aws_s3_bucket.new"]) == ["aws_s3_bucket.old"]
    # A plan moving something into an address the step owns, from one it does not own.
    assert out_of_bounds(changes, ["aws_s3_bucket.old"]) == ["aws_s3_bucket.new"]


def test_an_address_touched_twice_is_named_once() -> None:
    changes = [
        PlannedChange("aws_s3_bucket.x", ("update",)),
        PlannedChange("aws_s3_bucket.y", ("move",), previous_address="aws_s3_bucket.x"),
    ]
    assert out_of_bounds(changes, []) == ["aws_s3_bucket.x", "aws_s3_bucket.y"]


def test_quiet_and_data_addresses_are_never_out_of_bounds() -> None:
    changes = plan_changes(
        _plan(
            _change("aws_s3_bucket.b", "update"),
            _change("aws_s3_bucket.other", "no-op"),
            _change("data.aws_vpc.main", "read", mode="data"),
        )
    )
    assert out_of_bounds(changes, ["aws_s3_bucket.b"]) == []


# --- rule 4: the expected plan ---------------------------------------------------------------


def test_expected_plan_lines() -> None:
    changes = plan_changes(
        _plan(
            _change("aws_s3_bucket.new", "update", previous_address="aws_s3_bucket.old"),
            _change("aws_instance.a", "delete", "create"),
            _change("aws_s3_bucket.imp", "no-op", importing={"id": "imp"}),
            _change("aws_security_group.web", "forget"),
        )
    )
    assert expected_plan(changes) == [
        "aws_instance.a: delete, create",
        "aws_s3_bucket.imp: import",
        "aws_s3_bucket.new: move, update (from aws_s3_bucket.old)",
        "aws_security_group.web: forget",
    ]


def test_expected_plan_sorts_what_it_is_given() -> None:
    changes = [PlannedChange("b.x", ("update",)), PlannedChange("a.x", ("create",))]
    assert expected_plan(changes) == ["a.x: create", "b.x: update"]


def test_expected_plan_of_nothing_says_no_changes() -> None:
    assert expected_plan([]) == ["no changes"]
    assert expected_plan(plan_changes(_plan(_change("aws_s3_bucket.b", "no-op")))) == ["no changes"]


def test_a_redacted_plan_keeps_changes_and_hides_secrets_and_variables() -> None:
    from iacdrift.core.reconcile.targeted import redacted_plan

    plan = {
        "format_version": "1.2",
        "terraform_version": "1.15.5",
        "variables": {"ledger_api_token": {"value": "s3cr3t-token"}},
        "prior_state": {"values": {"outputs": {"x": {"value": "s3cr3t-token"}}}},
        "resource_changes": [
            {
                "address": "aws_secretsmanager_secret_version.v",
                "mode": "managed",
                "type": "aws_secretsmanager_secret_version",
                "change": {
                    "actions": ["update"],
                    "before": {"secret_string": "old-s3cr3t", "version_stages": ["AWSCURRENT"]},
                    "after": {"secret_string": "new-s3cr3t", "version_stages": ["AWSCURRENT"]},
                    "before_sensitive": {"secret_string": True},
                    "after_sensitive": {"secret_string": True},
                },
            }
        ],
    }
    out = redacted_plan(plan, salt=b"salt")
    text = repr(out)
    assert "s3cr3t" not in text
    assert set(out) == {"format_version", "terraform_version", "resource_changes", "resource_drift"}
    (change,) = out["resource_changes"]
    assert change["actions"] == ["update"]
    assert change["after"]["version_stages"] == ["AWSCURRENT"]
    assert str(change["after"]["secret_string"]).startswith("(sensitive:")
