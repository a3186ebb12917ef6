"""What the classifier reads from a plan beyond its divergences (captured real plans)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from iacdrift.core.planfacts import (
    data_dependencies,
    data_source_changes,
    depends_on_changed,
    live_resources,
    refactor_pairs,
)
from iacdrift.core.terraform_json import PlanView, ResourceEntry

PLANS = Path(__file__).resolve().parent.parent / "fixtures" / "plans"
SALT = b"test-salt"


def plan(scenario: str, stack: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLANS / scenario / f"{stack}.plan.json").read_text())
    return data


def recorded_state(scenario: str, stack: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLANS / scenario / f"{stack}.state.json").read_text())
    return data


def test_module_resources_depend_on_the_data_sources_their_call_reads() -> None:
    deps = data_dependencies(plan("clean", "prod-app"))
    assert deps["module.app_sg.aws_security_group.this"] == {"data.terraform_remote_state.network"}
    assert deps["module.artifacts.aws_s3_bucket.this"] == frozenset()


def test_a_changed_remote_state_output_is_a_data_change() -> None:
    plan_json = plan("clean", "prod-app")
    # The real recorded state keeps outputs as {"type": ..., "value": ...}: not a change.
    state = recorded_state("clean", "prod-app")
    assert data_source_changes(plan_json, state, salt=SALT) == {}
    remote = next(r for r in state["resources"] if r["mode"] == "data")
    outputs = remote["instances"][0]["attributes"]["outputs"]
    assert set(outputs) == {"type", "value"}
    outputs["value"]["web_security_group_id"] = "sg-00000000000000000"
    changes = data_source_changes(plan_json, state, salt=SALT)
    assert list(changes) == ["data.terraform_remote_state.network"]
    assert not changes["data.terraform_remote_state.network"].secret
    found = depends_on_changed(
        "module.app_sg.aws_security_group.this", data_dependencies(plan_json), changes
    )
    assert [c.address for c in found] == ["data.terraform_remote_state.network"]
    assert (
        depends_on_changed(
            "module.artifacts.aws_s3_bucket.this", data_dependencies(plan_json), changes
        )
        == []
    )
    # Nothing recorded (never applied): not a change.
    assert data_source_changes(plan_json, None, salt=SALT) == {}


def config(root: dict[str, Any]) -> dict[str, Any]:
    return {"configuration": {"root_module": root}}


def test_dependencies_through_for_each_locals_and_module_outputs() -> None:
    net_module = {
        "resources": [{"address": "data.aws_vpc.main", "mode": "data"}],
        "outputs": {"vpc_id": {"expression": {"references": ["data.aws_vpc.main.id"]}}},
    }
    plan_json = config(
        {
            "resources": [
                {
                    "address": "aws_s3_bucket.per_region",
                    "mode": "managed",
                    "for_each_expression": {"references": ["data.aws_regions.all.names"]},
                    "expressions": {"bucket": {"constant_value": "x"}},
                },
                {
                    "address": "aws_security_group.app",
                    "mode": "managed",
                    "expressions": {"vpc_id": {"references": ["module.net.vpc_id", "module.net"]}},
                },
                {
                    "address": "aws_iam_role.r",
                    "mode": "managed",
                    "expressions": {"name": {"references": ["local.name"]}},
                },
                {"address": "aws_s3_bucket.plain", "mode": "managed", "expressions": {}},
                {"address": "data.aws_regions.all", "mode": "data"},
            ],
            "module_calls": {"net": {"source": "./net", "module": net_module}},
        }
    )
    deps = data_dependencies(plan_json)
    assert deps["aws_s3_bucket.per_region"] == {"data.aws_regions.all"}
    assert deps["aws_security_group.app"] == {"module.net.data.aws_vpc.main"}
    # Locals are not in plan JSON: every data source of the module counts.
    assert deps["aws_iam_role.r"] == {"data.aws_regions.all"}
    assert deps["aws_s3_bucket.plain"] == frozenset()


def test_live_resources_are_redacted_normalized_and_tagged() -> None:
    live = live_resources(plan("sg-open-ssh", "prod-network"), salt=SALT)
    web = live['module.tier["web"].aws_security_group.this']
    assert web.resource_id and web.resource_id.startswith("sg-")
    assert any(rule.get("from_port") == 22 for rule in web.attributes["ingress"])
    assert web.tags


def entry(address: str, actions: tuple[str, ...], before: Any, after: Any) -> ResourceEntry:
    return ResourceEntry(
        address=address,
        module_address=None,
        mode="managed",
        type="aws_s3_bucket",
        name=address.split(".")[-1],
        index=None,
        provider_name="registry.terraform.io/hashicorp/aws",
        actions=actions,
        before=before,
        after=after,
        before_sensitive=False,
        after_sensitive=False,
        after_unknown={},
        action_reason=None,
        previous_address=None,
        importing=False,
    )


def view(*entries: ResourceEntry) -> PlanView:
    return PlanView("1.2", "1.15.5", [], list(entries), True, (), False, True, True)


def test_a_destroy_and_a_create_of_one_identity_pair_up() -> None:
    pairs = refactor_pairs(
        view(
            entry("aws_s3_bucket.old", ("delete",), {"bucket": "logs"}, None),
            entry("aws_s3_bucket.new", ("create",), None, {"bucket": "logs"}),
            entry("aws_s3_bucket.other", ("create",), None, {"bucket": "other"}),
        )
    )
    assert pairs == {
        "aws_s3_bucket.old": "aws_s3_bucket.new",
        "aws_s3_bucket.new": "aws_s3_bucket.old",
    }


def test_ambiguous_identities_do_not_pair() -> None:
    pairs = refactor_pairs(
        view(
            entry("aws_s3_bucket.a", ("delete",), {"bucket": "logs"}, None),
            entry("aws_s3_bucket.b", ("create",), None, {"bucket": "logs"}),
            entry("aws_s3_bucket.c", ("create",), None, {"bucket": "logs"}),
        )
    )
    assert pairs == {}


def test_a_rotated_secret_names_its_versions_and_identifiers_never_its_value() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/db-pw-AbCdEf"

    def reading(version: str, value: str) -> dict[str, Any]:
        return {
            "arn": arn,
            "id": f"{arn}|AWSCURRENT",
            "secret_id": "team/db-pw",
            "secret_string": value,
            "version_id": version,
        }

    address = "data.aws_secretsmanager_secret_version.pw"
    plan_json = {
        "prior_state": {
            "values": {
                "root_module": {
                    "resources": [
                        {
                            "address": address,
                            "mode": "data",
                            "type": "aws_secretsmanager_secret_version",
                            "values": reading("v2", "hunter3"),
                            "sensitive_values": {"secret_string": True},
                        }
                    ]
                }
            }
        }
    }
    state = {
        "resources": [
            {
                "mode": "data",
                "type": "aws_secretsmanager_secret_version",
                "name": "pw",
                "instances": [{"attributes": reading("v1", "hunter2")}],
            }
        ]
    }
    [change] = data_source_changes(plan_json, state, salt=SALT).values()
    assert (change.secret, change.version_before, change.version_after) == (True, "v1", "v2")
    assert change.identifiers == tuple(sorted({arn, f"{arn}|AWSCURRENT", "team/db-pw"}))
    assert "hunter" not in repr(change)
    # An identifier the plan marks sensitive is never one.
    resource = plan_json["prior_state"]["values"]["root_module"]["resources"][0]
    resource["sensitive_values"] = {"secret_string": True, "secret_id": True}
    [hidden] = data_source_changes(plan_json, state, salt=SALT).values()
    assert "team/db-pw" not in hidden.identifiers
