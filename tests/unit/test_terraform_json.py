"""Reading Terraform's plan and state JSON: the captured fixtures, and clear errors."""

from __future__ import annotations

import copy
import gc
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iacdrift.core.terraform_json import (
    format_address,
    read_plan,
    read_state,
)
from iacdrift.errors import TerraformFormatError
from iacdrift.loaders.terraform_json import load_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "plans"
PLANS = sorted(FIXTURES.glob("*/*.plan.json"))
STATES = sorted(FIXTURES.glob("*/*.state.json"))


def load(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.mark.parametrize("path", PLANS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_captured_plan_reads(path: Path) -> None:
    plan = read_plan(load(path), path.name)
    assert plan.format_version.startswith("1.")
    assert plan.errored is False
    refresh_only = path.name.endswith(".refresh-only.plan.json")
    assert plan.has_resource_changes is not refresh_only
    for entries in (plan.resource_drift, plan.resource_changes):
        assert [e.address for e in entries] == sorted(e.address for e in entries)
        for entry in entries:
            assert entry.actions
            assert entry.mode == "managed"
            assert entry.provider_name.endswith("/hashicorp/aws")


@pytest.mark.parametrize("path", STATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_captured_state_reads(path: Path) -> None:
    state = read_state(load(path), path.name)
    assert state.serial == 1
    assert state.lineage
    assert [r.address for r in state.resources] == sorted(r.address for r in state.resources)


def test_plan_entry_fields() -> None:
    plan = read_plan(load(FIXTURES / "sg-open-ssh/prod-network.plan.json"), "plan.json")
    assert plan.terraform_version == "1.15.5"
    assert plan.complete is True
    assert plan.applyable is True
    [drift] = plan.resource_drift
    assert drift.address == 'module.tier["web"].aws_security_group.this'
    assert drift.module_address == 'module.tier["web"]'
    assert (drift.mode, drift.type, drift.name, drift.index) == (
        "managed",
        "aws_security_group",
        "this",
        None,
    )
    assert drift.actions == ("update",)
    assert drift.before["id"] == drift.after["id"] == "sg-207dd0f8620c23663"
    assert drift.previous_address is None
    assert drift.importing is False
    assert [e.actions for e in plan.resource_changes] == [("no-op",), ("no-op",), ("update",)]
    assert (
        'module.tier["web"].aws_security_group.this',
        ("id",),
    ) in plan.relevant_attributes


def test_counted_entry_has_integer_index() -> None:
    plan = read_plan(load(FIXTURES / "role-policy-attached/prod-iam.plan.json"), "plan.json")
    role = next(e for e in plan.resource_drift if e.type == "aws_iam_role")
    assert (role.address, role.index) == ("aws_iam_role.service[0]", 0)


def test_refresh_only_plan_has_no_resource_changes() -> None:
    plan = read_plan(load(FIXTURES / "bucket-tag/prod-payments.refresh-only.plan.json"), "p")
    assert plan.has_resource_changes is False
    assert plan.resource_changes == []
    assert [e.address for e in plan.resource_drift] == [
        'module.bucket["receipts"].aws_s3_bucket.this'
    ]


def test_opentofu_plan_without_complete_flags() -> None:
    plan = read_plan(load(FIXTURES / "clean/staging-app.plan.json"), "plan.json")
    assert plan.terraform_version == "1.6.2"
    assert plan.complete is None
    assert plan.applyable is None


def test_state_addresses_as_terraform_prints_them() -> None:
    state = read_state(load(FIXTURES / "clean/prod-iam.state.json"), "state.json")
    assert [r.address for r in state.resources] == [
        "aws_iam_policy.ledger_read",
        "aws_iam_role.reporting",
        "aws_iam_role.service[0]",
        "aws_iam_role.service[1]",
        "aws_iam_role_policy.reporting_exports",
        "aws_iam_role_policy_attachment.reporting_ledger_read",
    ]
    role = state.resources[2]
    assert (role.index, role.id, role.module) == (0, "prod-payments-api", None)
    assert role.arn == "arn:aws:iam::123456789012:role/prod-payments-api"
    app = read_state(load(FIXTURES / "clean/prod-app.state.json"), "state.json")
    assert app.resources[0].address == "data.terraform_remote_state.network"
    assert app.resources[0].mode == "data"
    network = read_state(load(FIXTURES / "sg-open-ssh/prod-network.state.json"), "state.json")
    web = next(r for r in network.resources if r.module == 'module.tier["web"]')
    assert web.address == 'module.tier["web"].aws_security_group.this'
    assert web.id == "sg-207dd0f8620c23663"


def test_state_keeps_no_attribute_values_but_identifiers() -> None:
    state = read_state(load(FIXTURES / "clean/prod-payments.state.json"), "state.json")
    ledger = state.resources[0]
    assert dict(ledger.identifiers) == {
        "arn": "arn:aws:s3:::iacdrift-demo-prod-ledger",
        "bucket": "iacdrift-demo-prod-ledger",
        "id": "iacdrift-demo-prod-ledger",
    }
    assert "tags" in ledger.attribute_names
    # Values of other attributes (tags, the private blob) are not kept anywhere.
    text = repr(state)
    assert "team-payments" not in text
    assert "confidential" not in text
    assert "eyJ" not in text


def test_identifiers_marked_sensitive_in_state_are_dropped() -> None:
    attributes = {"id": "x-1", "name": "secret-name", "arn": "arn:x", "password": "hunter2"}
    data = state_doc(
        [
            resource(
                "aws_db_instance",
                "db",
                [
                    {
                        "attributes": attributes,
                        "sensitive_attributes": [[{"type": "get_attr", "value": "name"}]],
                    }
                ],
            )
        ]
    )
    [db] = read_state(data, "state.json").resources
    assert dict(db.identifiers) == {"arn": "arn:x", "id": "x-1"}
    # An unrecognised sensitive_attributes shape keeps only the id.
    data["resources"][0]["instances"][0]["sensitive_attributes"] = [["?"]]
    [db] = read_state(data, "state.json").resources
    assert dict(db.identifiers) == {"id": "x-1"}
    assert "hunter2" not in repr(db)


@pytest.mark.parametrize(
    ("module", "mode", "index", "expected"),
    [
        (None, "managed", None, "aws_s3_bucket.b"),
        (None, "managed", 3, "aws_s3_bucket.b[3]"),
        ('module.a["k"]', "managed", "x", 'module.a["k"].aws_s3_bucket.b["x"]'),
        ("module.a.module.c[0]", "data", None, "module.a.module.c[0].data.aws_s3_bucket.b"),
        (None, "managed", 'say "hi"', 'aws_s3_bucket.b["say \\"hi\\""]'),
        (None, "managed", "ünï", 'aws_s3_bucket.b["ünï"]'),
    ],
)
def test_format_address(
    module: str | None, mode: str, index: int | str | None, expected: str
) -> None:
    assert format_address(module, mode, "aws_s3_bucket", "b", index) == expected


def test_state_instance_keys() -> None:
    data = state_doc(
        [
            resource(
                "aws_s3_bucket",
                "b",
                [
                    {"attributes": {"id": "one"}, "index_key": "one"},
                    {"attributes": {"id": "two"}, "index_key": "two", "deposed": "abcd1234"},
                ],
                module='module.m["k"]',
            )
        ]
    )
    addresses = [(r.address, r.deposed) for r in read_state(data, "s").resources]
    assert addresses == [
        ('module.m["k"].aws_s3_bucket.b["one"]', None),
        ('module.m["k"].aws_s3_bucket.b["two"]', "abcd1234"),
    ]


# --- malformed input: one line naming the file and the JSON path --------------------


def entry(address: str = "aws_s3_bucket.b", actions: Any = ("update",)) -> dict[str, Any]:
    return {
        "address": address,
        "mode": "managed",
        "type": "aws_s3_bucket",
        "name": "b",
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {"actions": list(actions), "before": {}, "after": {}},
    }


def plan_doc() -> dict[str, Any]:
    return {
        "format_version": "1.2",
        "terraform_version": "1.15.5",
        "resource_changes": [entry(f"aws_s3_bucket.b{i}") for i in range(4)],
        "resource_drift": [entry("aws_s3_bucket.b0")],
    }


def state_doc(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": 4, "serial": 3, "lineage": "l-1", "resources": resources}


def resource(
    type_name: str, name: str, instances: list[dict[str, Any]], module: str | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "mode": "managed",
        "type": type_name,
        "name": name,
        "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
        "instances": instances,
    }
    if module:
        found["module"] = module
    return found


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    def mutate(doc: dict[str, Any]) -> Any:
        target: Any = doc
        steps = path.split(".")
        for step in steps[:-1]:
            target = target[int(step)] if step.isdigit() else target[step]
        last = steps[-1]
        if value is _DELETE:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
        return doc

    return mutate


_DELETE = object()

PLAN_ERRORS = [
    (lambda d: [], "plan.json: expected a JSON object (the output of `terraform show -json`)"),
    (
        _set("format_version", "2.0"),
        "plan.json: plan JSON format_version 2.0 is not supported (expected 1.x)",
    ),
    (
        _set("format_version", "0.2"),
        "plan.json: plan JSON format_version 0.2 is not supported (expected 1.x)",
    ),
    (
        _set("format_version", _DELETE),
        "plan.json: format_version: missing; is this `terraform show -json` of a plan?",
    ),
    (_set("format_version", 1), "plan.json: format_version: expected a string such as 1.2"),
    (_set("resource_changes", {}), "plan.json: resource_changes: expected a list"),
    (
        _set("resource_changes.3.change.actions", "update"),
        "plan.json: resource_changes[3].change.actions: expected a list of strings",
    ),
    (
        _set("resource_changes.3.change.actions", ["update", 7]),
        "plan.json: resource_changes[3].change.actions: expected a list of strings",
    ),
    (
        _set("resource_changes.1.change.actions", []),
        "plan.json: resource_changes[1].change.actions: expected a list of strings",
    ),
    (
        _set("resource_changes.2.change.actions", _DELETE),
        "plan.json: resource_changes[2].change.actions: expected a list of strings",
    ),
    (
        _set("resource_changes.0.address", _DELETE),
        "plan.json: resource_changes[0].address: missing",
    ),
    (
        _set("resource_changes.0.address", 5),
        "plan.json: resource_changes[0].address: expected a string",
    ),
    (
        _set("resource_changes.0.change", _DELETE),
        "plan.json: resource_changes[0].change: missing or not an object",
    ),
    (_set("resource_drift.0", "x"), "plan.json: resource_drift[0]: expected an object"),
    (
        _set("resource_drift.0.index", 1.5),
        "plan.json: resource_drift[0].index: expected an integer or a string",
    ),
    (_set("errored", "no"), "plan.json: errored: expected true or false"),
]


@pytest.mark.parametrize(("mutate", "message"), PLAN_ERRORS, ids=[m for _, m in PLAN_ERRORS])
def test_malformed_plan(mutate: Callable[[dict[str, Any]], Any], message: str) -> None:
    with pytest.raises(TerraformFormatError) as caught:
        read_plan(mutate(copy.deepcopy(plan_doc())), "plan.json")
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_unknown_fields_are_ignored() -> None:
    doc = plan_doc()
    doc["some_future_field"] = {"x": 1}
    doc["resource_changes"][0]["future"] = [1, 2]
    doc["resource_changes"][0]["change"]["future"] = True
    plan = read_plan(doc, "plan.json")
    assert len(plan.resource_changes) == 4


def test_plan_entry_options() -> None:
    doc = plan_doc()
    first = doc["resource_changes"][0]
    first["previous_address"] = "aws_s3_bucket.old"
    first["action_reason"] = "replace_because_cannot_update"
    first["change"]["importing"] = {"id": "bucket-1"}
    first["change"]["before_sensitive"] = False
    plan = read_plan(doc, "plan.json")
    e = plan.resource_changes[0]
    assert e.previous_address == "aws_s3_bucket.old"
    assert e.action_reason == "replace_because_cannot_update"
    assert e.importing is True
    assert e.before_sensitive is False
    assert e.after_sensitive is None  # absent: redaction will fail closed
    assert plan.resource_changes[1].importing is False


STATE_ERRORS = [
    (lambda d: "x", "state.json: expected a JSON object (the output of `terraform state pull`)"),
    (_set("version", 3), "state.json: state version 3 is not supported (expected 4)"),
    (_set("version", _DELETE), "state.json: version: missing; is this a Terraform state file?"),
    (_set("serial", "3"), "state.json: serial: expected an integer"),
    (_set("resources", {}), "state.json: resources: expected a list"),
    (_set("resources.0", 1), "state.json: resources[0]: expected an object"),
    (_set("resources.0.type", _DELETE), "state.json: resources[0].type: missing"),
    (_set("resources.0.instances", {}), "state.json: resources[0].instances: expected a list"),
    (
        _set("resources.0.instances.0.index_key", [1]),
        "state.json: resources[0].instances[0].index_key: expected an integer or a string",
    ),
    (
        _set("resources.0.instances.0.attributes", []),
        "state.json: resources[0].instances[0].attributes: expected an object",
    ),
]


@pytest.mark.parametrize(("mutate", "message"), STATE_ERRORS, ids=[m for _, m in STATE_ERRORS])
def test_malformed_state(mutate: Callable[[dict[str, Any]], Any], message: str) -> None:
    doc = state_doc([resource("aws_s3_bucket", "b", [{"attributes": {"id": "b"}}])])
    with pytest.raises(TerraformFormatError) as caught:
        read_state(mutate(doc), "state.json")
    assert str(caught.value) == message


def test_load_json() -> None:
    assert load_json(b'{"a": [1, 2]}', "plan.json") == {"a": [1, 2]}
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # promoted, nothing left frozen
    with pytest.raises(TerraformFormatError) as caught:
        load_json("{not json", "plan.json")
    assert str(caught.value).startswith("plan.json: not valid JSON (")
    assert gc.isenabled()


def test_load_json_restores_the_collector_state() -> None:
    gc.disable()
    try:
        load_json("[]", "x")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_load_json_leaves_objects_the_process_froze() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        load_json("[[1], [2]]", "x")
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
