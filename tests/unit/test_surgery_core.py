"""core/surgery: blocks, the expectation comparison, the plan record and its id (plain data)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iacdrift.core.reconcile.targeted import PlannedChange
from iacdrift.core.surgery.blocks import (
    FORCE_UNLOCK_WHY,
    REPLACE_PROVIDER_WHY,
    configuration_alternative,
    configuration_block,
)
from iacdrift.core.surgery.expectation import action_set, compare
from iacdrift.core.surgery.plan import (
    OperationRun,
    assemble_plan,
    bind,
    integrity_problems,
    migration_sha256,
    plan_content_id,
)
from iacdrift.models.surgery import (
    ExpectedChange,
    Operation,
    StateMigration,
    SurgeryPlan,
)

MIGRATION_TEXT = """\
kind: StateMigration
id: rename-assets
stack: staging-app
operations:
  - op: mv
    from: module.assets.aws_s3_bucket.this
    to: module.static_assets.aws_s3_bucket.this
    reason: renamed
expectedPlan: no-changes
"""
AUTHOR = "arn:aws:sts::123456789012:assumed-role/planner/alice"
NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
PROVIDERS = {"registry.terraform.io/hashicorp/aws": "3.39.0"}


def operation(document: dict[str, Any]) -> Operation:
    model = StateMigration.model_validate(
        {
            "kind": "StateMigration",
            "id": "m",
            "stack": "s",
            "operations": [{"reason": "r", **document}],
            "expectedPlan": "no-changes",
        }
    )
    return model.operations[0]


def change(address: str, *actions: str, previous: str | None = None) -> PlannedChange:
    return PlannedChange(address, actions, previous)


def expected(*entries: tuple[str, list[str]]) -> list[ExpectedChange]:
    return [ExpectedChange.model_validate({"address": a, "actions": x}) for a, x in entries]


# --- blocks ------------------------------------------------------------------------


def test_mv_is_a_moved_block_within_and_across_modules() -> None:
    block = configuration_block(
        operation(
            {"op": "mv", "from": 'aws_instance.web["a"]', "to": "module.app.aws_instance.web"}
        )
    )
    assert block.expressible and block.why is None
    assert block.block == (
        'moved {\n  from = aws_instance.web["a"]\n  to   = module.app.aws_instance.web\n}\n'
    )
    modules = configuration_block(operation({"op": "mv", "from": "module.a", "to": "module.b"}))
    assert modules.block == "moved {\n  from = module.a\n  to   = module.b\n}\n"


def test_rm_is_removed_blocks_that_keep_the_objects() -> None:
    block = configuration_block(
        operation({"op": "rm", "addresses": ["aws_s3_bucket.old", "module.gone"]})
    )
    assert block.expressible
    assert block.block is not None
    assert block.block.count("removed {") == 2
    assert block.block.count("destroy = false") == 2
    assert "from = module.gone" in block.block


def test_rm_of_an_instance_cannot_be_said_in_configuration() -> None:
    block = configuration_block(
        operation({"op": "rm", "addresses": ["aws_s3_bucket.old", 'aws_instance.web["a"]']})
    )
    assert not block.expressible and block.block is None
    assert block.why is not None
    assert block.why.startswith('aws_instance.web["a"]: removed {} takes no instance keys')
    assert "terraform state rm" in block.why


def test_import_is_an_import_block() -> None:
    block = configuration_block(
        operation({"op": "import", "to": "aws_s3_bucket.logs", "id": "acme-${logs}"})
    )
    assert block.block == 'import {\n  to = aws_s3_bucket.logs\n  id = "acme-$${logs}"\n}\n'


def test_replace_provider_and_force_unlock_cannot_be_said_in_configuration() -> None:
    provider = configuration_block(
        operation({"op": "replace-provider", "from": "hashicorp/aws", "to": "acme/aws"})
    )
    unlock = configuration_block(operation({"op": "force-unlock", "lockId": "abc"}))
    assert (provider.expressible, provider.why) == (False, REPLACE_PROVIDER_WHY)
    assert (unlock.expressible, unlock.why) == (False, FORCE_UNLOCK_WHY)


def test_the_alternative_only_when_every_operation_can_be_said() -> None:
    moved = configuration_block(operation({"op": "mv", "from": "a_b.c", "to": "a_b.d"}))
    imported = configuration_block(operation({"op": "import", "to": "a_b.e", "id": "x"}))
    unlock = configuration_block(operation({"op": "force-unlock", "lockId": "abc"}))
    text = configuration_alternative([moved, imported])
    assert text == f"{imported.block}\n{moved.block}"  # sorted, a blank line between
    assert configuration_alternative([moved, unlock]) is None
    assert configuration_alternative([]) is None


# --- expectation -------------------------------------------------------------------


def test_action_sets() -> None:
    assert action_set(["no-op"]) == frozenset()
    assert action_set(["read"]) == frozenset()
    assert action_set(["delete", "create"]) == {"replace"}
    assert action_set(["create", "delete"]) == {"replace"}
    assert action_set(["move", "update"]) == {"move", "update"}


def test_no_changes_matches_only_an_empty_plan() -> None:
    assert compare("no-changes", []) == (True, ())
    matches, differences = compare(
        "no-changes",
        [change("b_c.d", "delete", "create"), change("a_b.c", "create")],
    )
    assert not matches
    assert differences == (
        "a_b.c: expected no changes, the plan has create",
        "b_c.d: expected no changes, the plan has replace",
    )


def test_a_listed_expectation_is_exact() -> None:
    want = expected(
        ("a_b.c", ["update"]),
        ("a_b.d", ["replace"]),
        ("a_b.e", ["no-op"]),
        ("a_b.f", ["create"]),
    )
    plan = [
        change("a_b.c", "update"),
        change("a_b.d", "create", "delete"),
        change("a_b.e", "update"),
        change("a_b.g", "forget"),
    ]
    matches, differences = compare(want, plan)
    assert not matches
    assert differences == (
        "a_b.e: expected no changes, the plan has update",
        "a_b.f: expected create, the plan has no changes",
        "a_b.g: not expected, the plan has forget",
    )
    assert compare(want[:2], plan[:2]).matches


def test_unknown_expectation_word_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="only 'no-changes'"):
        compare("nothing", [])


_ADDRESSES = st.sampled_from(["a_b.c", "a_b.d", "module.m.a_b.c", 'a_b.e["k"]'])
_ACTIONS = st.sampled_from(
    [
        ("update",),
        ("create",),
        ("delete",),
        ("delete", "create"),
        ("create", "delete"),
        ("move",),
        ("move", "update"),
        ("import",),
        ("forget",),
    ]
)
_PLANS = st.dictionaries(_ADDRESSES, _ACTIONS).map(
    lambda d: [change(address, *actions) for address, actions in d.items()]
)


@given(_PLANS, st.randoms())
def test_a_plan_matches_the_expectation_written_from_it_in_any_order(
    plan: list[PlannedChange], random: Any
) -> None:
    want = expected(*((c.address, sorted(action_set(c.actions))) for c in plan))
    random.shuffle(want)
    random.shuffle(plan)
    assert compare(want if want else "no-changes", plan) == (True, ())


@given(_PLANS, _PLANS)
def test_differences_are_sorted_and_say_nothing_when_matching(
    plan: list[PlannedChange], other: list[PlannedChange]
) -> None:
    want = expected(*((c.address, sorted(action_set(c.actions))) for c in other))
    matches, differences = compare(want or "no-changes", plan)
    assert list(differences) == sorted(differences)
    assert matches == (not differences)
    same = {c.address: action_set(c.actions) for c in plan} == {
        c.address: action_set(c.actions) for c in other
    }
    assert matches == same


# --- the plan record -----------------------------------------------------------------


def binding(**changes: Any) -> Any:
    arguments: dict[str, Any] = {
        "migration_text": MIGRATION_TEXT,
        "files_digest": "f" * 64,
        "state_lineage": "3f0c0d6e-lineage",
        "state_serial": 7,
        "state_version_id": "v-123",
        "terraform_version": "1.15.0",
        "providers": PROVIDERS,
    }
    arguments.update(changes)
    return bind(**arguments)


def make_plan(*, changes: list[PlannedChange] | None = None, **overrides: Any) -> SurgeryPlan:
    import yaml

    migration = StateMigration.model_validate(yaml.safe_load(MIGRATION_TEXT))
    arguments: dict[str, Any] = {
        "migration_text": MIGRATION_TEXT,
        "binding": binding(),
        "author": AUTHOR,
        "created_at": NOW,
        "runs": [
            OperationRun(
                command=(
                    "terraform",
                    "state",
                    "mv",
                    "module.assets.aws_s3_bucket.this",
                    "module.static_assets.aws_s3_bucket.this",
                ),
                addresses_before=("module.assets.aws_s3_bucket.this",),
                addresses_after=("module.static_assets.aws_s3_bucket.this",),
            )
        ],
        "changes": changes or [],
    }
    arguments.update(overrides)
    return assemble_plan(migration, **arguments)


def test_a_plan_that_matches_is_approvable_and_offers_the_blocks() -> None:
    plan = make_plan()
    assert plan.planId.startswith("sp-") and len(plan.planId) == 19
    assert plan.stack == "staging-app" and plan.author == AUTHOR
    assert plan.migration.content == MIGRATION_TEXT
    assert plan.migration.sha256 == plan.binding.migrationSha256 == migration_sha256(MIGRATION_TEXT)
    assert plan.expectation.matches and plan.approvable and plan.resultingPlan == []
    result = plan.operations[0]
    assert (
        result.index == 1
        and result.command is not None
        and result.command[:3]
        == [
            "terraform",
            "state",
            "mv",
        ]
    )
    assert result.addressesAfter == ["module.static_assets.aws_s3_bucket.this"]
    assert result.configuration.expressible
    assert plan.configurationAlternative == result.configuration.block
    assert integrity_problems(plan) == []
    # The record round-trips through its JSON, `from` and all.
    again = SurgeryPlan.model_validate_json(plan.model_dump_json())
    assert again == plan and integrity_problems(again) == []
    assert '"from":"module.assets.aws_s3_bucket.this"' in plan.model_dump_json()


def test_a_plan_that_does_not_match_cannot_be_approved() -> None:
    plan = make_plan(
        changes=[
            change("module.static_assets.aws_s3_bucket.this", "delete"),
            change("module.assets.aws_s3_bucket.this", "create"),
        ]
    )
    assert not plan.expectation.matches and not plan.approvable
    assert [c.address for c in plan.resultingPlan] == [
        "module.assets.aws_s3_bucket.this",
        "module.static_assets.aws_s3_bucket.this",
    ]
    assert plan.expectation.differences == [
        "module.assets.aws_s3_bucket.this: expected no changes, the plan has create",
        "module.static_assets.aws_s3_bucket.this: expected no changes, the plan has delete",
    ]
    with pytest.raises(ValueError, match="not approvable"):
        SurgeryPlan.model_validate({**plan.model_dump(mode="json"), "approvable": True})


def test_the_id_binds_every_input_but_not_the_time() -> None:
    plan = make_plan()
    assert make_plan(created_at=datetime(2027, 1, 1, tzinfo=UTC)).planId == plan.planId
    different = [
        make_plan(binding=binding(state_serial=8)),
        make_plan(binding=binding(state_version_id="v-124")),
        make_plan(binding=binding(state_lineage="other")),
        make_plan(binding=binding(files_digest="e" * 64)),
        make_plan(binding=binding(terraform_version="1.15.1")),
        make_plan(binding=binding(providers={**PROVIDERS, "hashicorp/random": "3.6.0"})),
        make_plan(author="arn:aws:sts::123456789012:assumed-role/planner/bob"),
        make_plan(changes=[change("a_b.c", "update")]),
    ]
    ids = {p.planId for p in different}
    assert plan.planId not in ids and len(ids) == len(different)


def test_assembling_refuses_parts_that_do_not_belong_together() -> None:
    with pytest.raises(ValueError, match="another migration text"):
        make_plan(binding=binding(migration_text=MIGRATION_TEXT + "# edited\n"))
    with pytest.raises(ValueError, match="1 operations"):
        make_plan(runs=[])


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=10), max_size=6))
def test_the_binding_and_id_do_not_depend_on_dict_order(providers: dict[str, str]) -> None:
    reversed_order = dict(reversed(list(providers.items())))
    first, second = binding(providers=providers), binding(providers=reversed_order)
    assert first == second and first.hash == second.hash
    assert make_plan(binding=first).planId == make_plan(binding=second).planId


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (
            lambda d: d["migration"].update(content=d["migration"]["content"] + "#"),
            "migration.sha256",
        ),
        (lambda d: d["binding"].update(stateSerial=8), "binding.hash"),
        (lambda d: d["binding"].update(migrationSha256="0" * 64), "binding.migrationSha256"),
        (
            lambda d: d.update(resultingPlan=[{"address": "a_b.c", "actions": ["update"]}]),
            "expectation does not follow",
        ),
        (lambda d: d["operations"][0].update(command=["terraform", "state", "rm"]), "planId"),
        (lambda d: d.update(planId="sp-0000000000000000"), "planId sp-0000000000000000"),
    ],
)
def test_an_edited_plan_says_what_was_edited(edit: Any, says: str) -> None:
    document = make_plan().model_dump(mode="json")
    edit(document)
    problems = integrity_problems(SurgeryPlan.model_validate(document))
    assert any(says in problem for problem in problems), problems
    assert plan_content_id(make_plan()) == make_plan().planId
