"""Did the plan read the state we read (core/samestate.py)? Plain plan and state
documents in Terraform's JSON shapes."""

from __future__ import annotations

from typing import Any

from iacdrift.core.samestate import disagreements
from iacdrift.core.terraform_json import read_plan, read_state


def change(
    address: str,
    actions: list[str],
    before: dict[str, Any] | None,
    *,
    previous: str | None = None,
    importing: bool = False,
) -> dict[str, Any]:
    kind, name = address.split(".")[-2:]
    entry: dict[str, Any] = {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {
            "actions": actions,
            "before": before,
            "after": {"id": (before or {}).get("id")} if actions != ["delete"] else None,
            "after_unknown": {},
            "before_sensitive": {},
            "after_sensitive": {},
        },
    }
    if previous:
        entry["previous_address"] = previous
    if importing:
        entry["change"]["importing"] = {"id": "imported"}
    return entry


def plan(changes: list[dict[str, Any]], drift: list[dict[str, Any]] | None = None) -> Any:
    doc = {"format_version": "1.2", "resource_changes": changes, "resource_drift": drift or []}
    return read_plan(doc, "plan.json")


def state(**ids: str) -> Any:
    resources = []
    for address, rid in ids.items():
        kind, name = address.split("__")
        resources.append(
            {
                "mode": "managed",
                "type": kind,
                "name": name,
                "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
                "instances": [{"schema_version": 0, "attributes": {"id": rid}}],
            }
        )
    return read_state({"version": 4, "serial": 3, "lineage": "l", "resources": resources}, "s")


def test_the_same_state_agrees() -> None:
    view = plan(
        [
            change("aws_s3_bucket.logs", ["no-op"], {"id": "logs-1"}),
            change("aws_iam_role.app", ["update"], {"id": "app"}),
        ]
    )
    assert disagreements(view, state(aws_s3_bucket__logs="logs-1", aws_iam_role__app="app")) == []


def test_another_stacks_state_is_caught() -> None:
    # Same addresses (stacks generated from one template), other objects.
    view = plan([change("aws_s3_bucket.logs", ["no-op"], {"id": "stack-b-logs"})])
    found = disagreements(view, state(aws_s3_bucket__logs="stack-a-logs"))
    assert found == [
        "aws_s3_bucket.logs: the plan read id stack-b-logs; the state holds stack-a-logs"
    ]


def test_an_empty_or_missing_state_read_by_the_plan_is_caught() -> None:
    # The plan found no state (a wrong key): it would create what the state holds.
    view = plan([change("aws_s3_bucket.logs", ["create"], None)])
    assert disagreements(view, state(aws_s3_bucket__logs="logs-1")) == [
        "aws_s3_bucket.logs: in the state, but the plan starts without it"
    ]
    # The plan started from objects while there is no state object at all.
    started = plan([change("aws_s3_bucket.logs", ["no-op"], {"id": "logs-1"})])
    assert disagreements(started, None) == [
        "aws_s3_bucket.logs: the plan started from it; the state does not hold it"
    ]
    assert disagreements(plan([change("aws_s3_bucket.logs", ["create"], None)]), None) == []


def test_a_resource_the_plan_never_mentions_is_caught() -> None:
    view = plan([change("aws_s3_bucket.logs", ["no-op"], {"id": "logs-1"})])
    found = disagreements(view, state(aws_s3_bucket__logs="logs-1", aws_iam_role__app="app"))
    assert found == ["aws_iam_role.app: in the state, unknown to the plan"]


def test_deletions_moves_and_imports_are_accounted_for() -> None:
    gone = change("aws_s3_bucket.logs", ["delete"], {"id": "logs-1"})
    gone["change"]["after"] = None
    orphan = change("aws_iam_role.old", ["delete"], {"id": "old"})
    orphan["change"]["after"] = None
    view = plan(
        [
            # Deleted out of band: the refresh dropped it, the plan recreates it.
            change("aws_s3_bucket.logs", ["create"], None),
            # Renamed with a moved block.
            change("aws_iam_role.api", ["no-op"], {"id": "api"}, previous="aws_iam_role.app"),
            # Brought in by an import block: not in the state yet.
            change("aws_iam_role.extra", ["no-op"], {"id": "extra"}, importing=True),
        ],
        drift=[gone, orphan],  # the orphan is no longer in the configuration either
    )
    recorded = state(aws_s3_bucket__logs="logs-1", aws_iam_role__app="api", aws_iam_role__old="old")
    assert disagreements(view, recorded) == []
