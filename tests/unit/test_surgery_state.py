"""What an operation did to a state, read from the state before and after."""

from __future__ import annotations

from typing import Any

from iacdrift.core.surgery.state import resource_providers, touched

AWS = 'provider["registry.terraform.io/hashicorp/aws"]'
TOFU = 'provider["registry.opentofu.org/hashicorp/aws"]'


def _state(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"version": 4, "resources": list(resources)}


def _resource(
    name: str, *, module: str | None = None, keys: tuple[Any, ...] = (None,), provider: str = AWS
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "mode": "managed",
        "type": "aws_s3_bucket",
        "name": name,
        "provider": provider,
        "instances": [{"index_key": k} if k is not None else {} for k in keys],
    }
    if module:
        item["module"] = module
    return item


def test_addresses_carry_module_and_instance_keys_and_skip_data_sources() -> None:
    data = {"mode": "data", "type": "aws_iam_policy_document", "name": "d", "instances": [{}]}
    state = _state(
        _resource("this", module='module.bucket["ledger"]'),
        _resource("logs", keys=(0, 1)),
        _resource("byname", keys=("a",)),
        data,
    )
    assert sorted(resource_providers(state)) == [
        'aws_s3_bucket.byname["a"]',
        "aws_s3_bucket.logs[0]",
        "aws_s3_bucket.logs[1]",
        'module.bucket["ledger"].aws_s3_bucket.this',
    ]


def test_what_mv_rm_import_and_replace_provider_touch() -> None:
    before = resource_providers(_state(_resource("a"), _resource("b")))
    moved = resource_providers(_state(_resource("a2"), _resource("b")))
    assert touched(before, moved) == (["aws_s3_bucket.a"], ["aws_s3_bucket.a2"])
    removed = resource_providers(_state(_resource("b")))
    assert touched(before, removed) == (["aws_s3_bucket.a"], [])
    imported = resource_providers(_state(_resource("a"), _resource("b"), _resource("c")))
    assert touched(before, imported) == ([], ["aws_s3_bucket.c"])
    replaced = resource_providers(
        _state(_resource("a", provider=TOFU), _resource("b", provider=TOFU))
    )
    both = ["aws_s3_bucket.a", "aws_s3_bucket.b"]
    assert touched(before, replaced) == (both, both)
    assert touched(before, before) == ([], [])
