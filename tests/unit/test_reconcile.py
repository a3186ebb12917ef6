"""The pure repair planner: actions, HCL blocks, the step graph, the plan's binding."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import yaml

from iacdrift.core.reconcile import hcl
from iacdrift.core.reconcile.actions import draft_steps, import_address
from iacdrift.core.reconcile.graph import Node, batches, build_graph
from iacdrift.core.reconcile.plan import estate_batches, files_digest, plan_repairs
from iacdrift.errors import DependencyCycleError, InputError
from iacdrift.models.finding import (
    Action,
    ChangedField,
    Domain,
    DriftClass,
    Evidence,
    EvidenceKind,
    Finding,
    Relationship,
    Risk,
)
from iacdrift.models.policy import IgnoreRule
from iacdrift.models.repair import ArtifactKind, RepairPlan, StepKind, StepStatus
from iacdrift.report.common import render_json
from iacdrift.report.repair import render_dot, render_markdown, render_mermaid
from tests.factories import make_finding

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STACK = "prod-app"
FILES = files_digest({"main.tf": b'resource "aws_s3_bucket" "b" {}\n'})


def _finding(
    finding_id: str,
    address: str,
    action: Action,
    *,
    stack: str | None = STACK,
    relationship: Relationship = Relationship.OUT_OF_BAND,
    drift_class: DriftClass = DriftClass.UNAUTHORIZED_RUNTIME_DRIFT,
    resource_type: str = "aws_s3_bucket",
    resource_id: str | None = "bucket-1",
    planned: tuple[str, ...] = ("update",),
    **changes: object,
) -> Finding:
    finding = make_finding(
        finding_id,
        stack=stack,
        detectedAt=NOW,
        domain=Domain.STORAGE,
        resourceRef=address,
        resourceId=resource_id,
        resourceType=resource_type,
        owner="team-app",
        relationship=relationship,
        plannedActions=list(planned),
        driftClass=drift_class,
        risk=Risk.MEDIUM,
        changedFields=[ChangedField(pointer="/tags/env", before="prod", after="hand")],
        recommendedAction=action,
    )
    return finding.model_copy(update=changes)


def _plan(findings: list[Finding], **kwargs: object) -> RepairPlan:
    options: dict[str, object] = {
        "files_digest": FILES,
        "state_lineage": "lin-1",
        "state_serial": 7,
    }
    options.update(kwargs)
    return plan_repairs(STACK, findings, **options)  # type: ignore[arg-type]


def _step(plan: RepairPlan, action: Action) -> list[str]:
    return [s.id for s in plan.steps if s.action is action]


# --- HCL ----------------------------------------------------------------------


def test_moved_block_golden() -> None:
    assert hcl.moved_block("aws_s3_bucket.old", 'module.store["eu"].aws_s3_bucket.new[0]') == (
        'moved {\n  from = aws_s3_bucket.old\n  to   = module.store["eu"].aws_s3_bucket.new[0]\n}\n'
    )


def test_removed_block_golden() -> None:
    assert hcl.removed_block("module.net.aws_security_group.this") == (
        "removed {\n"
        "  from = module.net.aws_security_group.this\n"
        "\n"
        "  lifecycle {\n"
        "    destroy = false\n"
        "  }\n"
        "}\n"
    )


def test_import_block_golden_quotes_the_id() -> None:
    assert hcl.import_block('aws_s3_bucket.b["a\\"b"]', 'id-"x"-${y}') == (
        'import {\n  to = aws_s3_bucket.b["a\\"b"]\n  id = "id-\\"x\\"-$${y}"\n}\n'
    )


@pytest.mark.parametrize(
    "address",
    [
        'aws_s3_bucket.b["plain"]',
        'module.m["$${x}"].aws_s3_bucket.b["%%{if}"]',
        'aws_s3_bucket.b["tab\\there\\nnl\\\\"]',
        "module.a[3].module.b.aws_iam_role.r",
        'aws_s3_bucket.b["caf\u00e9 $ % {"]',
    ],
)
def test_addresses_round_trip_as_terraform_writes_them(address: str) -> None:
    assert hcl.render_address(address) == address


def test_template_introducers_in_keys_are_escaped() -> None:
    steps = hcl.parse_address('aws_s3_bucket.b["$${x}"]')
    assert steps[-1].key == "${x}"
    assert hcl.hcl_string("${x} %{y} $ %") == '"$${x} %%{y} $ %"'
    assert hcl.hcl_string("\x01") == '"\\u0001"'


@pytest.mark.parametrize(
    "address", ["", "1x.b", "aws_s3_bucket.b[", 'aws_s3_bucket.b["x]', "a..b", "a.b[x]", "a.b "]
)
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError):
        hcl.render_address(address)


def test_data_sources_and_instance_removals_are_refused() -> None:
    with pytest.raises(ValueError, match="data source"):
        hcl.moved_block("data.aws_iam_policy_document.a", "aws_s3_bucket.b")
    with pytest.raises(ValueError, match="instance keys"):
        hcl.removed_block('aws_s3_bucket.b["x"]')
    assert hcl.render_address("module.data.aws_s3_bucket.b") == "module.data.aws_s3_bucket.b"


# --- actions --------------------------------------------------------------------


def test_move_pairs_destroy_and_create_from_refactor_pairs() -> None:
    old = _finding("f-old", "aws_s3_bucket.old", Action.MOVE, planned=("delete",))
    new = _finding("f-new", "aws_s3_bucket.new", Action.MOVE, planned=("create",))
    pairs = {"aws_s3_bucket.old": "aws_s3_bucket.new", "aws_s3_bucket.new": "aws_s3_bucket.old"}
    [draft] = draft_steps([new, old], refactor_pairs=pairs)
    assert draft.action is Action.MOVE and draft.status is StepStatus.READY
    assert draft.finding_ids == ("f-new", "f-old")
    assert draft.artifact is not None
    assert draft.artifact.text == hcl.moved_block("aws_s3_bucket.old", "aws_s3_bucket.new")


def test_move_pairs_from_mutual_plan_evidence() -> None:
    def evidence(ref: str) -> list[Evidence]:
        return [Evidence(kind=EvidenceKind.PLAN, ref=ref, detail="same identity")]

    old = _finding(
        "f-old",
        "module.a.aws_s3_bucket.x",
        Action.MOVE,
        planned=("delete",),
        evidence=evidence("module.b.aws_s3_bucket.x"),
    )
    new = _finding(
        "f-new",
        "module.b.aws_s3_bucket.x",
        Action.MOVE,
        planned=("create",),
        evidence=evidence("module.a.aws_s3_bucket.x"),
    )
    [draft] = draft_steps([old, new])
    assert draft.artifact is not None
    assert "from = module.a.aws_s3_bucket.x" in draft.artifact.text
    assert "to   = module.b.aws_s3_bucket.x" in draft.artifact.text


def test_move_without_counterpart_is_refused() -> None:
    [draft] = draft_steps([_finding("f", "aws_s3_bucket.a", Action.MOVE, planned=("delete",))])
    assert draft.status is StepStatus.REFUSED and not draft.mutates
    assert draft.why is not None and "pair" in draft.why


def test_import_of_forgotten_and_unmanaged_objects() -> None:
    forgotten = _finding("f1", "aws_s3_bucket.b", Action.IMPORT, resource_id="logs")
    unmanaged = _finding(
        "f2",
        "aws_s3_bucket:9-raw.bucket",
        Action.IMPORT,
        stack=None,
        relationship=Relationship.UNMANAGED,
        resource_id="9-raw.bucket",
    )
    one, two = draft_steps([forgotten, unmanaged])
    assert one.status is StepStatus.READY and one.artifact is not None
    assert one.artifact.text == 'import {\n  to = aws_s3_bucket.b\n  id = "logs"\n}\n'
    assert two.status is StepStatus.NEEDS_CODE_CHANGE
    assert two.addresses == ("aws_s3_bucket.r_9-raw_bucket",)
    assert import_address("aws_s3_bucket", "my-bucket") == "aws_s3_bucket.my-bucket"
    [missing] = draft_steps([_finding("f3", "aws_s3_bucket.c", Action.IMPORT, resource_id=None)])
    assert missing.status is StepStatus.REFUSED


def test_refresh_only_when_the_runtime_value_is_accepted() -> None:
    [refused] = draft_steps([_finding("f1", "aws_s3_bucket.b", Action.REFRESH)])
    assert refused.status is StepStatus.REFUSED
    [ok] = draft_steps([_finding("f1", "aws_s3_bucket.b", Action.REFRESH, changeRecords=["CHG-1"])])
    assert ok.status is StepStatus.READY and ok.artifact is not None
    assert ok.artifact.kind is ArtifactKind.REFRESH_ONLY_APPLY
    assert ok.artifact.text == "-target=aws_s3_bucket.b\n"


def test_incident_and_investigate_never_mutate_without_a_person() -> None:
    incident, investigate = draft_steps(
        [
            _finding("f1", "aws_security_group.ssh", Action.INCIDENT_AND_REVERT),
            _finding("f2", "aws_iam_role.r", Action.INVESTIGATE),
        ]
    )
    assert incident.status is StepStatus.NEEDS_PERSON
    assert investigate.status is StepStatus.NEEDS_PERSON and not investigate.mutates
    assert investigate.artifact is None


def test_ignore_drafts_a_valid_owned_expiring_rule() -> None:
    finding = _finding("abcdef1234", 'aws_s3_bucket.b["x"]', Action.IGNORE)
    [draft] = draft_steps([finding], today=date(2026, 3, 1))
    assert draft.status is StepStatus.DRAFT and not draft.mutates
    assert draft.artifact is not None and draft.artifact.kind is ArtifactKind.IGNORE_RULE
    rule = IgnoreRule.model_validate(yaml.safe_load(draft.artifact.text))
    assert rule.expires == date(2026, 3, 31)
    assert rule.owner == "team-app" and rule.paths == ["/tags/env"]
    assert rule.match.address == 'aws_s3_bucket.b["x"]' and rule.match.stack == STACK
    assert rule.reason.startswith("DRAFT")


def test_apply_findings_are_one_stack_apply_and_update_code_lists_values() -> None:
    drafts = draft_steps(
        [
            _finding("f1", "aws_s3_bucket.a", Action.APPLY),
            _finding("f2", "aws_s3_bucket.b", Action.APPLY),
            _finding("f3", "aws_s3_bucket.c", Action.UPDATE_CODE),
        ]
    )
    apply, update = drafts
    assert apply.action is Action.APPLY and apply.finding_ids == ("f1", "f2")
    assert update.status is StepStatus.NEEDS_CODE_CHANGE and update.artifact is not None
    assert update.artifact.text == '/tags/env = "hand"\n'


# --- graph ----------------------------------------------------------------------


def test_precedence_moves_imports_removals_refresh_revert_verify() -> None:
    findings = [
        _finding("f-rev", "aws_s3_bucket.r", Action.REVERT),
        _finding("f-ref", "aws_s3_bucket.f", Action.REFRESH, changeRecords=["CHG-1"]),
        _finding("f-rm", "aws_s3_bucket.gone", Action.REMOVE_FROM_STATE),
        _finding("f-imp", "aws_s3_bucket.i", Action.IMPORT),
        _finding("f-old", "aws_s3_bucket.old", Action.MOVE, planned=("delete",)),
    ]
    pairs = {"aws_s3_bucket.old": "aws_s3_bucket.new"}
    plan = _plan(findings, refactor_pairs=pairs)
    order = [s.action for s in plan.steps]
    assert order == [
        Action.MOVE,
        Action.IMPORT,
        Action.REMOVE_FROM_STATE,
        Action.REFRESH,
        Action.REVERT,
        None,
    ]
    assert plan.steps[-1].kind is StepKind.VERIFY
    assert plan.steps[-1].findingIds == ["f-imp", "f-old", "f-ref", "f-rev", "f-rm"]
    assert [len(b) for b in plan.batches] == [1, 1, 1, 1, 1, 1]
    for step in plan.steps[1:]:
        assert len(step.dependsOn) == 1 and step.batch == plan.steps[step.batch - 1].batch + 1


def test_dependents_come_after_their_dependencies_within_a_phase() -> None:
    findings = [
        _finding("f-app", "aws_instance.app", Action.REVERT),
        _finding("f-sg", "aws_security_group.web", Action.REVERT),
        _finding("f-bucket", "aws_s3_bucket.logs", Action.REVERT),
    ]
    # app depends on sg through a resource that has no step (an eni).
    deps = {
        "aws_instance.app": ["aws_network_interface.eni"],
        "aws_network_interface.eni": ["aws_security_group.web"],
    }
    plan = _plan(findings, dependencies=deps)
    by_address = {s.addresses[0]: s for s in plan.steps if s.addresses}
    sg, app, bucket = (
        by_address["aws_security_group.web"],
        by_address["aws_instance.app"],
        by_address["aws_s3_bucket.logs"],
    )
    assert sg.id in app.dependsOn and sg.batch < app.batch
    assert bucket.batch == sg.batch == 0 and bucket.dependsOn == []
    assert plan.batches[0] == sorted([sg.id, bucket.id])


def test_instance_addresses_match_dependencies_without_keys() -> None:
    findings = [
        _finding("f-a", 'aws_instance.app["blue"]', Action.REVERT),
        _finding("f-b", "module.net[0].aws_security_group.web", Action.REVERT),
    ]
    plan = _plan(findings, dependencies={"aws_instance.app": ["module.net.aws_security_group.web"]})
    first, second = plan.batches[0], plan.batches[1]
    assert [s.addresses for s in plan.steps if s.id in first] == [
        ["module.net[0].aws_security_group.web"]
    ]
    assert [s.addresses for s in plan.steps if s.id in second] == [['aws_instance.app["blue"]']]


def test_a_cycle_is_refused_naming_its_members() -> None:
    findings = [
        _finding("f-a", "aws_s3_bucket.a", Action.REVERT),
        _finding("f-b", "aws_s3_bucket.b", Action.REVERT),
    ]
    deps = {"aws_s3_bucket.a": ["aws_s3_bucket.b"], "aws_s3_bucket.b": ["aws_s3_bucket.a"]}
    with pytest.raises(DependencyCycleError) as caught:
        _plan(findings, dependencies=deps)
    assert isinstance(caught.value, InputError)
    assert len(caught.value.members) == 2
    assert "aws_s3_bucket.a" in str(caught.value) and "aws_s3_bucket.b" in str(caught.value)
    assert all(member in str(caught.value) for member in caught.value.members)


def test_non_mutating_steps_are_not_ordered() -> None:
    plan = _plan(
        [
            _finding("f1", "aws_iam_role.r", Action.INVESTIGATE),
            _finding("f2", "aws_s3_bucket.b", Action.IGNORE),
        ]
    )
    assert all(s.batch == 0 and not s.dependsOn for s in plan.steps)
    assert not any(s.kind is StepKind.VERIFY for s in plan.steps)
    assert len(plan.batches) == 1


def test_cross_stack_reads_order_stacks_and_refuse_cycles() -> None:
    net = plan_repairs(
        "prod-net",
        [_finding("n1", "aws_vpc.main", Action.REVERT, stack="prod-net")],
        files_digest=FILES,
        state_lineage="l",
        state_serial=1,
    )
    app = _plan([_finding("a1", "aws_instance.app", Action.REVERT)])
    order = estate_batches([app, net], reads={STACK: ["prod-net"]})
    flat = [step for batch in order for step in batch]
    net_verify = net.steps[-1].id
    assert flat.index(net_verify) < flat.index(app.steps[0].id)
    with pytest.raises(DependencyCycleError):
        estate_batches([app, net], reads={STACK: ["prod-net"], "prod-net": [STACK]})


def test_build_graph_batches_sorted_by_phase_stack_id() -> None:
    nodes = [Node("b", "s", 4, True), Node("a", "s", 4, True), Node("x", "s", 5, False)]
    assert batches(build_graph(nodes)) == [["a", "b", "x"]]


# --- plan -------------------------------------------------------------------------


def _mixed() -> list[Finding]:
    return [
        _finding("f3", "aws_s3_bucket.r", Action.REVERT),
        _finding("f1", "aws_s3_bucket.i", Action.IMPORT),
        _finding("f2", "aws_iam_role.x", Action.INVESTIGATE),
        _finding("f4", 'aws_s3_bucket.q["a|b`c"]', Action.IGNORE),
    ]


def test_same_inputs_give_byte_identical_plans() -> None:
    one = _plan(_mixed(), today=date(2026, 3, 1))
    two = _plan(list(reversed(_mixed())), today=date(2026, 3, 1))
    assert render_json(one) == render_json(two)
    assert one.planId == two.planId and one.planId.startswith("rp-")
    later = [
        f.model_copy(update={"detectedAt": datetime(2026, 3, 2, tzinfo=UTC)}) for f in _mixed()
    ]
    assert _plan(later, today=date(2026, 3, 1)).binding == one.binding


@pytest.mark.parametrize(
    "change",
    [
        {"state_lineage": "lin-2"},
        {"state_serial": 8},
        {"files_digest": files_digest({"main.tf": b"# edited\n"})},
    ],
)
def test_binding_changes_with_lineage_serial_and_files(change: dict[str, object]) -> None:
    base = _plan(_mixed())
    changed = _plan(_mixed(), **change)
    assert changed.binding.hash != base.binding.hash
    assert changed.planId != base.planId
    assert [s.id for s in changed.steps] == [s.id for s in base.steps]


def test_binding_changes_with_the_findings() -> None:
    base = _plan(_mixed())
    other = _mixed()
    other[0] = other[0].model_copy(update={"changedFields": []})
    assert _plan(other).binding.findingsDigest != base.binding.findingsDigest


def test_findings_of_another_stack_are_refused() -> None:
    with pytest.raises(ValueError, match="another stack"):
        _plan([_finding("f", "aws_s3_bucket.a", Action.REVERT, stack="other")])


def test_plan_round_trips_through_its_model() -> None:
    plan = _plan(_mixed())
    assert RepairPlan.model_validate_json(render_json(plan)) == plan


# --- report -----------------------------------------------------------------------


def test_markdown_renders_values_literally_and_embeds_mermaid() -> None:
    plan = _plan(_mixed())
    text = render_markdown(plan)
    assert '``aws_s3_bucket.q["a\\|b`c"]``' in text  # code span, pipe escaped in a table
    assert "```mermaid\nflowchart TD\n" in text
    mermaid = render_mermaid([plan])
    assert mermaid.endswith("  n0 --> n3\n  n3 --> n4\n")
    assert 'n1["ignore-' in mermaid and "aws_s3_bucket" not in mermaid
    assert "import {" in text and "-target=aws_s3_bucket.r" in text
    dot = render_dot([plan])
    assert dot.startswith("digraph repair {") and " -> " in dot
    assert render_markdown(plan) == text


def test_the_stack_apply_follows_targeted_reverts_without_a_false_cycle() -> None:
    findings = [
        _finding("f-a", "aws_s3_bucket.a", Action.APPLY),
        _finding("f-c", "aws_s3_bucket.c", Action.APPLY),
        _finding("f-b", "aws_s3_bucket.b", Action.REVERT),
    ]
    deps = {"aws_s3_bucket.b": ["aws_s3_bucket.a"], "aws_s3_bucket.c": ["aws_s3_bucket.b"]}
    plan = _plan(findings, dependencies=deps)
    assert [s.action for s in plan.steps] == [Action.REVERT, Action.APPLY, None]


def test_a_step_on_a_module_precedes_steps_inside_it() -> None:
    """Rule 3 of the graph: module nesting within a phase."""
    nodes = [
        Node("whole", "s", 0, True, addresses=("module.old", "module.new")),
        Node("inside", "s", 0, True, addresses=('module.new["a"].aws_s3_bucket.b',)),
        Node("deeper", "s", 0, True, addresses=("module.new.module.c.aws_s3_bucket.d",)),
        Node("elsewhere", "s", 0, True, addresses=("module.newer.aws_s3_bucket.e",)),
        Node("keyed", "s", 0, True, addresses=('module.k["x"]',)),
        Node("other-key", "s", 0, True, addresses=('module.k["y"].aws_s3_bucket.f',)),
    ]
    graph = build_graph(nodes)
    assert sorted(graph.edges) == [("whole", "deeper"), ("whole", "inside")]
    assert batches(graph) == [["elsewhere", "keyed", "other-key", "whole"], ["deeper", "inside"]]
