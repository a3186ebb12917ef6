"""The backend record, module manifest and checksum that seeding writes instead of
`init` (core/workdir_seed.py), against records real inits wrote.

tests/fixtures/backend_records/*.json: `.terraform/terraform.tfstate` as written by
`init` of Terraform 1.15.5 (stacks/prod-app) and OpenTofu 1.6.2 (stacks/staging-app)
in the sandbox, with the -backend-config values iacdrift passed. The other checksums
below were read from real inits of the other example stacks.
tests/integration/test_engine.py proves the result against Terraform itself.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import hcl2
import pytest

from iacdrift.core import workdir_seed as seed

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "backend_records"


def fixture(name: str) -> tuple[seed.BackendBlock, dict[str, str], dict[str, Any]]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    block = seed.backend_block([("main.tf", hcl2.loads(data["terraformBlock"]))])
    assert block is not None
    return block, data["backendConfig"], data["record"]


def other_stack(
    block: seed.BackendBlock, overrides: dict[str, str], key: str
) -> tuple[seed.BackendBlock, dict[str, str]]:
    return (
        seed.BackendBlock(block.type, {**block.attributes, "key": key}),
        {**overrides, "key": key},
    )


@pytest.mark.parametrize("name", ["terraform-1.15.5", "opentofu-1.6.2"])
def test_a_real_record_is_reproduced_exactly(name: str) -> None:
    block, overrides, record = fixture(name)
    shape = seed.learn_shape(record, block, overrides)
    assert shape is not None
    assert seed.backend_record(shape, block, overrides) == record


@pytest.mark.parametrize(
    ("key", "checksum"),
    [
        ("prod/network.tfstate", 3208506140),  # stacks/prod-network
        ("prod/payments.tfstate", 174862943),  # stacks/prod-payments
    ],
)
def test_the_record_of_another_stack_carries_the_checksum_terraform_computed(
    key: str, checksum: int
) -> None:
    block, overrides, record = fixture("terraform-1.15.5")
    shape = seed.learn_shape(record, block, overrides)
    assert shape is not None
    other_block, other_overrides = other_stack(block, overrides, key)
    written = seed.backend_record(shape, other_block, other_overrides)
    assert written is not None
    assert written["backend"]["hash"] == checksum
    assert written["backend"]["config"]["key"] == key
    assert written["backend"]["config"]["use_lockfile"] is True  # from the block
    assert written["backend"]["config"]["skip_region_validation"] is True  # "true" -> bool
    assert written["terraform_version"] == "1.15.5"


def test_nothing_is_learned_from_a_record_that_is_not_reproduced() -> None:
    block, overrides, record = fixture("terraform-1.15.5")
    tampered = json.loads(json.dumps(record))
    tampered["backend"]["hash"] += 1
    assert seed.learn_shape(tampered, block, overrides) is None
    # A -backend-config value the record does not show (init was given other flags).
    assert seed.learn_shape(record, block, {**overrides, "encrypt": "true"}) is None
    # Another backend type.
    assert seed.learn_shape(record, seed.BackendBlock("gcs", block.attributes), overrides) is None


def test_values_outside_what_is_reproduced_decline() -> None:
    block, overrides, record = fixture("terraform-1.15.5")
    shape = seed.learn_shape(record, block, overrides)
    assert shape is not None
    unknown_attribute = seed.BackendBlock("s3", {**block.attributes, "not_in_schema": "x"})
    assert seed.backend_record(shape, unknown_attribute, overrides) is None
    assert seed.backend_record(shape, block, {**overrides, "use_path_style": "yes"}) is None
    # A -backend-config value for an attribute whose type no real init has shown.
    assert seed.backend_record(shape, block, {**overrides, "max_retries": "3"}) is None
    non_ascii = seed.BackendBlock("s3", {**block.attributes, "key": "prod/äpp.tfstate"})
    assert seed.backend_record(shape, non_ascii, overrides) is None


@pytest.mark.parametrize(
    "text",
    [
        'terraform {\n  backend "s3" {\n    key = "${var.env}/x"\n  }\n}\n',
        'terraform {\n  backend "s3" {\n    allowed_account_ids = ["1"]\n  }\n}\n',
        'terraform {\n  cloud {\n    organization = "acme"\n  }\n}\n',
        'terraform {\n  required_version = ">= 1.5"\n}\n',
    ],
    ids=["template", "list", "cloud", "no-backend"],
)
def test_backend_blocks_that_are_not_plain_literals_are_not_seeded(text: str) -> None:
    assert seed.backend_block([("main.tf", hcl2.loads(text))]) is None


def test_two_backend_blocks_are_not_seeded() -> None:
    one = hcl2.loads('terraform {\n  backend "s3" {\n    key = "a"\n  }\n}\n')
    assert seed.backend_block([("a.tf", one)]) == seed.BackendBlock("s3", {"key": "a"})
    assert seed.backend_block([("a.tf", one), ("b.tf", one)]) is None


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("./mod", "./mod"),
        ("./mod/", "./mod"),
        ("../modules/./x", "../modules/x"),
        ("./a/../b", "./b"),
        (".\\win\\mod", "./win/mod"),
        ("hashicorp/consul/aws", None),
        ("git::https://example.com/m.git", None),
    ],
)
def test_local_module_sources_are_normalised_as_terraform_does(
    raw: str, normalised: str | None
) -> None:
    assert seed.local_source(raw) == normalised


def test_module_directories_are_relative_to_the_root_module() -> None:
    assert seed.module_dir(".", "../modules/x") == "../modules/x"
    assert seed.module_dir(".", "./mod") == "mod"
    assert seed.module_dir("../modules/x", "./child") == "../modules/x/child"
    assert seed.module_dir("../modules/x", "../y") == "../modules/y"
    manifest = seed.module_manifest(
        [seed.ModuleRecord("b", "./b", "b"), seed.ModuleRecord("", "", ".")]
    )
    assert manifest == {
        "Modules": [
            {"Key": "", "Source": "", "Dir": "."},
            {"Key": "b", "Source": "./b", "Dir": "b"},
        ]
    }


def test_values_are_quoted_and_converted_as_terraform_does() -> None:
    # cty's hash input: a tuple <...;> of the type and an object <...;> of every
    # attribute in name order; ~ null, T/F booleans, Go's %q for strings (only the
    # quote and the backslash escaped in printable ASCII).
    block = seed.BackendBlock("s3", {"key": 'a "q" \\ k', "use_lockfile": True})
    text = '<"s3";<~;"a \\"q\\" \\\\ k";T;>;>'
    assert seed.record_hash("s3", ("bucket", "key", "use_lockfile"), block.attributes) == (
        zlib.crc32(text.encode())
    )
    numbers = seed.BackendShape("s3", ("max_retries",), {"max_retries": "number"}, {})
    empty = seed.BackendBlock("s3", {})
    assert seed.merged_config(numbers, empty, {"max_retries": "5"}) == {"max_retries": 5}
    assert seed.merged_config(numbers, empty, {"max_retries": "\uff15"}) is None  # not ASCII
    assert seed.merged_config(numbers, empty, {"max_retries": "-1"}) is None
    assert seed.record_hash("s3", ("max_retries",), {"max_retries": 10**10}) is None  # 1e+10
    strings = seed.BackendShape("s3", ("key",), {"key": "string"}, {})
    assert seed.merged_config(strings, empty, {"key": " as given "}) == {"key": " as given "}


def test_labels_and_literals_as_python_hcl2_gives_them() -> None:
    assert seed.label('"s3"') == "s3"
    assert seed.label("s3") == "s3"
    assert seed.literal('"a\\"b"') == 'a"b'
    assert seed.literal('"${var.x}"') is None
    assert seed.literal("var.x") is None
    assert seed.literal(True) is True
    assert seed.literal(5) == 5


def test_calibrations_of_one_engine_merge_their_value_types() -> None:
    one = seed.BackendShape("s3", ("a", "b"), {"a": "string"}, {"version": 3})
    two = seed.BackendShape("s3", ("a", "b"), {"b": "bool"}, {"version": 3})
    merged = seed.merge_shapes(one, two)
    assert merged is not None and merged.kinds == {"a": "string", "b": "bool"}
    assert seed.merge_shapes(one, seed.BackendShape("s3", ("a", "b"), {"a": "bool"}, {})) is None
    assert seed.merge_shapes(one, seed.BackendShape("s3", ("a",), {}, {"version": 3})) is None


def test_a_record_with_fields_we_would_not_write_is_not_learned() -> None:
    block, overrides, record = fixture("terraform-1.15.5")
    extra = json.loads(json.dumps(record))
    extra["backend"]["workspace_dir"] = "x"
    assert seed.learn_shape(extra, block, overrides) is None
