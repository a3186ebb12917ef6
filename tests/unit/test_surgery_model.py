"""The state migration format (surgery/*.yaml) and the surgery plan record: plain data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from iacdrift.models.surgery import (
    AddressKind,
    ExpectedAction,
    ForceUnlockOperation,
    ImportOperation,
    MoveOperation,
    RemoveOperation,
    ReplaceProviderOperation,
    StateMigration,
    address_kind,
    resource_type_of,
)

ROOT = Path(__file__).resolve().parents[2]
MV = {
    "op": "mv",
    "from": "module.assets.aws_s3_bucket.this",
    "to": "module.static_assets.aws_s3_bucket.this",
    "reason": "the module call was renamed",
}


def migration(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": "iacdrift.dev/v1",
        "kind": "StateMigration",
        "id": "rename-assets",
        "stack": "staging-app",
        "operations": [MV],
        "expectedPlan": "no-changes",
    }
    document.update(changes)
    return document


def messages(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        StateMigration.model_validate(document)
    return [error["msg"].removeprefix("Value error, ") for error in caught.value.errors()]


# --- addresses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("aws_s3_bucket.this", AddressKind.RESOURCE),
        ("aws_instance.web[0]", AddressKind.INSTANCE),
        ('aws_instance.web["a.b"]', AddressKind.INSTANCE),
        ('module.app["blue"].module.db.aws_db_instance.main', AddressKind.RESOURCE),
        ("module.app", AddressKind.MODULE),
        ("module.app[2].module.db", AddressKind.MODULE),
    ],
)
def test_address_kinds(address: str, kind: AddressKind) -> None:
    assert address_kind(address) is kind


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("data.aws_ami.ubuntu", "is a data source"),
        ("module.app.data.aws_ami.ubuntu", "is a data source"),
        ("aws_s3_bucket", "after the module calls comes one resource"),
        ("aws_s3_bucket.a.b", "after the module calls comes one resource"),
        ("aws_s3_bucket[0].a", "after the module calls comes one resource"),
        ("module", "`module` must be followed by the call's name"),
        ("module[0].app", "`module` must be followed by the call's name"),
        ("aws_s3_bucket.this[x]", "not a Terraform address"),
        ("aws_s3_bucket..this", "not a Terraform address"),
        ("", "not a Terraform address"),
        ("1bucket.this", "not a Terraform address"),
    ],
)
def test_addresses_that_are_not_refused_with_what_to_write(address: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        address_kind(address)
    assert says in str(caught.value)


def test_resource_type_of() -> None:
    assert resource_type_of("module.a.aws_s3_bucket.this[0]") == "aws_s3_bucket"
    assert resource_type_of("module.a") is None


# --- the migration ------------------------------------------------------------------


def test_a_migration_with_every_operation() -> None:
    model = StateMigration.model_validate(
        migration(
            operations=[
                MV,
                {"op": "rm", "addresses": ["aws_s3_bucket.old", "module.gone"], "reason": "r"},
                {"op": "import", "to": "aws_s3_bucket.logs", "id": "acme-logs", "reason": "r"},
                {
                    "op": "replace-provider",
                    "from": "registry.terraform.io/hashicorp/aws",
                    "to": "registry.opentofu.org/hashicorp/aws",
                    "reason": "r",
                },
                {"op": "force-unlock", "lockId": "6f2c3a0e-1b7d", "reason": "crashed run"},
            ],
            expectedPlan=[
                {"address": "aws_s3_bucket.logs", "actions": ["update"]},
                {"address": "aws_s3_bucket.web", "actions": ["no-op"]},
            ],
        )
    )
    kinds = [type(op) for op in model.operations]
    assert kinds == [
        MoveOperation,
        RemoveOperation,
        ImportOperation,
        ReplaceProviderOperation,
        ForceUnlockOperation,
    ]
    move = model.operations[0]
    assert isinstance(move, MoveOperation) and move.from_ == MV["from"]
    assert isinstance(model.expectedPlan, list)
    assert model.expectedPlan[0].actions == [ExpectedAction.UPDATE]
    # `from` is written and read as `from` (a Python keyword inside).
    dumped = model.model_dump(mode="json")
    assert dumped["operations"][0]["from"] == MV["from"]
    assert StateMigration.model_validate(dumped) == model


@pytest.mark.parametrize(
    ("operation", "says"),
    [
        ({**MV, "to": MV["from"]}, "from and to are both"),
        ({**MV, "to": "module.static_assets"}, "a module moves to a module address"),
        ({**MV, "to": "module.static_assets.aws_s3_bucket_policy.this"}, "keeps the resource type"),
        ({**MV, "reason": "   "}, "the reason is empty"),
        ({"op": "rm", "addresses": [], "reason": "r"}, "addresses is empty"),
        ({"op": "rm", "addresses": ["a_b.c", "a_b.c"], "reason": "r"}, "listed more than once"),
        ({"op": "import", "to": "module.app", "id": "x", "reason": "r"}, "is a module"),
        ({"op": "import", "to": "a_b.c", "id": " ", "reason": "r"}, "the id is empty"),
        (
            {"op": "replace-provider", "from": "hashicorp/aws", "to": "aws", "reason": "r"},
            "not a provider source address",
        ),
        (
            {
                "op": "replace-provider",
                "from": "hashicorp/aws",
                "to": "hashicorp/aws",
                "reason": "r",
            },
            "from and to are both",
        ),
        ({"op": "force-unlock", "lockId": "a b", "reason": "r"}, "is not a lock id"),
        ({"op": "move", "reason": "r"}, "unknown op 'move'; use one of mv, rm"),
        ({"reason": "r"}, "op is missing"),
        ({**MV, "force": True}, "Extra inputs are not permitted"),
    ],
)
def test_an_operation_refused_with_what_to_do(operation: dict[str, Any], says: str) -> None:
    found = messages(migration(operations=[operation]))
    assert any(says in message for message in found), found


def test_reason_is_required_for_every_operation() -> None:
    for operation in (
        {"op": "mv", "from": "a_b.c", "to": "a_b.d"},
        {"op": "rm", "addresses": ["a_b.c"]},
        {"op": "import", "to": "a_b.c", "id": "x"},
        {"op": "replace-provider", "from": "a/b", "to": "a/c"},
        {"op": "force-unlock", "lockId": "x"},
    ):
        with pytest.raises(ValidationError) as caught:
            StateMigration.model_validate(migration(operations=[operation]))
        assert [e["loc"][-1] for e in caught.value.errors()] == ["reason"], operation


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"operations": []}, "no operations"),
        (
            {
                "operations": [
                    {"op": "force-unlock", "lockId": f"l{i}", "reason": "r"} for i in (1, 2)
                ]
            },
            "more than one force-unlock",
        ),
        ({"expectedPlan": "nochanges"}, "write no-changes, or a list"),
        ({"expectedPlan": 3}, "write no-changes, or a list"),
        ({"expectedPlan": []}, "write expectedPlan: no-changes instead"),
        (
            {"expectedPlan": [{"address": "a_b.c", "actions": ["update"]}] * 2},
            "listed more than once",
        ),
        ({"expectedPlan": [{"address": "a_b.c", "actions": []}]}, "actions is empty"),
        (
            {"expectedPlan": [{"address": "a_b.c", "actions": ["delete", "create"]}]},
            "write replace",
        ),
        (
            {"expectedPlan": [{"address": "a_b.c", "actions": ["replace", "create"]}]},
            "replace alone",
        ),
        ({"expectedPlan": [{"address": "a_b.c", "actions": ["no-op", "update"]}]}, "list it alone"),
        (
            {"expectedPlan": [{"address": "a_b.c", "actions": ["update", "update"]}]},
            "more than once",
        ),
        ({"id": "Rename_Assets"}, "String should match pattern"),
        ({"kind": "StateMigrations"}, "Input should be 'StateMigration'"),
    ],
)
def test_a_migration_refused_with_what_to_do(changes: dict[str, Any], says: str) -> None:
    found = messages(migration(**changes))
    assert any(says in message for message in found), found


@given(st.lists(st.sampled_from([a.value for a in ExpectedAction if a != "no-op"]), min_size=1))
def test_expected_actions_accept_exactly_the_coherent_sets(actions: list[str]) -> None:
    document = migration(expectedPlan=[{"address": "a_b.c", "actions": actions}])
    coherent = (
        len(set(actions)) == len(actions)
        and not {"create", "delete"} <= set(actions)
        and not ("replace" in actions and {"create", "delete"} & set(actions))
    )
    if coherent:
        StateMigration.model_validate(document)
    else:
        with pytest.raises(ValidationError):
            StateMigration.model_validate(document)


# --- the example and the published schema ---------------------------------------------


def test_the_example_migration_is_valid_for_the_model_and_the_published_schema() -> None:
    document = yaml.safe_load((ROOT / "surgery" / "example-rename.yaml").read_text())
    model = StateMigration.model_validate(document)
    assert model.stack == "staging-app" and model.expectedPlan == "no-changes"
    assert model.stack in {p.stem for p in (ROOT / "registry").glob("*.yaml")}

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "schemas" / "state-migration.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(document)) == []
    # As strict as the model for editors: a misspelt field, an unknown op.
    document["operations"][0]["reson"] = document["operations"][0].pop("reason")
    assert any("reson" in e.message for e in validator.iter_errors(document))
    document["operations"][0] = {"op": "move", "reason": "r"}
    assert list(validator.iter_errors(document))
